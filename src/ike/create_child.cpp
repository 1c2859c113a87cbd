// CREATE_CHILD_SA for CHILD_SAs (RFC 7296 §1.3.1 new, §1.3.3 rekey, §2.8.1
// simultaneous rekeys), both roles, and the lifetimes that start rekeys.
#include <algorithm>

#include "ike/engine_impl.hpp"
#include "ike/payload_helpers.hpp"
#include "ike/traffic_selectors.hpp"

namespace mobiked::ike {

namespace {

constexpr std::size_t kNonceSize = 32;



// The PFS group of a child's proposals: the first KE transform offered.
std::uint16_t pfs_group(const std::vector<wire::Proposal>& proposals) {
    auto groups = ke_groups(proposals);
    return groups.empty() ? 0 : groups.front();
}

const Bytes* nonce_of(const std::vector<wire::Payload>& p) {
    const auto* pl = wire::find_payload(p, wire::PayloadType::nonce);
    return pl ? &std::get<wire::NoncePayload>(pl->body).data : nullptr;
}

const wire::KePayload* ke_of(const std::vector<wire::Payload>& p) {
    const auto* pl = wire::find_payload(p, wire::PayloadType::ke);
    return pl ? &std::get<wire::KePayload>(pl->body) : nullptr;
}

std::uint16_t first_error(const std::vector<wire::Payload>& p) {
    for (const auto& pl : p)
        if (const auto* n = std::get_if<wire::NotifyPayload>(&pl.body); n && wire::notify::is_error(n->type))
            return n->type;
    return 0;
}

bool lower(const Bytes& a, const Bytes& b) { return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()); }

}  // namespace

// ---------------------------------------------------------------- lifetimes

Duration Engine::Impl::jittered(Duration d) {
    // Up to 10% earlier, so thousands of SAs made together do not rekey together.
    const auto span = d.count() / 10;
    if (span <= 0) return d;
    return d - Duration(static_cast<Duration::rep>(env.random->u64() % static_cast<std::uint64_t>(span)));
}

void Engine::Impl::set_lifetimes(IkeSa& /*sa*/, ChildSa& child, Time now) {
    const Lifetimes& l = child.config->lifetimes;
    child.rekey_at = l.rekey_time > Duration::zero() ? now + jittered(l.rekey_time) : Time{};
    child.expire_at = l.life_time > Duration::zero() ? now + std::max(l.life_time, l.rekey_time) : Time{};
}

// ---------------------------------------------------------------- initiator

void Engine::Impl::start_create_child(IkeSa& sa, const QueuedExchange& ex, Time now, Output& out) {
    using P = PendingRequest::Purpose;
    CreateChildContext ctx;
    ctx.purpose = ex.purpose;
    ChildPtr child_cfg = ex.config;
    const ChildSa* old = nullptr;
    if (ex.purpose == P::rekey_child) {
        old = sa.find_child(ex.child_id);
        if (!old || old->replaced_by) return;  // gone or already replaced meanwhile
        child_cfg = old->config;
        ctx.rekeyed_child = old->id;
    }
    if (!child_cfg) return;
    auto req = make_child_request(sa, child_cfg, nullptr);
    if (old) {  // a rekey keeps what was negotiated (§2.9.2)
        req->local_ts = old->local_ts;
        req->remote_ts = old->remote_ts;
        req->transport = old->mode == IpsecMode::transport;
    }
    ctx.child = std::move(*req);
    ctx.nonce = env.random->bytes(kNonceSize);
    ctx.ke_group = ex.ke_group ? ex.ke_group : pfs_group(child_cfg->esp_proposals);
    ctx.ke_retries = ex.retries;
    std::vector<wire::Payload> p;
    if (old) {
        wire::NotifyPayload n;
        n.protocol = wire::ProtocolId::esp;
        n.spi = Bytes(4);
        store_be32(n.spi.data(), old->spi_in);
        n.type = wire::notify::rekey_sa;
        p.push_back({wire::PayloadType::notify, false, std::move(n)});
        sa.find_child(old->id)->rekeying = true;
    }
    append_child_request(ctx.child, p, true);
    // Nonce and KE go after SA (§1.3.1): insert before TSi.
    auto tsi = std::find_if(p.begin(), p.end(), [](const wire::Payload& x) { return x.type == wire::PayloadType::ts_i; });
    tsi = p.insert(tsi, {wire::PayloadType::nonce, false, wire::NoncePayload{ctx.nonce}}) + 1;
    if (ctx.ke_group) {
        ctx.ke = crypto::make_key_exchange(ctx.ke_group);
        p.insert(tsi, {wire::PayloadType::ke, false, wire::KePayload{ctx.ke_group, ctx.ke->public_value()}});
    }
    sa.create_child = std::move(ctx);
    send_request(sa, ex.purpose, wire::ExchangeType::create_child_sa, p, now, out);
}

void Engine::Impl::on_create_child_response(IkeSa& sa, const std::vector<wire::Payload>& p, Time now, Output& out) {
    using P = PendingRequest::Purpose;
    if (!sa.create_child) return;
    CreateChildContext ctx = std::move(*sa.create_child);
    sa.create_child.reset();
    if (ctx.purpose == P::rekey_ike) {
        on_ike_rekey_response(sa, ctx, p, now, out);
        return;
    }
    ChildSa* old = ctx.rekeyed_child ? sa.find_child(ctx.rekeyed_child) : nullptr;
    if (old) old->rekeying = false;
    auto give_up = [&](const std::string& why) {
        release_esp_spi(ctx.child.spi_in);
        emit(out, Event::Kind::child_failed, sa, ctx.child.config->name + ": " + why, now);
        log_sa(LogLevel::warning, sa, "CREATE_CHILD_SA for " + ctx.child.config->name + " failed: " + why);
    };
    if (const std::uint16_t err = first_error(p)) {
        const auto* n = wire::find_notify(p, wire::notify::invalid_ke_payload);
        const std::uint16_t want = n && n->data.size() == 2 ? load_be16(n->data.data()) : 0;
        auto offered = ke_groups(ctx.child.config->esp_proposals);
        if (want && want != ctx.ke_group && ctx.ke_retries < 2 &&
            std::find(offered.begin(), offered.end(), want) != offered.end()) {
            // The responder wants another PFS group we also offer: retry with it.
            release_esp_spi(ctx.child.spi_in);
            sa.queued.insert(sa.queued.begin(), {ctx.purpose, ctx.rekeyed_child, ctx.child.config, want, ctx.ke_retries + 1});
            return;
        }
        if (err == wire::notify::temporary_failure && old) {
            // §2.25: try again a little later; the soft lifetime timer does it.
            old->rekey_at = now + std::chrono::seconds(1) + Duration(env.random->u32() % 2'000'000'000u);
        }
        if (err == wire::notify::child_sa_not_found && old) remove_child(sa, old->id, now, out);
        give_up("peer answered " + wire::notify_name(err));
        return;
    }
    const Bytes* nr = nonce_of(p);
    std::string why;
    auto child = nr ? accept_child_response(sa, ctx.child, p, why, now, true) : std::nullopt;
    if (!child) return give_up(nr ? why : "response without nonce");
    Bytes shared;
    if (ctx.ke_group) {
        const auto* ke = ke_of(p);
        auto s = ke && ke->group == ctx.ke_group ? ctx.ke->shared_secret(ke->data) : Result<Bytes>(Error{"no KEr"});
        if (!s) return give_up("PFS key exchange failed: " + s.error());
        shared = std::move(*s);
    }
    const std::uint32_t new_id = install_child(sa, std::move(*child), now, out, true, shared, ctx.nonce, *nr);
    wipe(shared);
    if (new_id && ctx.rekeyed_child) finish_child_rekey(sa, ctx.rekeyed_child, new_id, ctx.nonce, *nr, now, out);
}

// Our rekey of `old_id` produced `new_id`. Without a collision we close the
// old SA; with one (§2.8.1) the SA made with the lowest of the four nonces is
// redundant and is deleted by whoever made it.
void Engine::Impl::finish_child_rekey(IkeSa& sa, std::uint32_t old_id, std::uint32_t new_id, Bytes ni, Bytes nr,
                                      Time now, Output& out) {
    using P = PendingRequest::Purpose;
    ChildSa* old = sa.find_child(old_id);
    if (!old) return;
    if (old->peer_rekey_child) {
        const Bytes& theirs_low = lower(old->peer_rekey_ni, old->peer_rekey_nr) ? old->peer_rekey_ni : old->peer_rekey_nr;
        const Bytes& ours_low = lower(ni, nr) ? ni : nr;
        if (lower(ours_low, theirs_low)) {
            // Ours lost: delete what we made; the peer closes the old SA.
            log_sa(LogLevel::info, sa, "simultaneous rekey of CHILD_SA " + old->config->name + ": ours is redundant");
            old->replaced_by = old->peer_rekey_child;
            emit(out, Event::Kind::child_rekeyed, sa,
                 old->config->name + " " + std::to_string(old_id) + " -> " + std::to_string(old->peer_rekey_child), now);
            queue_exchange(sa, {P::delete_child, new_id, nullptr}, now, out);
            return;
        }
        log_sa(LogLevel::info, sa, "simultaneous rekey of CHILD_SA " + old->config->name + ": ours wins");
    }
    old->replaced_by = new_id;
    emit(out, Event::Kind::child_rekeyed, sa, old->config->name + " " + std::to_string(old_id) + " -> " + std::to_string(new_id),
         now);
    queue_exchange(sa, {P::delete_child, old_id, nullptr}, now, out);
}

// ---------------------------------------------------------------- responder

void Engine::Impl::on_create_child_request(IkeSa& sa, const std::vector<wire::Payload>& p, ByteView raw,
                                           std::uint32_t mid, Time now, Output& out) {
    auto answer = [&](std::vector<wire::Payload> r) {
        send_response(sa, wire::ExchangeType::create_child_sa, mid, r, raw, out);
    };
    const auto* sa_pl = wire::find_payload(p, wire::PayloadType::sa);
    const Bytes* ni = nonce_of(p);
    if (!sa_pl || !ni) return answer({notify_payload(wire::notify::invalid_syntax)});
    const auto& props = std::get<wire::SaPayload>(sa_pl->body).proposals;
    if (!props.empty() && props.front().protocol == wire::ProtocolId::ike) {
        on_ike_rekey_request(sa, p, raw, mid, now, out);
        return;
    }
    // Also while we rekey the IKE SA (§2.25.2): the CHILD_SA would not be inherited.
    if (sa.rekeyed || ike_rekey_collisions.contains(sa.id) ||
        (sa.create_child && sa.create_child->purpose == PendingRequest::Purpose::rekey_ike))
        return answer({notify_payload(wire::notify::temporary_failure)});

    ChildSa* old = nullptr;
    if (const auto* rk = wire::find_notify(p, wire::notify::rekey_sa)) {
        old = rk->spi.size() == 4 ? sa.find_child_by_spi_out(load_be32(rk->spi.data())) : nullptr;
        if (!old) return answer({notify_payload(wire::notify::child_sa_not_found)});
        // §2.25: a SA we are closing is not rekeyed again.
        if (old->replaced_by) return answer({notify_payload(wire::notify::temporary_failure)});
    }
    ChildOutcome outcome = negotiate_child(sa, p, now, true);
    if (!outcome.child) return answer({notify_payload(outcome.error_notify)});
    ChildSa child = std::move(*outcome.child);
    Bytes shared;
    Bytes nr = env.random->bytes(kNonceSize);
    std::unique_ptr<crypto::KeyExchange> ke;
    if (child.proposal.ke) {
        const auto* kei = ke_of(p);
        if (!kei || kei->group != child.proposal.ke) {
            release_esp_spi(child.spi_in);
            return answer({notify_payload(wire::notify::invalid_ke_payload, be16(child.proposal.ke))});
        }
        ke = crypto::make_key_exchange(child.proposal.ke);
        auto s = ke ? ke->shared_secret(kei->data) : Result<Bytes>(Error{"unsupported group"});
        if (!s) {
            release_esp_spi(child.spi_in);
            return answer({notify_payload(wire::notify::invalid_syntax)});
        }
        shared = std::move(*s);
    }
    std::vector<wire::Payload> r;
    append_child_response(child, outcome.narrowed, r);
    auto tsi = std::find_if(r.begin(), r.end(), [](const wire::Payload& x) { return x.type == wire::PayloadType::ts_i; });
    tsi = r.insert(tsi, {wire::PayloadType::nonce, false, wire::NoncePayload{nr}}) + 1;
    if (ke) r.insert(tsi, {wire::PayloadType::ke, false, wire::KePayload{child.proposal.ke, ke->public_value()}});
    answer(r);
    const std::uint32_t old_id = old ? old->id : 0;
    const std::uint32_t new_id = install_child(sa, std::move(child), now, out, false, shared, *ni, nr);
    wipe(shared);
    old = old_id ? sa.find_child(old_id) : nullptr;  // install_child may have moved the children
    if (old && new_id) {
        if (old->rekeying) {  // the peer rekeys the SA we are rekeying too
            old->peer_rekey_child = new_id;
            old->peer_rekey_ni = *ni;
            old->peer_rekey_nr = nr;
        } else {
            old->replaced_by = new_id;  // the peer deletes the old one
            emit(out, Event::Kind::child_rekeyed, sa,
                 old->config->name + " " + std::to_string(old_id) + " -> " + std::to_string(new_id), now);
        }
    }
}

}  // namespace mobiked::ike
