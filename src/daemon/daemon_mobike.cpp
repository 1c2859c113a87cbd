// The daemon's MOBIKE side: address changes from rtnetlink go through the
// path manager to Engine::move(); `mobikectl move` asks for a move directly.
#include <algorithm>
#include <charconv>

#include "daemon/control_server.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"

namespace mobiked::daemon {

void Daemon::start_address_monitor() {
    paths_ = PathManager(config_.daemon.natt_port);
    std::set<std::string> ignored;
    if (dataplane_) ignored.insert(dataplane_->tun_name());
    auto m = std::make_unique<AddressMonitor>(std::move(ignored));
    if (auto st = m->open(); !st) {
        log("net").warn("no address monitor ({}): MOBIKE SAs will not follow address changes", st.error());
        return;
    }
    addresses_ = std::move(m);
    std::string list;
    for (const auto& a : addresses_->addresses()) list += (list.empty() ? "" : " ") + a.to_string();
    log("net").info("local addresses: {}", list.empty() ? "none" : list);
}

void Daemon::on_address_changes() {
    auto changes = addresses_->on_readable();
    if (changes.empty()) return;
    for (const auto& c : changes) log("net").info("{}", to_string(c));
    evaluate_paths(monotonic_now());
}

void Daemon::evaluate_paths(Time now) {
    if (!addresses_) return;
    const std::uint32_t mark = dataplane_ ? dataplane_->fwmark() : 0;
    auto route = [mark](const IpAddress& remote) { return route_source(remote, mark); };
    const auto sas = engine_->list_sas();
    PathManager::Pinned pinned;
    for (const auto& c : engine_->config().connections)
        if (!c.local_addrs.empty()) pinned[c.name] = c.local_addrs;
    auto decisions = paths_.evaluate(sas, addresses_->addresses(), route, now, pinned);
    ike::Output out;
    for (const auto& d : decisions) {
        auto sa = std::find_if(sas.begin(), sas.end(), [&](const ike::IkeSaInfo& s) { return s.id == d.ike_sa_id; });
        if (sa == sas.end()) continue;
        log("net").info("IKE SA {}: {}: moving {} -> {}", d.ike_sa_id, d.reason, sa->local.to_string(), d.local.to_string());
        if (auto st = engine_->move(d.ike_sa_id, d.local, d.remote, now, out); !st) {
            log("net").warn("IKE SA {}: move failed: {}", d.ike_sa_id, st.error());
            continue;
        }
        paths_.started(d.ike_sa_id, MoveRecord::Origin::address_change, d.reason, sa->local, sa->remote, d.local,
                       d.remote, now);
    }
    process(out);  // also re-arms the timer for a path recheck
}

void Daemon::track_path_event(const ike::Event& e) {
    using K = ike::Event::Kind;
    switch (e.kind) {
        case K::ike_established:
        case K::ike_moved: {
            auto sas = engine_->list_sas();
            auto sa = std::find_if(sas.begin(), sas.end(), [&](const ike::IkeSaInfo& s) { return s.id == e.ike_sa_id; });
            if (sa == sas.end()) return;
            if (e.kind == K::ike_established) return paths_.established(sa->id, sa->local, sa->remote);
            paths_.moved(sa->id, sa->local, sa->remote, monotonic_now());
            const auto& h = paths_.history(sa->id);
            if (!h.empty() && h.back().took)
                log("net").info("IKE SA {}: path {} <-> {} confirmed {:.1f} ms after the move started", sa->id,
                                sa->local.to_string(), sa->remote.to_string(),
                                std::chrono::duration<double, std::milli>(*h.back().took).count());
            return;
        }
        case K::ike_rekeyed: {
            std::uint64_t old = 0;
            auto r = std::from_chars(e.detail.data(), e.detail.data() + e.detail.size(), old);
            if (r.ec == std::errc{}) paths_.renamed(old, e.ike_sa_id);
            return;
        }
        case K::ike_deleted:
        case K::ike_failed: return paths_.forget(e.ike_sa_id);
        default: return;
    }
}

void Daemon::cmd_move(std::uint64_t client, const ControlRequest& r) {
    auto sas = engine_->list_sas();
    auto sa = std::find_if(sas.begin(), sas.end(), [&](const ike::IkeSaInfo& s) { return r.ike_id && s.id == *r.ike_id; });
    if (sa == sas.end()) return control_->reply(client, response_error("no IKE SA " + std::to_string(r.ike_id.value_or(0)) +
                                                                       " (see mobikectl list-sas)"));
    auto local_ip = IpAddress::parse(r.local);
    auto remote_ip = r.remote.empty() ? std::optional<IpAddress>(sa->remote.address) : IpAddress::parse(r.remote);
    if (!local_ip || !remote_ip) return control_->reply(client, response_error("bad address"));
    if (local_ip->family() != remote_ip->family())
        return control_->reply(client, response_error("local and remote addresses must be of the same family"));
    if (addresses_ && !addresses_->addresses().contains(*local_ip))
        return control_->reply(client, response_error(r.local + " is not a usable local address"));
    Endpoint local{*local_ip, config_.daemon.natt_port};
    Endpoint remote{*remote_ip, r.remote.empty() ? sa->remote.port : config_.daemon.natt_port};
    Time now = monotonic_now();
    ike::Output out;
    if (auto st = engine_->move(sa->id, local, remote, now, out); !st) return control_->reply(client, response_error(st.error()));
    log("ctl").info("IKE SA {}: moving {} <-> {} to {} <-> {} (mobikectl move)", sa->id, sa->local.to_string(),
                    sa->remote.to_string(), local.to_string(), remote.to_string());
    if (sa->local != local || sa->remote != remote)
        paths_.started(sa->id, MoveRecord::Origin::explicit_request, "mobikectl move", sa->local, sa->remote, local, remote, now);
    process(out);
    control_->reply(client, response_move(sa->id, local, remote));
}

}  // namespace mobiked::daemon
