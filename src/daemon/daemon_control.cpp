// The daemon's side of the control protocol: requests to engine calls;
// monitor subscribers and the metrics endpoint.
#include <algorithm>
#include <chrono>
#include <cstring>

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
        {
            auto sas = engine_->list_sas();
            PathCandidates paths;
            for (const auto& s : sas)
                if (addresses_ && s.mobike && s.state == ike::IkeState::established)
                    paths[s.id] = paths_.candidates(s, uplink_addresses(s));
            return control_->reply(client, response_sas(sas, now, child_traffic(), paths_.all(), paths));
        }
        case ControlCommand::initiate: return cmd_initiate(client, *req);
        case ControlCommand::terminate: return cmd_terminate(client, *req);
        case ControlCommand::load: return cmd_load(client);
        case ControlCommand::export_keys: return cmd_export(client, *req);
        case ControlCommand::move: return cmd_move(client, *req);
        case ControlCommand::rekey: return cmd_rekey(client, *req);
        case ControlCommand::monitor: return cmd_monitor(client);
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
    if (result.config.daemon.metrics != config_.daemon.metrics)
        log("cfg").warn("a changed metrics endpoint takes effect after a restart");
    result.config.daemon.metrics = config_.daemon.metrics;
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
    result.config.daemon.metrics = config_.daemon.metrics;  // bound at start
    result.config.daemon.control_socket = config_.daemon.control_socket;
    config_ = std::move(result.config);
    engine_->load_config(config_.ike);
    set_log_levels(config_.daemon.log_levels);
    load_traps();
    log("cfg").info("reloaded {} connections", config_.ike.connections.size());
    return {};
}

void Daemon::cmd_export(std::uint64_t client, const ControlRequest& r) {
    auto exp = key_archive_.wireshark(sas_.entries(), monotonic_now());
    auto path = write_esp_sa_file(r.dir, exp.text);
    if (!path) return control_->reply(client, response_error(path.error()));
    log("ctl").info("exported {} ESP SA records ({} of deleted CHILD_SAs) to {}", exp.records, exp.retired, *path);
    std::string ike_path;
    std::size_t ike_records = 0;
    if (config_.ike.export_ike_keys) {  // daemon.export_ike_keys: also the IKE SAs' keys
        auto keys = engine_->ike_sa_keys(monotonic_now());
        auto ike = wireshark_ikev2_table(keys);
        for (auto& k : keys) k.wipe_all();
        auto written = write_uat_file(r.dir, "ikev2_decryption_table", ike.text);
        explicit_bzero(ike.text.data(), ike.text.size());  // held keys
        if (!written) return control_->reply(client, response_error(written.error()));
        ike_path = *written;
        ike_records = ike.records;
        exp.skipped.insert(exp.skipped.end(), ike.skipped.begin(), ike.skipped.end());
        log("ctl").info("exported {} IKE SA records ({} of deleted IKE SAs) to {}", ike.records, ike.retired, ike_path);
    }
    control_->reply(client, response_exported(*path, exp.records, exp.skipped, ike_path, ike_records));
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
    s.metrics = metrics_snapshot();
    s.metrics_endpoint = config_.daemon.metrics;
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

// The reply says the exchange started; its end shows in `mobikectl monitor`
// (ike_rekeyed / child_rekeyed, or an error) and in list-sas.
void Daemon::cmd_rekey(std::uint64_t client, const ControlRequest& r) {
    const std::uint64_t id = r.ike_id.value_or(0);
    const auto sa = engine_->sa_info(id);  // not list_sas(): scripts rekey SAs one request each
    if (!sa)
        return control_->reply(client, response_error("no IKE SA " + std::to_string(id) + " (see mobikectl list-sas)"));
    if (sa->state != ike::IkeState::established)
        return control_->reply(client, response_error("IKE SA " + std::to_string(id) + " is " +
                                                      std::string(ike::ike_state_name(sa->state)) +
                                                      ", only established SAs can be rekeyed"));
    if (r.child_id && std::none_of(sa->children.begin(), sa->children.end(),
                                   [&](const ike::ChildSaInfo& c) { return c.child_id == *r.child_id; }))
        return control_->reply(client, response_error("IKE SA " + std::to_string(id) + " has no CHILD_SA " +
                                                      std::to_string(*r.child_id) + " (see mobikectl list-sas)"));
    ike::Output out;
    Time now = monotonic_now();
    Status st = r.child_id ? engine_->rekey_child(id, *r.child_id, now, out) : engine_->rekey_ike(id, now, out);
    process(out);
    if (!st) return control_->reply(client, response_error(st.error()));
    if (r.child_id) log("ctl").info("IKE SA {}: rekeying CHILD_SA {} (mobikectl rekey)", id, *r.child_id);
    else log("ctl").info("IKE SA {}: rekeying the IKE SA (mobikectl rekey)", id);
    control_->reply(client, response_rekey(id, r.child_id));
}

void Daemon::cmd_monitor(std::uint64_t client) {
    monitors_.insert(client);
    log("ctl").debug("control client {} monitors events ({} in all)", client, monitors_.size());
    control_->reply(client, response_monitoring());
}

// Every engine event: counted for metrics, and one JSON line to each monitor.
void Daemon::observe_event(const ike::Event& e) {
    using K = ike::Event::Kind;
    ++event_counts_[std::string(ike::event_kind_name(e.kind))];
    MonitorEvent m{e, 0, {}, {}, {}, {}, {}};
    if (e.kind == K::ike_moved) {
        const auto& h = paths_.history(e.ike_sa_id);
        if (!h.empty() && h.back().confirmed) {
            m.origin = std::string(origin_name(h.back().origin));
            m.took = h.back().took;
        } else {
            m.origin = "peer";
        }
        move_stats_.confirmed(m.origin, m.took);
    }
    // Prune subscribers that went away, then skip the lookups when nobody listens.
    for (auto it = monitors_.begin(); it != monitors_.end();)
        it = control_ && control_->connected(*it) ? std::next(it) : monitors_.erase(it);
    if (monitors_.empty()) return;
    m.wall_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (e.kind != K::ike_deleted && e.kind != K::ike_failed) {
        if (const auto sa = engine_->sa_info(e.ike_sa_id)) {
            m.local = sa->local;
            m.remote = sa->remote;
            if (e.kind == K::ike_established || e.kind == K::ike_rekeyed) m.proposal = sa->proposal;
        }
    }
    std::string line = monitor_event_line(m);
    for (auto id : monitors_) control_->reply(id, line);
}

Status Daemon::start_metrics() {
    if (config_.daemon.metrics.empty()) return {};
    auto at = parse_listen_address(config_.daemon.metrics);
    if (!at) return Error{"daemon.metrics: " + at.error()};
    auto server = std::make_unique<MetricsServer>(epoll_fd_, [this] { return render_prometheus(metrics_snapshot()); });
    if (auto st = server->open(*at); !st) return st;
    metrics_server_ = std::move(server);
    log("dmn").info("metrics on http://{}/metrics", config_.daemon.metrics);
    return {};
}

MetricsSnapshot Daemon::metrics_snapshot() const {
    MetricsSnapshot m;
    m.version = kVersion;
    m.uptime_s = std::chrono::duration<double>(monotonic_now() - started_).count();
    m.connections = engine_->config().connections.size();
    for (auto st : {ike::IkeState::created, ike::IkeState::init_sent, ike::IkeState::auth_sent, ike::IkeState::init_replied,
                    ike::IkeState::established, ike::IkeState::deleting, ike::IkeState::deleted})
        m.ike_sas_by_state[std::string(ike::ike_state_name(st))] = 0;
    for (const auto& sa : engine_->list_sas()) ++m.ike_sas_by_state[std::string(ike::ike_state_name(sa.state))];
    m.half_open = engine_->half_open_count();
    m.child_sas = sas_.size();
    m.datagrams_in = counters_.in;
    m.datagrams_out = counters_.out;
    m.datagrams_dropped = counters_.dropped;
    m.esp_no_dataplane = counters_.esp_dropped;
    m.nat_keepalives = counters_.keepalives;
    const auto& ec = engine_->counters();
    m.retransmits = ec.retransmits;
    m.responses_retransmitted = ec.responses_retransmitted;
    m.exchanges_timed_out = ec.exchanges_timed_out;
    m.events = event_counts_;
    m.messages = ike_messages_;
    m.moves = move_stats_;
    if (!dataplane_) return m;
    m.dataplane = true;
    const auto& c = dataplane_->counters();
    m.dataplane_counters = {{"tun_packets_in", c.tun_packets_in},   {"tun_bytes_in", c.tun_bytes_in},
                            {"tun_packets_out", c.tun_packets_out}, {"tun_bytes_out", c.tun_bytes_out},
                            {"esp_packets_in", c.esp_packets_in},   {"esp_bytes_in", c.esp_bytes_in},
                            {"esp_packets_out", c.esp_packets_out}, {"esp_bytes_out", c.esp_bytes_out},
                            {"acquires", c.acquires},               {"lifetime_events", c.lifetime_events}};
    for (std::size_t i = 0; i < dataplane::kDropCount; ++i)
        m.drops[std::string(dataplane::drop_name(static_cast<dataplane::Drop>(i)))] = c.drops[i];
    for (std::size_t i = 1; i < ipsec::kStatusCount; ++i)
        m.drops[std::string(ipsec::status_name(static_cast<ipsec::Status>(i)))] += c.by_status[i];
    return m;
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
