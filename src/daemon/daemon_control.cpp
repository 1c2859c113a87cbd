// The daemon's side of the control protocol: requests to engine calls.
#include <algorithm>

#include "daemon/control_server.hpp"
#include "daemon/daemon.hpp"
#include "daemon/esp_export.hpp"
#include "daemon/log.hpp"

namespace mobiked::daemon {

void Daemon::on_request(std::uint64_t client, std::string_view line) {
    auto req = parse_control_request(line);
    if (!req) {
        log("ctl").debug("bad control request: {}", req.error());
        return control_->reply(client, response_error(req.error()));
    }
    Time now = monotonic_now();
    switch (req->cmd) {
        case ControlCommand::status: return control_->reply(client, response_status(status()));
        case ControlCommand::list_conns: return control_->reply(client, response_conns(engine_->config()));
        case ControlCommand::list_sas:
            return control_->reply(client, response_sas(engine_->list_sas(), now, child_traffic(), paths_.all()));
        case ControlCommand::initiate: return cmd_initiate(client, *req);
        case ControlCommand::terminate: return cmd_terminate(client, *req);
        case ControlCommand::load: return cmd_load(client);
        case ControlCommand::export_keys: return cmd_export(client, *req);
        case ControlCommand::move: return cmd_move(client, *req);
    }
}

// The reply waits for the engine's ike_established / ike_failed event (or
// the request's timeout); the loop keeps serving everything else meanwhile.
void Daemon::cmd_initiate(std::uint64_t client, const ControlRequest& r) {
    auto id = initiate(r.conn, r.child);
    if (!id) return control_->reply(client, response_error(id.error()));
    log("ctl").info("initiating {} (IKE SA {})", r.conn, *id);
    pending_[*id] = Pending{client, monotonic_now() + r.timeout, {}};
}

void Daemon::cmd_terminate(std::uint64_t client, const ControlRequest& r) {
    Time now = monotonic_now();
    ike::Output out;
    std::vector<std::uint64_t> ids;
    std::string failure;
    for (const auto& sa : engine_->list_sas()) {
        bool match = r.ike_id ? sa.id == *r.ike_id : sa.connection == r.conn;
        if (!match) continue;
        if (auto st = engine_->terminate_ike(sa.id, now, out); st) ids.push_back(sa.id);
        else failure = st.error();
    }
    process(out);
    if (ids.empty()) {
        std::string what = r.ike_id ? "IKE SA " + std::to_string(*r.ike_id) : "connection '" + r.conn + "'";
        return control_->reply(client, response_error(failure.empty() ? "no IKE SA for " + what + " (see mobikectl list-sas)"
                                                                      : failure));
    }
    control_->reply(client, response_terminated(ids));
}

void Daemon::cmd_load(std::uint64_t client) {
    if (config_path_.empty()) return control_->reply(client, response_error("mobiked was started without -c FILE"));
    auto result = parse_config_file(config_path_, *creds_);
    if (!result.ok()) return control_->reply(client, response_errors("configuration not loaded", result.errors));
    if (result.config.daemon.ike_port != config_.daemon.ike_port ||
        result.config.daemon.natt_port != config_.daemon.natt_port)
        log("cfg").warn("port changes take effect after a restart");
    result.config.daemon.control_socket = config_.daemon.control_socket;  // keep the bound socket
    config_ = std::move(result.config);
    engine_->load_config(config_.ike);
    set_log_levels(config_.daemon.log_levels);
    load_traps();
    log("cfg").info("loaded {} connections from {}", config_.ike.connections.size(), config_path_);
    control_->reply(client, response_loaded(config_.ike.connections.size()));
}

Status Daemon::reload() {
    if (config_path_.empty()) return Error{"started without -c FILE"};
    auto result = parse_config_file(config_path_, *creds_);
    if (!result.ok()) {
        for (const auto& e : result.errors) log("cfg").error("{}", e);
        return Error{std::to_string(result.errors.size()) + " errors, old configuration kept"};
    }
    result.config.daemon.control_socket = config_.daemon.control_socket;
    config_ = std::move(result.config);
    engine_->load_config(config_.ike);
    set_log_levels(config_.daemon.log_levels);
    load_traps();
    log("cfg").info("reloaded {} connections", config_.ike.connections.size());
    return {};
}

void Daemon::cmd_export(std::uint64_t client, const ControlRequest& r) {
    auto exp = wireshark_esp_sa(sas_.entries());
    auto path = write_esp_sa_file(r.dir, exp.text);
    if (!path) return control_->reply(client, response_error(path.error()));
    log("ctl").info("exported {} ESP SA records to {}", exp.records, *path);
    control_->reply(client, response_exported(*path, exp.records, exp.skipped));
}

DaemonStatus Daemon::status() const {
    DaemonStatus s;
    s.version = kVersion;
    s.uptime = monotonic_now() - started_;
    s.connections = engine_->config().connections.size();
    s.ike_sas = engine_->ike_sa_count();
    s.half_open = engine_->half_open_count();
    s.child_sas = sas_.size();
    for (const auto& sa : engine_->list_sas()) ++s.ike_sas_by_state[std::string(ike::ike_state_name(sa.state))];
    s.datagrams_in = counters_.in;
    s.datagrams_out = counters_.out;
    s.dropped = counters_.dropped;
    s.esp_dropped = counters_.esp_dropped;
    if (!dataplane_) return s;
    const auto& c = dataplane_->counters();
    s.tun = dataplane_->tun_name();
    s.dataplane = {{"tun_packets_in", c.tun_packets_in},   {"tun_bytes_in", c.tun_bytes_in},
                   {"tun_packets_out", c.tun_packets_out}, {"tun_bytes_out", c.tun_bytes_out},
                   {"esp_packets_in", c.esp_packets_in},   {"esp_bytes_in", c.esp_bytes_in},
                   {"esp_packets_out", c.esp_packets_out}, {"esp_bytes_out", c.esp_bytes_out},
                   {"acquires", c.acquires},               {"lifetime_events", c.lifetime_events},
                   {"nat_keepalives_sent", counters_.keepalives},
                   {"dropped", c.dropped()}};
    for (std::size_t i = 0; i < dataplane::kDropCount; ++i)
        s.dataplane["drop_" + std::string(dataplane::drop_name(static_cast<dataplane::Drop>(i)))] = c.drops[i];
    for (std::size_t i = 1; i < ipsec::kStatusCount; ++i)
        s.dataplane["drop_" + std::string(ipsec::status_name(static_cast<ipsec::Status>(i)))] += c.by_status[i];
    return s;
}

TrafficBySpi Daemon::child_traffic() const {
    TrafficBySpi out;
    if (!dataplane_) return out;
    for (const auto& e : sas_.entries())
        if (auto t = dataplane_->traffic(e.sa.spi_in))
            out[e.sa.spi_in] = ChildTraffic{t->packets_in, t->bytes_in, t->packets_out, t->bytes_out, t->drops_in, t->drops_out};
    return out;
}

}  // namespace mobiked::daemon
