#include "daemon/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>


namespace mobiked::daemon {

namespace {

struct State {
    spdlog::sink_ptr sink;
    std::map<std::string, std::string, std::less<>> levels{{"default", "info"}};
    std::string override_level;
    std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
};

State& state() {
    static State s;
    return s;
}

spdlog::level::level_enum level_of(std::string_view name) {
    if (name == "debug") return spdlog::level::debug;
    if (name == "warning") return spdlog::level::warn;
    if (name == "error") return spdlog::level::err;
    if (name == "off") return spdlog::level::off;
    return spdlog::level::info;
}

void apply_level(spdlog::logger& l) {
    auto& s = state();
    std::string_view lvl = s.override_level;
    if (lvl.empty()) {
        auto it = s.levels.find(l.name());
        lvl = it != s.levels.end() ? it->second : s.levels["default"];
    }
    l.set_level(level_of(lvl));
}

}  // namespace

void setup_logging(const std::map<std::string, std::string>& levels, const LogOptions& opts) {
    auto& s = state();
    if (!s.sink) {
        if (opts.to_syslog) s.sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("mobiked", 0, LOG_DAEMON, false);
        else s.sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    }
    s.levels = {levels.begin(), levels.end()};
    if (!s.levels.count("default")) s.levels["default"] = "info";
    s.override_level = opts.override_level;
    for (auto& [name, l] : s.loggers) apply_level(*l);
}

void set_log_levels(const std::map<std::string, std::string>& levels) {
    auto& s = state();
    s.levels = {levels.begin(), levels.end()};
    if (!s.levels.count("default")) s.levels["default"] = "info";
    for (auto& [name, l] : s.loggers) apply_level(*l);
}

spdlog::logger& log(std::string_view subsystem) {
    auto& s = state();
    auto it = s.loggers.find(subsystem);
    if (it != s.loggers.end()) return *it->second;
    if (!s.sink) s.sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    // Subsystem names come from our code and the engine: a handful, bounded.
    auto l = std::make_shared<spdlog::logger>(std::string(subsystem), s.sink);
    l->set_pattern("%Y-%m-%d %H:%M:%S.%e %-3n %^%L%$ %v");
    apply_level(*l);
    return *s.loggers.emplace(std::string(subsystem), l).first->second;
}

ike::LogSink engine_log_sink() {
    return [](ike::LogLevel level, std::string_view subsystem, const std::string& msg) {
        auto& l = log(subsystem.empty() ? std::string_view("ike") : subsystem);
        switch (level) {
            case ike::LogLevel::debug: l.debug("{}", msg); break;
            case ike::LogLevel::info: l.info("{}", msg); break;
            case ike::LogLevel::warning: l.warn("{}", msg); break;
            case ike::LogLevel::error: l.error("{}", msg); break;
        }
    };
}

}  // namespace mobiked::daemon
