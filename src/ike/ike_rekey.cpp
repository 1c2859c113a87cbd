// Rekeying the IKE SA (RFC 7296 §1.3.2, §2.18): a CREATE_CHILD_SA carrying an
// IKE proposal with the new SPI, fresh nonces and a new key exchange. The
// successor takes over every CHILD_SA and the MOBIKE/NAT state; the one who
// started the rekey deletes the old IKE SA and becomes the new SA's original
// initiator.
#include <algorithm>

#include "ike/engine_impl.hpp"
#include "ike/payload_helpers.hpp"

namespace mobiked::ike {

namespace {

constexpr std::size_t kNonceSize = 32;

bool lower(const Bytes& a, const Bytes& b) { return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()); }
const Bytes& lowest(const Bytes& a, const Bytes& b) { return lower(a, b) ? a : b; }


}  // namespace

IkeSa& Engine::Impl::make_successor(IkeSa& old, bool initiator, std::uint64_t spi_i, std::uint64_t spi_r,
                                    const Selected& prop, Time now, bool inherit) {
    IkeSa& n = create_sa(old.conn, initiator, now);
    n.spi_i = spi_i;
    n.spi_r = spi_r;
    by_our_spi[n.our_spi()] = n.id;
    n.state = IkeState::established;
    n.established_at = now;
    n.local = old.local;
    n.remote = old.remote;
    n.proposal = prop;
    n.local_id = old.local_id;
    n.remote_id = old.remote_id;
    n.nat_local = old.nat_local;
    n.nat_remote = old.nat_remote;
    n.peer_mobike = old.peer_mobike;
    n.mobike_version = old.mobike_version;
    n.peer_addresses = old.peer_addresses;
    n.peer_fragmentation = old.peer_fragmentation;
    n.virtual_ips = old.virtual_ips;
    n.peer_signature_hashes = old.peer_signature_hashes;
    if (n.conn->ike_lifetimes.rekey_time > Duration::zero()) n.rekey_at = now + jittered(n.conn->ike_lifetimes.rekey_time);
    if (inherit) inherit_ike_sa(old, n, now);
    return n;
}

void Engine::Impl::inherit_ike_sa(IkeSa& old, IkeSa& n, Time /*now*/) {
    n.leased_from = std::move(old.leased_from);  // the lease follows; the old SA must not free it
    old.leased_from.clear();
    n.children = std::move(old.children);
    old.children.clear();
    old.rekeyed = true;
    rename_reauth(old.id, n.id);  // reauth_time counts from the authentication, not the rekey
}

void Engine::Impl::peer_ike_rekey_survives(IkeSa& old, Time now, Output& out) {
    auto it = ike_rekey_collisions.find(old.id);
    if (it == ike_rekey_collisions.end()) return;
    IkeSa* theirs = find_by_id(it->second.peer_sa);
    ike_rekey_collisions.erase(it);
    if (!theirs || old.rekeyed) return;
    // The peer made it, so the peer deletes the old SA (§2.8).
    inherit_ike_sa(old, *theirs, now);
    log_sa(LogLevel::info, old, "rekeyed by peer as IKE SA " + std::to_string(theirs->id));
    emit(out, Event::Kind::ike_rekeyed, *theirs, std::to_string(old.id), now);
    reschedule(*theirs);
    reschedule(old);
}

void Engine::Impl::start_ike_rekey(IkeSa& sa, Time now, Output& out) {
    if (sa.rekeyed) return;
    CreateChildContext ctx;
    ctx.purpose = PendingRequest::Purpose::rekey_ike;
    ctx.new_ike_spi = allocate_ike_spi();
    by_our_spi[ctx.new_ike_spi] = 0;  // reserved until the successor exists
    ctx.nonce = env.random->bytes(kNonceSize);
    ctx.ke_group = sa.proposal.ke;
    ctx.ke = crypto::make_key_exchange(ctx.ke_group);
    wire::SaPayload proposals{sa.conn->ike_proposals};
    for (auto& p : proposals.proposals) p.spi = spi8(ctx.new_ike_spi);
    std::vector<wire::Payload> p;
    p.push_back({wire::PayloadType::sa, false, std::move(proposals)});
    p.push_back({wire::PayloadType::nonce, false, wire::NoncePayload{ctx.nonce}});
    p.push_back({wire::PayloadType::ke, false, wire::KePayload{ctx.ke_group, ctx.ke->public_value()}});
    sa.create_child = std::move(ctx);
    send_request(sa, PendingRequest::Purpose::rekey_ike, wire::ExchangeType::create_child_sa, p, now, out);
}

void Engine::Impl::on_ike_rekey_response(IkeSa& sa, CreateChildContext& ctx, const std::vector<wire::Payload>& p,
                                         Time now, Output& out) {
    by_our_spi.erase(ctx.new_ike_spi);
    auto fail = [&](const std::string& why) {
        log_sa(LogLevel::warning, sa, "IKE SA rekey failed: " + why);
        sa.rekey_at = now + std::chrono::seconds(10) + Duration(env.random->u32() % 5'000'000'000ull);
        reschedule(sa);
        peer_ike_rekey_survives(sa, now, out);  // the peer's rekey of it, if any, is the only one
    };
    for (const auto& pl : p)
        if (const auto* n = std::get_if<wire::NotifyPayload>(&pl.body); n && wire::notify::is_error(n->type))
            return fail("peer answered " + wire::notify_name(n->type));
    const auto* sa_pl = wire::find_payload(p, wire::PayloadType::sa);
    const auto* nonce_pl = wire::find_payload(p, wire::PayloadType::nonce);
    const auto* ke_pl = wire::find_payload(p, wire::PayloadType::ke);
    if (!sa_pl || !nonce_pl || !ke_pl) return fail("response lacks SA, nonce or KE");
    const auto& props = std::get<wire::SaPayload>(sa_pl->body).proposals;
    auto sel = props.size() == 1 ? accept_reply(sa.conn->ike_proposals, props.front()) : std::nullopt;
    const auto& ke = std::get<wire::KePayload>(ke_pl->body);
    if (!sel || sel->spi.size() != 8 || sel->ke != ctx.ke_group || ke.group != ctx.ke_group)
        return fail("peer chose an IKE proposal we did not offer");
    auto shared = ctx.ke->shared_secret(ke.data);
    if (!shared) return fail("invalid key exchange value: " + shared.error());
    const std::uint64_t peer_spi = load_be64(sel->spi.data());
    const Bytes& nr = std::get<wire::NoncePayload>(nonce_pl->body).data;

    const bool collision = ike_rekey_collisions.contains(sa.id);
    IkeSa& n = make_successor(sa, true, ctx.new_ike_spi, peer_spi, *sel, now, !collision);
    n.nonce_i = ctx.nonce;
    n.nonce_r = nr;
    n.prf = crypto::make_prf(sel->prf);
    auto sizes = SkCodec::key_sizes(*sel);
    if (!n.prf || !sizes) return fail("unsupported algorithms");
    n.keys = crypto::derive_rekeyed_ike_keys(*sa.prf, sa.keys.sk_d, *n.prf, *shared, n.nonce_i, n.nonce_r, n.spi_i,
                                             n.spi_r, *sizes);
    wipe(*shared);
    n.codec = SkCodec::make(*sel, n.keys.sk_ei, n.keys.sk_ai, n.keys.sk_er, n.keys.sk_ar);
    forget_handshake_secrets(n);
    if (collision) {
        // §2.8.2: both exchanges made an IKE SA. The one made by the exchange
        // with the lowest of the four nonces is redundant and is deleted by
        // whoever made it; the other inherits the CHILD_SAs, and its maker
        // deletes the old SA.
        auto c = std::move(ike_rekey_collisions.at(sa.id));
        ike_rekey_collisions.erase(sa.id);
        IkeSa* theirs = find_by_id(c.peer_sa);
        if (theirs && lower(lowest(ctx.nonce, nr), lowest(c.ni, c.nr))) {
            log_sa(LogLevel::info, sa, "simultaneous IKE SA rekey: ours (IKE SA " + std::to_string(n.id) +
                                           ") is redundant, IKE SA " + std::to_string(theirs->id) + " survives");
            inherit_ike_sa(sa, *theirs, now);
            emit(out, Event::Kind::ike_rekeyed, *theirs, std::to_string(sa.id), now);
            reschedule(*theirs);
            n.rekeyed = true;  // nothing to inherit: only its Delete remains
            reschedule(n);
            reschedule(sa);  // the peer deletes the old SA
            queue_exchange(n, PendingRequest::Purpose::delete_rekeyed_ike, now, out);
            return;
        }
        if (theirs) {
            log_sa(LogLevel::info, sa, "simultaneous IKE SA rekey: ours (IKE SA " + std::to_string(n.id) +
                                           ") survives, the peer deletes IKE SA " + std::to_string(theirs->id));
            theirs->rekeyed = true;
            reschedule(*theirs);
        }
        inherit_ike_sa(sa, n, now);
    }
    log_sa(LogLevel::info, sa, "rekeyed as IKE SA " + std::to_string(n.id));
    emit(out, Event::Kind::ike_rekeyed, n, std::to_string(sa.id), now);
    reschedule(n);
    queue_exchange(sa, PendingRequest::Purpose::delete_rekeyed_ike, now, out);
}

void Engine::Impl::on_ike_rekey_request(IkeSa& sa, const std::vector<wire::Payload>& p, ByteView raw,
                                        std::uint32_t mid, Time now, Output& out) {
    auto answer = [&](std::vector<wire::Payload> r) {
        send_response(sa, wire::ExchangeType::create_child_sa, mid, r, raw, out);
    };
    // §2.25: an IKE SA we are closing (or have replaced), a CHILD_SA being
    // created, rekeyed or closed, make this a retry-later. A rekey of the IKE
    // SA of ours in flight does not (§2.25.2): both complete, and once ours
    // does the nonces pick the survivor (§2.8.2).
    using P = PendingRequest::Purpose;
    const bool colliding = sa.create_child && sa.create_child->purpose == P::rekey_ike;
    const bool closing = sa.rekeyed || ike_rekey_collisions.contains(sa.id) ||
                         (sa.pending && (sa.pending->purpose == P::delete_ike || sa.pending->purpose == P::delete_rekeyed_ike));
    const bool child_busy = (sa.create_child && !colliding) || (sa.pending && sa.pending->purpose == P::delete_child);
    if (closing || child_busy) return answer({notify_payload(wire::notify::temporary_failure)});
    const auto& props = std::get<wire::SaPayload>(wire::find_payload(p, wire::PayloadType::sa)->body).proposals;
    const auto* ke_pl = wire::find_payload(p, wire::PayloadType::ke);
    const Bytes& ni = std::get<wire::NoncePayload>(wire::find_payload(p, wire::PayloadType::nonce)->body).data;
    auto sel = select_proposal(sa.conn->ike_proposals, props);
    if (!sel || sel->spi.size() != 8) return answer({notify_payload(wire::notify::no_proposal_chosen)});
    if (!ke_pl || std::get<wire::KePayload>(ke_pl->body).group != sel->ke)
        return answer({notify_payload(wire::notify::invalid_ke_payload, be16(sel->ke))});
    auto ke = crypto::make_key_exchange(sel->ke);
    auto shared = ke ? ke->shared_secret(std::get<wire::KePayload>(ke_pl->body).data) : Result<Bytes>(Error{"group"});
    if (!shared) return answer({notify_payload(wire::notify::invalid_syntax)});
    const std::uint64_t peer_spi = load_be64(sel->spi.data());
    const std::uint64_t our_spi = allocate_ike_spi();
    Bytes nr = env.random->bytes(kNonceSize);
    Selected reply = *sel;
    reply.spi = spi8(our_spi);
    answer({{wire::PayloadType::sa, false, wire::SaPayload{{reply.to_proposal(wire::ProtocolId::ike)}}},
            {wire::PayloadType::nonce, false, wire::NoncePayload{nr}},
            {wire::PayloadType::ke, false, wire::KePayload{sel->ke, ke->public_value()}}});

    IkeSa& n = make_successor(sa, false, peer_spi, our_spi, reply, now, !colliding);
    n.nonce_i = ni;
    n.nonce_r = nr;
    n.prf = crypto::make_prf(sel->prf);
    auto sizes = SkCodec::key_sizes(*sel);
    if (!n.prf || !sizes) {
        remove_sa(n, Event::Kind::ike_failed, "unsupported algorithms in IKE rekey", now, out);
        return;
    }
    n.keys = crypto::derive_rekeyed_ike_keys(*sa.prf, sa.keys.sk_d, *n.prf, *shared, n.nonce_i, n.nonce_r, n.spi_i,
                                             n.spi_r, *sizes);
    wipe(*shared);
    n.codec = SkCodec::make(*sel, n.keys.sk_er, n.keys.sk_ar, n.keys.sk_ei, n.keys.sk_ai);
    forget_handshake_secrets(n);
    if (colliding) {
        log_sa(LogLevel::info, sa, "simultaneous IKE SA rekey: the peer's is IKE SA " + std::to_string(n.id));
        ike_rekey_collisions[sa.id] = {n.id, ni, nr};  // n's copies went with the handshake secrets
        reschedule(n);
        return;
    }
    log_sa(LogLevel::info, sa, "rekeyed by peer as IKE SA " + std::to_string(n.id));
    emit(out, Event::Kind::ike_rekeyed, n, std::to_string(sa.id), now);
    reschedule(n);
}

}  // namespace mobiked::ike
