// mobiked: the IKEv2/MOBIKE daemon. See docs/config.md.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "daemon/config_file.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"

using namespace mobiked::daemon;

namespace {

constexpr const char* kFooter =
    "Exit codes: 0 ok (or --check-config found no error), 1 configuration error or the daemon\n"
    "could not start (see the message or the log), 2 usage error.\n"
    "\n"
    "Logging subsystems (daemon.log in the config, or --log-level for all): ike (IKE exchanges),\n"
    "cfg (configuration), net (sockets, addresses, MOBIKE paths), ctl (control socket),\n"
    "dmn (daemon, SA installation), dp (data plane); levels debug, info, warning, error, off.\n"
    "See mobiked(8), docs/config.md and mobikectl --help.";

// Every problem as FILE:LINE: message (the parser goes on after each), then a summary.
int check_config(const std::string& path) {
    auto creds = make_file_credential_loader();
    auto r = parse_config_file(path, *creds);
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.c_str());
    if (!r.ok()) {
        std::fprintf(stderr, "%s: %zu error%s, configuration not usable\n", path.c_str(), r.errors.size(),
                     r.errors.size() == 1 ? "" : "s");
        return 1;
    }
    std::printf("%s: OK: %zu connections, %zu secrets, %zu pools%s%s\n", path.c_str(), r.config.ike.connections.size(),
                r.config.ike.secrets.size(), r.config.ike.pools.size(),
                r.config.daemon.metrics.empty() ? "" : ", metrics on ", r.config.daemon.metrics.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mobiked - IKEv2/IPsec daemon with MOBIKE"};
    app.footer(kFooter);
    std::string config_path, check_path, socket_override, log_level;
    bool foreground = false;
    app.add_option("-c,--config", config_path, "configuration file")->check(CLI::ExistingFile);
    app.add_option("--check-config", check_path, "check FILE (syntax, settings, credential files), print every error as FILE:LINE: message and exit");
    app.add_option("--control-socket", socket_override, "control socket path (overrides the config)");
    app.add_flag("--foreground", foreground, "stay in the foreground and log to stderr");
    app.add_option("--log-level", log_level, "level for every subsystem")
        ->check(CLI::IsMember({"debug", "info", "warning", "error", "off"}));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    if (!check_path.empty()) return check_config(check_path);

    LoadedConfig config;
    auto creds = make_file_credential_loader();
    if (!config_path.empty()) {
        auto r = parse_config_file(config_path, *creds);
        for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.c_str());
        if (!r.ok()) return 1;
        config = std::move(r.config);
    }
    if (!socket_override.empty()) config.daemon.control_socket = socket_override;
    setup_logging(config.daemon.log_levels, LogOptions{!foreground, log_level});

    // Detach before binding so the sockets and epoll belong to the daemon process.
    if (!foreground && ::daemon(0, 0) != 0) {
        std::perror("daemon");
        return 1;
    }
    Daemon d(config_path, std::move(config), std::move(creds));
    if (auto st = d.init(); !st) {
        log("dmn").critical("{}", st.error());
        if (foreground) std::fprintf(stderr, "mobiked: %s\n", st.error().c_str());
        return 1;
    }
    return d.run();
}
