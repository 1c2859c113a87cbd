// Reauthentication, make-before-break (RFC 7296 §2.8.3; strongSwan's
// reauth_time): the original initiator sets up a new IKE SA for the same
// connection with a full IKE_SA_INIT and IKE_AUTH (the first CHILD_SA in
// IKE_AUTH, further ones by CREATE_CHILD_SA) while the old SA and its
// CHILD_SAs keep carrying traffic, then deletes the old SA. No INITIAL_CONTACT
// (has_other_sa): the old SA still exists when the new one authenticates.
// MOBIKE state follows: the version is negotiated again, NAT detection runs
// again on the same path, and the peer's address list is carried over when
// the new IKE_AUTH did not bring one.
#include <algorithm>

#include "ike/engine_impl.hpp"

namespace mobiked::ike {

namespace {
// A reauthentication that failed is tried again after this (plus jitter).
constexpr Duration kReauthRetry = std::chrono::seconds(10);
}  // namespace

void Engine::Impl::schedule_reauth(IkeSa& sa, Time now) {
    if (!sa.initiator || sa.conn->reauth_time <= Duration::zero()) return;
    reauth_at[sa.id] = now + jittered(sa.conn->reauth_time);
}

void Engine::Impl::start_reauth(IkeSa& old, Time now, Output& out) {
    reauth_at.erase(old.id);
    if (old.state != IkeState::established || old.rekeyed || reauth_new_of.contains(old.id)) return;
    // The CHILD_SAs to make again: one per configuration (a rekey in flight
    // may briefly leave two SAs of one), in the order they were made.
    std::vector<ChildPtr> configs;
    for (const auto& c : old.children) {
        if (c.replaced_by) continue;
        if (std::none_of(configs.begin(), configs.end(), [&](const ChildPtr& p) { return p->name == c.config->name; }))
            configs.push_back(c.config);
    }
    const Endpoint local{old.local.address, old.conn->local_port};
    const Endpoint remote{old.remote.address, old.conn->remote_port};
    // Reserve the reauthentication before IKE_AUTH goes out (has_other_sa).
    const std::uint64_t predicted = next_sa_id;
    reauths[predicted] = Reauth{old.id, {}, false};
    reauth_new_of[old.id] = predicted;
    auto id = initiate(old.conn, configs.empty() ? std::string() : configs.front()->name, local, remote, now, out,
                       nullptr);
    if (!id || *id != predicted) {
        reauths.erase(predicted);
        reauth_new_of.erase(old.id);
        log_sa(LogLevel::warning, old, "reauthentication not started: " + (id ? std::string("internal") : id.error()));
        reauth_at[old.id] = now + kReauthRetry;
        reschedule(old);
        return;
    }
    if (!configs.empty()) reauths[*id].more.assign(configs.begin() + 1, configs.end());
    log_sa(LogLevel::info, old, "reauthenticating as IKE SA " + std::to_string(*id));
    reschedule(old);
}

void Engine::Impl::reauth_progress(IkeSa& n, Time now, Output& out) {
    using P = PendingRequest::Purpose;
    auto it = reauths.find(n.id);
    if (it == reauths.end() || n.state != IkeState::established) return;
    Reauth& r = it->second;
    IkeSa* old = r.old_id ? find_by_id(r.old_id) : nullptr;
    if (!r.established) {
        r.established = true;
        if (old) {
            // MOBIKE: the peer's address list, when its IKE_AUTH carried none
            // (only the address it answered from is known then).
            if (n.peer_mobike && n.peer_addresses.size() <= 1 && old->peer_addresses.size() > n.peer_addresses.size()) {
                std::vector<IpAddress> merged = n.peer_addresses;
                for (const auto& a : old->peer_addresses)
                    if (std::find(merged.begin(), merged.end(), a) == merged.end()) merged.push_back(a);
                n.peer_addresses = std::move(merged);
            }
            emit(out, Event::Kind::ike_reauthenticated, n, std::to_string(old->id), now);
        }
        for (auto& c : r.more) queue_exchange(n, QueuedExchange{P::create_child, 0, c}, now, out);
        r.more.clear();
    }
    // Still making CHILD_SAs?
    if (n.child_request || (n.pending && n.pending->purpose == P::create_child)) return;
    if (std::any_of(n.queued.begin(), n.queued.end(), [](const QueuedExchange& q) { return q.purpose == P::create_child; }))
        return;
    const std::uint64_t old_id = r.old_id;
    reauths.erase(it);
    reauth_new_of.erase(old_id);
    if (!old || old->state != IkeState::established || old->rekeyed) return;
    log_sa(LogLevel::info, *old, "reauthenticated as IKE SA " + std::to_string(n.id) + " with " +
                                     std::to_string(n.children.size()) + " CHILD_SA(s); deleting this one");
    queue_exchange(*old, P::delete_ike, now, out);
    reschedule(*old);
}

void Engine::Impl::forget_reauth(const IkeSa& sa, Time now) {
    reauth_at.erase(sa.id);
    if (auto it = reauths.find(sa.id); it != reauths.end()) {
        // The new SA failed (or was deleted) before it replaced the old one:
        // the old one stays and tries again later.
        const std::uint64_t old_id = it->second.old_id;
        const bool done = it->second.established;
        reauths.erase(it);
        if (old_id) reauth_new_of.erase(old_id);
        if (IkeSa* old = old_id ? find_by_id(old_id) : nullptr;
            old && !done && old->state == IkeState::established && !old->rekeyed) {
            log_sa(LogLevel::warning, *old, "reauthentication as IKE SA " + std::to_string(sa.id) + " failed; retrying later");
            reauth_at[old_id] = now + kReauthRetry + jittered(kReauthRetry) / 10;
            reschedule(*old);
        }
    }
    if (auto it = reauth_new_of.find(sa.id); it != reauth_new_of.end()) {
        // The old SA went first (the peer deleted it): the new one just stays.
        if (auto r = reauths.find(it->second); r != reauths.end()) r->second.old_id = 0;
        reauth_new_of.erase(it);
    }
}

void Engine::Impl::rename_reauth(std::uint64_t old_id, std::uint64_t new_id) {
    if (auto it = reauth_at.find(old_id); it != reauth_at.end()) {
        const Time at = it->second;
        reauth_at.erase(it);
        reauth_at[new_id] = at;
    }
    if (auto it = reauth_new_of.find(old_id); it != reauth_new_of.end()) {  // the SA being replaced was rekeyed
        const std::uint64_t n = it->second;
        reauth_new_of.erase(it);
        reauth_new_of[new_id] = n;
        if (auto r = reauths.find(n); r != reauths.end()) r->second.old_id = new_id;
    }
    if (auto it = reauths.find(old_id); it != reauths.end()) {  // the replacement itself was rekeyed
        Reauth r = std::move(it->second);
        reauths.erase(it);
        if (r.old_id) reauth_new_of[r.old_id] = new_id;
        reauths[new_id] = std::move(r);
    }
}

}  // namespace mobiked::ike
