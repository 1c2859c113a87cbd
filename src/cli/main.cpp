// mobikectl: control mobiked over its unix socket.
// Exit codes: 0 ok, 1 the command failed, 2 usage error, 3 daemon not
// reachable, 4 monitor: --timeout passed before --count events.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "cli/client.hpp"
#include "cli/render.hpp"

using nlohmann::json;
using namespace mobiked::cli;

namespace {

enum Exit { kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3, kTimedOut = 4 };

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  success\n"
    "  1  the command failed (mobiked's message says why), or an unexpected reply\n"
    "  2  usage error\n"
    "  3  mobiked not reachable: not running, another --socket, or no permission (run as root)\n"
    "  4  monitor: --timeout passed before --count events arrived\n"
    "\n"
    "Every listing takes --json (before or after the command): the daemon's reply as JSON;\n"
    "monitor --json prints one JSON object per event and line.";

struct Options {
    std::string socket = "/run/mobiked/control.sock";
    bool raw_json = false;
    std::string conn, child, dir, local, remote;
    double timeout = 10;
    std::uint64_t ike_id = 0;
    std::uint32_t child_id = 0;
    std::uint64_t count = 0;
    double monitor_timeout = 0;
};

using Renderer = std::function<std::string(const json&)>;

int unreachable(const Options& o, const Reply& r) {
    std::fprintf(stderr, "mobikectl: cannot reach mobiked at %s: %s\n", o.socket.c_str(), r.message.c_str());
    if (r.sys_errno == EACCES || r.sys_errno == EPERM) {
        std::fprintf(stderr, "  The control socket is for root only: run mobikectl as root (sudo mobikectl ...).\n");
    } else {
        std::fprintf(stderr,
                     "  Is mobiked running? Start it with `systemctl start mobiked` or\n"
                     "  `mobiked -c /etc/mobiked/mobiked.conf` (check its log: `journalctl -u mobiked`).\n"
                     "  If it uses another control socket, pass --socket PATH or set MOBIKED_SOCKET.\n");
    }
    return kUnreachable;
}

int run(const Options& o, const json& request, const Renderer& render, double wait_s = 5) {
    auto timeout = std::chrono::milliseconds(static_cast<long long>(wait_s * 1000));
    Reply r = call_daemon(o.socket, request.dump(), timeout);
    if (r.error == ClientError::unreachable) return unreachable(o, r);
    if (r.error != ClientError::none) {
        std::fprintf(stderr, "mobikectl: %s (socket %s)\n", r.message.c_str(), o.socket.c_str());
        return kFailed;
    }
    json j = json::parse(r.line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        std::fprintf(stderr, "mobikectl: unexpected reply from mobiked (socket %s); is that mobiked's socket?\n",
                     o.socket.c_str());
        return kFailed;
    }
    bool ok = j.value("ok", false);
    if (o.raw_json) {
        std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
        return ok ? kOk : kFailed;
    }
    if (!ok) {
        std::fprintf(stderr, "mobikectl: %s\n", j.value("error", std::string("command failed")).c_str());
        if (auto it = j.find("errors"); it != j.end() && it->is_array())
            for (const auto& e : *it) std::fprintf(stderr, "  %s\n", e.is_string() ? e.get<std::string>().c_str() : e.dump().c_str());
        return kFailed;
    }
    try {
        std::fputs(render(j).c_str(), stdout);
    } catch (const json::exception& e) {
        std::fprintf(stderr, "mobikectl: malformed reply (%s); try --json\n", e.what());
        return kFailed;
    }
    return kOk;
}

json initiate_request(const Options& o) {
    json r{{"cmd", "initiate"}, {"conn", o.conn}, {"timeout", o.timeout}};
    if (!o.child.empty()) r["child"] = o.child;
    return r;
}

volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

// monitor: subscribe, then print events until Ctrl-C, --count or --timeout.
int monitor(const Options& o) {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    Stream s;
    if (Reply r = s.open(o.socket, json{{"cmd", "monitor"}}.dump()); r.error != ClientError::none)
        return unreachable(o, r);
    using Clock = std::chrono::steady_clock;
    const auto until = o.monitor_timeout > 0
                           ? std::optional<Clock::time_point>(Clock::now() + std::chrono::milliseconds(static_cast<long long>(
                                                                                 o.monitor_timeout * 1000)))
                           : std::nullopt;
    bool acknowledged = false;
    std::uint64_t seen = 0;
    std::string line;
    while (!g_stop) {
        auto slice = std::chrono::milliseconds(200);
        if (until) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*until - Clock::now());
            if (left.count() <= 0) break;
            slice = std::min(slice, left);
        }
        switch (s.next(line, slice)) {
            case Stream::Read::timeout: continue;
            case Stream::Read::closed:
                std::fprintf(stderr, "mobikectl: mobiked closed the monitor connection (daemon stopped?)\n");
                return kFailed;
            case Stream::Read::too_large: std::fprintf(stderr, "mobikectl: event line too large\n"); return kFailed;
            case Stream::Read::line: break;
        }
        json j = json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            std::fprintf(stderr, "mobikectl: unexpected line from mobiked\n");
            return kFailed;
        }
        if (!acknowledged) {
            if (!j.value("ok", false)) {
                std::fprintf(stderr, "mobikectl: %s\n", j.value("error", std::string("monitor refused")).c_str());
                return kFailed;
            }
            acknowledged = true;
            if (!o.raw_json)
                std::fprintf(stderr, "monitoring mobiked events (Ctrl-C to stop)\n");
            continue;
        }
        if (o.raw_json) std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
        else {
            try {
                std::fputs(render_event(j).c_str(), stdout);
            } catch (const json::exception&) {
                std::printf("%s\n", line.c_str());
            }
        }
        std::fflush(stdout);
        if (o.count && ++seen >= o.count) return kOk;
    }
    if (g_stop) return kOk;
    if (o.count) {
        std::fprintf(stderr, "mobikectl: %llu of %llu events within %.1f s\n", static_cast<unsigned long long>(seen),
                     static_cast<unsigned long long>(o.count), o.monitor_timeout);
        return kTimedOut;
    }
    return kOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mobikectl - control the mobiked IKEv2 daemon"};
    app.require_subcommand(1);
    app.fallthrough();  // global options may follow the subcommand
    app.footer(kExitCodes);
    Options o;
    if (const char* env = std::getenv("MOBIKED_SOCKET"); env && *env) o.socket = env;
    app.add_option("--socket", o.socket, "control socket (default /run/mobiked/control.sock, env MOBIKED_SOCKET)");
    app.add_flag("--json", o.raw_json, "print the daemon's JSON reply (monitor: one JSON object per line)");

    auto* status = app.add_subcommand("status", "daemon status, counters and metrics");
    auto* conns = app.add_subcommand("list-conns", "list loaded connections");
    auto* sas = app.add_subcommand("list-sas", "list IKE SAs and CHILD_SAs: paths, algorithms, lifetimes, counters, moves");
    auto* init = app.add_subcommand("initiate", "establish a connection and wait for it");
    init->add_option("--conn", o.conn, "connection name")->required();
    init->add_option("--child", o.child, "only this CHILD_SA");
    init->add_option("--timeout", o.timeout, "seconds to wait (default 10)")->check(CLI::Range(0.1, 600.0));
    auto* term = app.add_subcommand("terminate", "delete IKE SAs");
    auto* term_id = term->add_option("--ike-id", o.ike_id, "IKE SA id (see list-sas)");
    auto* term_conn = term->add_option("--conn", o.conn, "every IKE SA of this connection");
    term_id->excludes(term_conn);
    auto* rekey = app.add_subcommand("rekey", "rekey an IKE SA, or one of its CHILD_SAs with --child-id");
    rekey->add_option("--ike-id", o.ike_id, "IKE SA id (see list-sas)")->required();
    auto* rekey_child = rekey->add_option("--child-id", o.child_id, "CHILD_SA id (the #N of a child in list-sas)");
    auto* move = app.add_subcommand("move", "MOBIKE: move an IKE SA we initiated to another local address");
    move->add_option("--ike-id", o.ike_id, "IKE SA id (see list-sas)")->required();
    move->add_option("--local", o.local, "new local address")->required();
    move->add_option("--remote", o.remote, "new peer address (default: the current one)");
    auto* mon = app.add_subcommand("monitor", "print events as they happen (establish, rekey, move, delete, errors)");
    mon->add_option("--count", o.count, "stop after N events");
    mon->add_option("--timeout", o.monitor_timeout, "stop after S seconds (exit 4 if --count was not reached)")
        ->check(CLI::Range(0.0, 86400.0));
    auto* load = app.add_subcommand("load", "re-read the configuration file");
    auto* exp = app.add_subcommand("export-keys", "write ESP keys for Wireshark");
    exp->add_option("--wireshark", o.dir, "directory for the esp_sa file")->required();

    try {
        app.parse(argc, argv);
        if (term->parsed() && !term_id->count() && !term_conn->count())
            throw CLI::ValidationError("terminate", "needs --ike-id N or --conn NAME");
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? kOk : kUsage;
    }

    if (status->parsed()) return run(o, {{"cmd", "status"}}, render_status);
    if (conns->parsed()) return run(o, {{"cmd", "list-conns"}}, render_conns);
    if (sas->parsed()) return run(o, {{"cmd", "list-sas"}}, render_sas);
    if (init->parsed())
        return run(o, initiate_request(o), [](const json& j) { return render_ike_sa(j.at("ike_sa")); }, o.timeout + 2);
    if (term->parsed()) {
        json r{{"cmd", "terminate"}};
        if (term_id->count()) r["ike_id"] = o.ike_id;
        else r["conn"] = o.conn;
        return run(o, r, render_terminated);
    }
    if (rekey->parsed()) {
        json r{{"cmd", "rekey"}, {"ike_id", o.ike_id}};
        if (rekey_child->count()) r["child_id"] = o.child_id;
        return run(o, r, render_rekey);
    }
    if (move->parsed()) {
        json r{{"cmd", "move"}, {"ike_id", o.ike_id}, {"local", o.local}};
        if (!o.remote.empty()) r["remote"] = o.remote;
        return run(o, r, render_move);
    }
    if (mon->parsed()) return monitor(o);
    if (load->parsed()) return run(o, {{"cmd", "load"}}, render_loaded);
    if (exp->parsed()) {
        // The daemon writes the file, possibly with another working directory.
        std::string dir = std::filesystem::absolute(o.dir).lexically_normal().string();
        return run(o, {{"cmd", "export-keys"}, {"dir", dir}}, render_exported);
    }
    return kUsage;
}
