#include "daemon/path_manager.hpp"

#include <algorithm>
#include <set>

namespace mobiked::daemon {

std::string_view origin_name(MoveRecord::Origin o) {
    switch (o) {
        case MoveRecord::Origin::address_change: return "address-change";
        case MoveRecord::Origin::explicit_request: return "explicit";
        case MoveRecord::Origin::peer: return "peer";
        case MoveRecord::Origin::path_failure: return "path-failure";
        case MoveRecord::Origin::peer_addresses: return "peer-addresses";
    }
    return "?";
}

std::string_view candidate_state_name(PathCandidate::State s) {
    switch (s) {
        case PathCandidate::State::current: return "current";
        case PathCandidate::State::failed: return "failed";
        case PathCandidate::State::available: return "available";
        case PathCandidate::State::probing: return "probing";
    }
    return "?";
}

std::vector<PathCandidate> PathManager::candidates(const ike::IkeSaInfo& sa, const AddressSet& local) const {
    std::vector<IpAddress> remotes{sa.remote.address};
    for (const auto& r : sa.peer_addresses)
        if (std::find(remotes.begin(), remotes.end(), r) == remotes.end()) remotes.push_back(r);
    const auto tried = tried_.find(sa.id);
    const auto probed = probing_.find(sa.id);
    std::vector<PathCandidate> out;
    for (const auto& r : remotes)
        for (const auto& l : local) {
            if (l.family() != r.family()) continue;
            PathCandidate c{l, r, PathCandidate::State::available};
            if (l == sa.local.address && r == sa.remote.address)
                c.state = sa.path_failed ? PathCandidate::State::failed : PathCandidate::State::current;
            else if (probed != probing_.end() && probed->second.contains({l, r}))
                c.state = PathCandidate::State::probing;
            else if (tried != tried_.end() && tried->second.contains({l, r}))
                c.state = PathCandidate::State::failed;
            out.push_back(c);
            if (out.size() >= 32) return out;
        }
    return out;
}

std::vector<MoveDecision> PathManager::evaluate(const std::vector<ike::IkeSaInfo>& sas, const AddressSet& local,
                                                const RouteLookup& route, Time now, const Pinned& pinned) {
    std::vector<MoveDecision> out;
    recheck_at_.reset();
    std::set<std::uint64_t> seen;
    for (const auto& sa : sas) {
        seen.insert(sa.id);
        if (sa.state != ike::IkeState::established || !sa.initiator || !sa.mobike) continue;
        if (sa.local.address.is_unspecified() || sa.remote.address.is_unspecified()) continue;
        const IpAddress& cur = sa.local.address;
        const bool gone = !local.contains(cur);
        const auto& peers = sa.peer_addresses;
        if (!peers.empty() && std::find(peers.begin(), peers.end(), sa.remote.address) == peers.end()) {
            // The responder moved (RFC 4555 §3.6): follow it to an announced address.
            auto usable_src = [&](const IpAddress& r) -> std::optional<IpAddress> {
                auto s = route ? route(r) : std::nullopt;
                if (s && local.contains(*s) && s->family() == r.family()) return s;
                if (!gone && cur.family() == r.family()) return cur;
                return std::nullopt;
            };
            for (const auto& r : peers)
                if (auto s = usable_src(r)) {
                    MoveDecision d{sa.id, Endpoint{*s, natt_port_}, Endpoint{r, sa.remote.port},
                                   "peer no longer lists " + sa.remote.address.to_string() + ", moving to " + r.to_string()};
                    d.origin = MoveRecord::Origin::peer_addresses;
                    out.push_back(std::move(d));
                    break;
                }
            continue;
        }
        std::optional<IpAddress> src = route ? route(sa.remote.address) : std::nullopt;
        bool src_ok = src && local.contains(*src) && src->family() == sa.remote.address.family();
        if (auto p = pinned.find(sa.connection); p != pinned.end() && !p->second.empty()) {
            const auto& allowed = p->second;
            auto ok = [&](const IpAddress& a) {
                return local.contains(a) && a.family() == sa.remote.address.family() &&
                       std::find(allowed.begin(), allowed.end(), a) != allowed.end();
            };
            if (ok(cur)) {
                unsettled_since_.erase(sa.id);
                continue;
            }
            if (!src_ok || !ok(*src)) {
                auto alt = std::find_if(allowed.begin(), allowed.end(), ok);
                if (alt == allowed.end()) continue;  // none of the configured addresses is usable
                src = *alt;
                src_ok = true;
            }
        }
        if (src_ok && *src == cur) {
            unsettled_since_.erase(sa.id);
            continue;
        }
        if (!gone && failed_over_.contains(sa.id)) continue;
        if (src_ok) {
            unsettled_since_.erase(sa.id);
            std::string why = gone ? "local address " + cur.to_string() + " gone"
                                   : "route to " + sa.remote.address.to_string() + " prefers " + src->to_string();
            out.push_back({sa.id, Endpoint{*src, natt_port_}, sa.remote, std::move(why)});
            continue;
        }
        // No usable route source. A working path is left alone; a broken one
        // waits briefly for the routes to follow the address change.
        if (!gone) {
            unsettled_since_.erase(sa.id);
            continue;
        }
        auto [it, fresh] = unsettled_since_.try_emplace(sa.id, now);
        if (now - it->second < kSettle) {
            Time at = now + kRecheck;
            if (!recheck_at_ || at < *recheck_at_) recheck_at_ = at;
            continue;
        }
        unsettled_since_.erase(it);
        auto alt = std::find_if(local.begin(), local.end(),
                                [&](const IpAddress& a) { return a.family() == sa.remote.address.family(); });
        if (alt == local.end()) continue;  // nothing to move to until an address appears
        out.push_back({sa.id, Endpoint{*alt, natt_port_}, sa.remote,
                       "local address " + cur.to_string() + " gone, no route to the peer: trying " + alt->to_string()});
    }
    for (auto it = unsettled_since_.begin(); it != unsettled_since_.end();)
        it = seen.contains(it->first) ? std::next(it) : unsettled_since_.erase(it);
    return out;
}

std::optional<MoveDecision> PathManager::failover(const ike::IkeSaInfo& sa, const AddressSet& local,
                                                  const RouteLookup& route, const Pinned& pinned) {
    auto all = failover_candidates(sa, local, route, pinned);
    if (all.empty()) return std::nullopt;
    chose(sa.id, all.front());
    return all.front();
}

std::vector<MoveDecision> PathManager::failover_candidates(const ike::IkeSaInfo& sa, const AddressSet& local,
                                                           const RouteLookup& route, const Pinned& pinned) {
    if (sa.state != ike::IkeState::established || !sa.initiator || !sa.mobike) return {};
    std::vector<IpAddress> remotes{sa.remote.address};
    for (const auto& r : sa.peer_addresses)
        if (std::find(remotes.begin(), remotes.end(), r) == remotes.end()) remotes.push_back(r);
    const std::vector<IpAddress>* allowed = nullptr;
    if (auto p = pinned.find(sa.connection); p != pinned.end() && !p->second.empty()) allowed = &p->second;
    // Other local addresses first (the current link is the suspect), then
    // other peer addresses from the current local one.
    std::vector<std::pair<IpAddress, IpAddress>> pairs;
    for (int round = 0; round < 2; ++round)
        for (const auto& r : remotes)
            for (const auto& l : local) {
                if (l.family() != r.family() || (round == 0) == (l == sa.local.address)) continue;
                if (allowed && std::find(allowed->begin(), allowed->end(), l) == allowed->end()) continue;
                if (l == sa.local.address && r == sa.remote.address) continue;
                pairs.emplace_back(l, r);
            }
    if (pairs.empty()) return {};
    auto& tried = tried_[sa.id];
    tried.emplace(sa.local.address, sa.remote.address);  // it just failed
    if (std::all_of(pairs.begin(), pairs.end(), [&](const auto& p) { return tried.contains(p); })) {
        tried.clear();  // every pair failed once: go round again, links come back
        tried.emplace(sa.local.address, sa.remote.address);
    }
    std::vector<MoveDecision> out;
    for (const auto& [l, r] : pairs) {
        if (tried.contains({l, r})) continue;
        const auto src = route ? route(r) : std::nullopt;
        MoveDecision d{sa.id, Endpoint{l, natt_port_}, Endpoint{r, r == sa.remote.address ? sa.remote.port : natt_port_},
                       "path " + sa.local.address.to_string() + " <-> " + sa.remote.address.to_string() +
                           " silent: trying " + l.to_string() + " <-> " + r.to_string()};
        d.pin = !src || *src != l;
        d.origin = MoveRecord::Origin::path_failure;
        out.push_back(std::move(d));
    }
    return out;
}

void PathManager::started(std::uint64_t id, MoveRecord::Origin origin, const std::string& reason,
                          const Endpoint& from_local, const Endpoint& from_remote, const Endpoint& to_local,
                          const Endpoint& to_remote, Time now) {
    probing_.erase(id);
    if (origin == MoveRecord::Origin::path_failure) failed_over_.insert(id);
    else failed_over_.erase(id);
    auto& h = history_[id];
    for (auto& r : h)
        if (!r.confirmed) r.superseded = true;
    MoveRecord r;
    r.origin = origin;
    r.started = now;
    r.reason = reason;
    r.from_local = from_local;
    r.from_remote = from_remote;
    r.to_local = to_local;
    r.to_remote = to_remote;
    h.push_back(std::move(r));
    if (h.size() > kMaxHistory) h.erase(h.begin());
}

void PathManager::established(std::uint64_t id, const Endpoint& local, const Endpoint& remote) {
    confirmed_[id] = {local, remote};
}

void PathManager::moved(std::uint64_t id, const Endpoint& local, const Endpoint& remote, Time now) {
    tried_.erase(id);  // a confirmed path: the failover round starts over
    probing_.erase(id);
    auto& h = history_[id];
    // The engine commits the newest path it was given: that completes the
    // newest pending record (and any superseded one is left unconfirmed).
    for (auto r = h.rbegin(); r != h.rend(); ++r) {
        if (r->confirmed || r->superseded || r->origin == MoveRecord::Origin::peer) continue;
        if (r->to_local == local && r->to_remote == remote) {
            r->confirmed = true;
            r->took = now - r->started;
            confirmed_[id] = {local, remote};
            tried_.erase(id);
            return;
        }
        break;
    }
    auto prev = confirmed_.find(id);
    if (prev != confirmed_.end() && prev->second == std::pair{local, remote}) return;  // a repeated commit
    MoveRecord r;
    r.origin = MoveRecord::Origin::peer;
    r.started = now;
    r.reason = "peer's UPDATE_SA_ADDRESSES";
    if (prev != confirmed_.end()) {
        r.from_local = prev->second.first;
        r.from_remote = prev->second.second;
    }
    r.to_local = local;
    r.to_remote = remote;
    r.confirmed = true;
    h.push_back(std::move(r));
    if (h.size() > kMaxHistory) h.erase(h.begin());
    confirmed_[id] = {local, remote};
}

void PathManager::probing(std::uint64_t id, const std::vector<MoveDecision>& pairs) {
    auto& p = probing_[id];
    p.clear();
    for (const auto& d : pairs) p.emplace(d.local.address, d.remote.address);
}

void PathManager::forget(std::uint64_t id) {
    probing_.erase(id);
    history_.erase(id);
    confirmed_.erase(id);
    unsettled_since_.erase(id);
    tried_.erase(id);
    failed_over_.erase(id);
}

void PathManager::renamed(std::uint64_t old_id, std::uint64_t new_id) {
    probing_.erase(old_id);  // the old SA's probe does not carry over
    if (auto it = history_.find(old_id); it != history_.end()) {
        auto h = std::move(it->second);
        history_.erase(it);
        auto& n = history_[new_id];
        n.insert(n.begin(), h.begin(), h.end());
    }
    if (failed_over_.erase(old_id)) failed_over_.insert(new_id);
    if (auto it = confirmed_.find(old_id); it != confirmed_.end()) {
        confirmed_.try_emplace(new_id, it->second);
        confirmed_.erase(it);
    }
}

const std::vector<MoveRecord>& PathManager::history(std::uint64_t id) const {
    static const std::vector<MoveRecord> empty;
    auto it = history_.find(id);
    return it == history_.end() ? empty : it->second;
}

bool PathManager::pending(std::uint64_t id) const {
    const auto& h = history(id);
    return !h.empty() && !h.back().confirmed && !h.back().superseded && h.back().origin != MoveRecord::Origin::peer;
}

}  // namespace mobiked::daemon
