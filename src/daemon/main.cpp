// mobiked: the IKEv2/MOBIKE daemon. See docs/config.md.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "daemon/config_file.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"

using namespace mobiked::daemon;

namespace {

int check_config(const std::string& path) {
    auto creds = make_file_credential_loader();
    auto r = parse_config_file(path, *creds);
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.c_str());
    if (!r.ok()) return 1;
    std::printf("OK: %zu connections\n", r.config.ike.connections.size());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mobiked - IKEv2/IPsec daemon with MOBIKE"};
    std::string config_path, check_path, socket_override, log_level;
    bool foreground = false;
    app.add_option("-c,--config", config_path, "configuration file")->check(CLI::ExistingFile);
    app.add_option("--check-config", check_path, "check FILE, print every error and exit");
    app.add_option("--control-socket", socket_override, "control socket path (overrides the config)");
    app.add_flag("--foreground", foreground, "stay in the foreground and log to stderr");
    app.add_option("--log-level", log_level, "level for every subsystem")
        ->check(CLI::IsMember({"debug", "info", "warning", "error", "off"}));
    CLI11_PARSE(app, argc, argv);

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
