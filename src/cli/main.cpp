// mobikectl: control mobiked over its unix socket.
// Exit codes: 0 ok, 1 the command failed, 2 usage error, 3 daemon not reachable.
#include <CLI/CLI.hpp>
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

enum Exit { kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3 };

struct Options {
    std::string socket = "/run/mobiked/control.sock";
    bool raw_json = false;
    std::string conn, child, dir, local, remote;
    double timeout = 10;
    std::uint64_t ike_id = 0;
};

using Renderer = std::function<std::string(const json&)>;

int run(const Options& o, const json& request, const Renderer& render, double wait_s = 5) {
    auto timeout = std::chrono::milliseconds(static_cast<long long>(wait_s * 1000));
    Reply r = call_daemon(o.socket, request.dump(), timeout);
    if (r.error == ClientError::unreachable) {
        std::fprintf(stderr, "mobikectl: cannot reach mobiked: %s (is mobiked running? socket %s)\n", r.message.c_str(),
                     o.socket.c_str());
        return kUnreachable;
    }
    if (r.error != ClientError::none) {
        std::fprintf(stderr, "mobikectl: %s\n", r.message.c_str());
        return kFailed;
    }
    json j = json::parse(r.line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        std::fprintf(stderr, "mobikectl: unexpected reply from mobiked (socket %s)\n", o.socket.c_str());
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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mobikectl - control the mobiked IKEv2 daemon"};
    app.require_subcommand(1);
    app.fallthrough();  // global options may follow the subcommand
    Options o;
    if (const char* env = std::getenv("MOBIKED_SOCKET"); env && *env) o.socket = env;
    app.add_option("--socket", o.socket, "control socket (default /run/mobiked/control.sock, env MOBIKED_SOCKET)");
    app.add_flag("--json", o.raw_json, "print the daemon's JSON reply");

    auto* status = app.add_subcommand("status", "daemon status and counters");
    auto* conns = app.add_subcommand("list-conns", "list loaded connections");
    auto* sas = app.add_subcommand("list-sas", "list IKE SAs and CHILD_SAs");
    auto* init = app.add_subcommand("initiate", "establish a connection and wait for it");
    init->add_option("--conn", o.conn, "connection name")->required();
    init->add_option("--child", o.child, "only this CHILD_SA");
    init->add_option("--timeout", o.timeout, "seconds to wait (default 10)")->check(CLI::Range(0.1, 600.0));
    auto* term = app.add_subcommand("terminate", "delete IKE SAs");
    auto* term_id = term->add_option("--ike-id", o.ike_id, "IKE SA id (see list-sas)");
    auto* term_conn = term->add_option("--conn", o.conn, "every IKE SA of this connection");
    term_id->excludes(term_conn);
    auto* move = app.add_subcommand("move", "MOBIKE: move an IKE SA we initiated to another local address");
    move->add_option("--ike-id", o.ike_id, "IKE SA id (see list-sas)")->required();
    move->add_option("--local", o.local, "new local address")->required();
    move->add_option("--remote", o.remote, "new peer address (default: the current one)");
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
    if (move->parsed()) {
        json r{{"cmd", "move"}, {"ike_id", o.ike_id}, {"local", o.local}};
        if (!o.remote.empty()) r["remote"] = o.remote;
        return run(o, r, render_move);
    }
    if (load->parsed()) return run(o, {{"cmd", "load"}}, render_loaded);
    if (exp->parsed()) {
        // The daemon writes the file, possibly with another working directory.
        std::string dir = std::filesystem::absolute(o.dir).lexically_normal().string();
        return run(o, {{"cmd", "export-keys"}, {"dir", dir}}, render_exported);
    }
    return kUsage;
}
