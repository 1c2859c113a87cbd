// spdlog loggers per subsystem ("ike", "cfg", "net", "ctl", "dmn"), with
// levels from the config file. Key material is never passed to a logger: the
// engine's messages are key-free by contract and the daemon logs only SPIs.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "ike/engine.hpp"

namespace mobiked::daemon {

struct LogOptions {
    bool to_syslog = false;
    std::string override_level;  // applies to every subsystem when set
};

// Creates the loggers; safe to call again on reload (levels are updated).
void setup_logging(const std::map<std::string, std::string>& levels, const LogOptions& opts);
// New per-subsystem levels from a reloaded config; keeps the override.
void set_log_levels(const std::map<std::string, std::string>& levels);
spdlog::logger& log(std::string_view subsystem);
ike::LogSink engine_log_sink();

}  // namespace mobiked::daemon
