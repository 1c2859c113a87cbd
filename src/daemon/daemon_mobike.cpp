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
    const AddressSet usable = addresses_->addresses();
    ike::Output out;
    engine_->set_local_addresses(std::vector<IpAddress>(usable.begin(), usable.end()), monotonic_now(), out);
    process(out);
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
    const AddressSet usable = addresses_->addresses();
    auto decisions = paths_.evaluate(sas, usable, route, now, pinned);
    ike::Output out;
    start_moves(decisions, sas, now, out);
    reestablish_stranded(sas, usable, now, out);
    // After the moves: an UPDATE_SA_ADDRESSES sent first carries the new list.
    engine_->set_local_addresses(std::vector<IpAddress>(usable.begin(), usable.end()), now, out);
    refresh_source_pins();
    process(out);  // also re-arms the timer for a path recheck
}

void Daemon::start_moves(const std::vector<MoveDecision>& decisions, const std::vector<ike::IkeSaInfo>& sas, Time now,
                         ike::Output& out) {
    for (const auto& d : decisions) {
        auto sa = std::find_if(sas.begin(), sas.end(), [&](const ike::IkeSaInfo& s) { return s.id == d.ike_sa_id; });
        if (sa == sas.end()) continue;
        log("net").info("IKE SA {}: {}: moving {} <-> {} to {} <-> {}{}", d.ike_sa_id, d.reason, sa->local.to_string(),
                        sa->remote.to_string(), d.local.to_string(), d.remote.to_string(),
                        d.pin ? " (source pinned to its interface)" : "");
        if (d.pin) pinned_by_sa_[d.ike_sa_id] = d.local.address;
        else pinned_by_sa_.erase(d.ike_sa_id);
        probing_.erase(d.ike_sa_id);  // the move ends any probe (the engine's too)
        refresh_source_pins();  // before the engine sends the update from it
        if (auto st = engine_->move(d.ike_sa_id, d.local, d.remote, now, out); !st) {
            log("net").warn("IKE SA {}: move failed: {}", d.ike_sa_id, st.error());
            continue;
        }
        paths_.started(d.ike_sa_id, d.origin, d.reason, sa->local, sa->remote, d.local, d.remote, now);
    }
}

// Without MOBIKE an SA whose local address vanished cannot follow it: it is
// replaced by a fresh one from the address the route now takes (the old one
// is deleted first, so the new one carries INITIAL_CONTACT and the peer drops
// the stale state at once, RFC 7296 §2.4).
void Daemon::reestablish_stranded(const std::vector<ike::IkeSaInfo>& sas, const AddressSet& usable, Time now,
                                  ike::Output& out) {
    const std::uint32_t mark = dataplane_ ? dataplane_->fwmark() : 0;
    for (const auto& sa : sas) {
        if (sa.state != ike::IkeState::established || !sa.initiator || sa.mobike) continue;
        if (sa.local.address.is_unspecified() || usable.contains(sa.local.address)) continue;
        const auto src = route_source(sa.remote.address, mark);
        if (!src || !usable.contains(*src)) continue;  // no way out yet: the next address event retries
        log("net").info("IKE SA {}: local address {} gone and no MOBIKE: re-establishing {} from {}", sa.id,
                        sa.local.address.to_string(), sa.connection, src->to_string());
        if (auto st = engine_->terminate_ike(sa.id, now, out); !st)
            log("net").warn("IKE SA {}: {}", sa.id, st.error());
        process(out);
        out = ike::Output{};
        if (auto id = initiate(sa.connection, ""); !id)
            log("net").warn("re-establishing {}: {}", sa.connection, id.error());
    }
}

void Daemon::failover(std::uint64_t ike_sa_id, Time now) {
    if (!addresses_) return;
    const auto sas = engine_->list_sas();
    auto sa = std::find_if(sas.begin(), sas.end(), [&](const ike::IkeSaInfo& s) { return s.id == ike_sa_id; });
    if (sa == sas.end()) return;
    const std::uint32_t mark = dataplane_ ? dataplane_->fwmark() : 0;
    auto route = [mark](const IpAddress& remote) { return route_source(remote, mark); };
    PathManager::Pinned pinned;
    for (const auto& c : engine_->config().connections)
        if (!c.local_addrs.empty()) pinned[c.name] = c.local_addrs;
    auto candidates = paths_.failover_candidates(*sa, uplink_addresses(*sa), route, pinned);
    if (candidates.empty()) {
        log("net").warn("IKE SA {}: path {} <-> {} failed and there is no other address pair to try", ike_sa_id,
                        sa->local.to_string(), sa->remote.to_string());
        return;
    }
    // Which pair works is unknown: probe them all at once (RFC 4555 §3.5), the
    // first to answer gets the UPDATE_SA_ADDRESSES (on_probe_answer). Their
    // sources leave through their own interfaces meanwhile.
    ike::Output out;
    probing_[ike_sa_id] = candidates;
    paths_.probing(ike_sa_id, candidates);
    refresh_source_pins();
    std::vector<std::pair<Endpoint, Endpoint>> pairs;
    for (const auto& c : candidates) pairs.emplace_back(c.local, c.remote);
    if (auto st = engine_->probe_paths(ike_sa_id, std::move(pairs), now, out); !st) {
        // An update already in flight: it moves on to the best candidate instead.
        log("net").info("IKE SA {}: no probe ({}): moving straight to the best candidate", ike_sa_id, st.error());
        probing_.erase(ike_sa_id);
        paths_.chose(ike_sa_id, candidates.front());
        start_moves({candidates.front()}, sas, now, out);
    }
    process(out);
}

void Daemon::on_probe_answer(const ike::Event& e) {
    auto it = probing_.find(e.ike_sa_id);
    if (it == probing_.end()) return;
    std::vector<MoveDecision> candidates = std::move(it->second);
    probing_.erase(it);
    auto d = std::find_if(candidates.begin(), candidates.end(), [&](const MoveDecision& c) {
        return c.local.address == e.local.address && c.remote.address == e.remote.address;
    });
    if (d == candidates.end()) return refresh_source_pins();
    d->reason += " (probe answered)";
    paths_.chose(e.ike_sa_id, *d);
    const auto sa = engine_->sa_info(e.ike_sa_id);
    if (!sa) return refresh_source_pins();
    ike::Output out;
    start_moves({*d}, {*sa}, monotonic_now(), out);  // pins the chosen source alone
    process(out);
}

// Uplinks only: not a service address on lo, not an inner address the SA
// itself carries (sending IKE from it would go into the tunnel).
AddressSet Daemon::uplink_addresses(const ike::IkeSaInfo& sa) const {
    AddressSet out;
    if (!addresses_) return out;
    for (const auto& a : addresses_->addresses()) {
        if (addresses_->on_loopback(a) && a != sa.local.address) continue;
        if (std::find(sa.virtual_ips.begin(), sa.virtual_ips.end(), a) != sa.virtual_ips.end()) continue;
        bool inner = false;
        for (const auto& c : sa.children)
            for (const auto& ts : c.local_ts)
                if (ts.range != AddressRange::any(ts.range.first.family()) && ts.range.contains(a)) inner = true;
        if (!inner) out.insert(a);
    }
    return out;
}

void Daemon::refresh_source_pins() {
    source_pins_.clear_all();
    if (!addresses_) return;
    for (const auto& [id, candidates] : probing_)
        for (const auto& c : candidates)
            if (c.pin)
                if (const int ifindex = addresses_->ifindex_of(c.local.address); ifindex != 0)
                    source_pins_.set(c.local.address, ifindex);
    for (auto it = pinned_by_sa_.begin(); it != pinned_by_sa_.end();) {
        const int ifindex = addresses_->ifindex_of(it->second);
        if (ifindex == 0) {
            it = pinned_by_sa_.erase(it);  // the address went: nothing to pin
            continue;
        }
        source_pins_.set(it->second, ifindex);
        ++it;
    }
}

void Daemon::refresh_path_liveness(Time now) {
    if (!dataplane_) return;
    // The arrival time itself, not now: a cut right after a packet must be
    // detected path_timeout after that packet, not after this look.
    (void)now;
    for (const auto& id : watched_)
        if (const Time t = dataplane_->last_inbound(id); t != Time{}) engine_->note_peer_traffic(id, t);
}

void Daemon::track_path_event(const ike::Event& e) {
    using K = ike::Event::Kind;
    switch (e.kind) {
        case K::ike_established:
        case K::ike_moved: {
            const auto sa = engine_->sa_info(e.ike_sa_id);
            if (!sa) return;
            if (e.kind == K::ike_established) {
                const auto* c = engine_->config().find_connection(sa->connection);
                if (sa->initiator && sa->mobike && c && c->path_timeout > Duration::zero()) watched_.insert(sa->id);
                // Without MOBIKE the SA never moves: no path to remember (a
                // gateway holds many such SAs).
                if (sa->mobike) paths_.established(sa->id, sa->local, sa->remote);
                return;
            }
            paths_.moved(sa->id, sa->local, sa->remote, monotonic_now());
            const auto& h = paths_.history(sa->id);
            if (!h.empty() && h.back().took)
                log("net").info("IKE SA {}: path {} <-> {} confirmed {:.1f} ms after the move started", sa->id,
                                sa->local.to_string(), sa->remote.to_string(),
                                std::chrono::duration<double, std::milli>(*h.back().took).count());
            return;
        }
        case K::ike_rekeyed:
        case K::ike_reauthenticated: {  // the move history and path state follow
            std::uint64_t old = 0;
            auto r = std::from_chars(e.detail.data(), e.detail.data() + e.detail.size(), old);
            if (r.ec != std::errc{}) return;
            paths_.renamed(old, e.ike_sa_id);
            if (watched_.erase(old)) watched_.insert(e.ike_sa_id);
            if (auto p = pinned_by_sa_.find(old); p != pinned_by_sa_.end()) {
                pinned_by_sa_[e.ike_sa_id] = p->second;
                pinned_by_sa_.erase(old);
            }
            return;
        }
        case K::path_failed: return failover(e.ike_sa_id, monotonic_now());
        case K::path_probe_ok: return on_probe_answer(e);
        case K::peer_addresses: return evaluate_paths(monotonic_now());
        case K::ike_deleted:
        case K::ike_failed:
            watched_.erase(e.ike_sa_id);
            if (pinned_by_sa_.erase(e.ike_sa_id) + probing_.erase(e.ike_sa_id) > 0) refresh_source_pins();
            return paths_.forget(e.ike_sa_id);
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
    if (pinned_by_sa_.erase(sa->id)) refresh_source_pins();
    if (sa->local != local || sa->remote != remote)
        paths_.started(sa->id, MoveRecord::Origin::explicit_request, "mobikectl move", sa->local, sa->remote, local, remote, now);
    process(out);
    control_->reply(client, response_move(sa->id, local, remote));
}

}  // namespace mobiked::daemon
