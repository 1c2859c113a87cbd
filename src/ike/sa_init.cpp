// IKE_SA_INIT, both roles (RFC 7296 §1.2, §2.6 cookies, §2.23 NAT detection).
#include <algorithm>

#include "ike/engine_impl.hpp"
#include "ike/payload_helpers.hpp"
#include "ike/nat_detection.hpp"

namespace mobiked::ike {

namespace {

constexpr std::size_t kNonceSize = 32;
constexpr unsigned kMaxInitRetries = 3;  // per cause: INVALID_KE and COOKIE each



bool uses_pubkey(const ConnectionConfig& c) {
    return c.local.method == AuthMethod::pubkey || c.remote.method == AuthMethod::pubkey;
}

wire::Payload signature_hashes_notify() {
    Bytes data;
    for (auto h : crypto::supported_signature_hashes()) append(data, be16(h));
    return notify_payload(wire::notify::signature_hash_algorithms, data);
}

std::vector<std::uint16_t> parse_hashes(const wire::NotifyPayload* n) {
    std::vector<std::uint16_t> out;
    if (!n) return out;
    for (std::size_t i = 0; i + 1 < n->data.size() && out.size() < 64; i += 2)
        out.push_back(load_be16(n->data.data() + i));
    return out;
}

bool address_allowed(const std::vector<IpAddress>& allowed, const IpAddress& a) {
    return allowed.empty() || std::find(allowed.begin(), allowed.end(), a) != allowed.end();
}

bool remote_allowed(const ConnectionConfig& c, const IpAddress& a) {
    if (c.remote_hosts.empty()) return true;
    return std::any_of(c.remote_hosts.begin(), c.remote_hosts.end(), [&](const std::string& h) {
        if (h == "%any" || h == "0.0.0.0/0" || h == "::/0") return true;
        auto ip = IpAddress::parse(h);
        return ip && *ip == a;
    });
}

}  // namespace

// ---------------------------------------------------------------- initiator

Result<std::uint64_t> Engine::Impl::initiate(const ConnPtr& conn_ptr, const std::string& child,
                                             const Endpoint& local, const Endpoint& remote, Time now, Output& out,
                                             const PacketTrigger* trigger) {
    const ConnectionConfig& conn = *conn_ptr;
    auto groups = ke_groups(conn.ike_proposals);
    if (groups.empty()) return Error{"connection '" + conn.name + "' has no key exchange group"};
    ChildPtr child_cfg;
    for (const auto& c : conn.children)
        if (child.empty() || c.name == child) {
            child_cfg = ChildPtr(conn_ptr, &c);
            break;
        }
    if (!child.empty() && !child_cfg) return Error{"connection '" + conn.name + "' has no child '" + child + "'"};

    IkeSa& sa = create_sa(conn_ptr, true, now);
    sa.spi_i = allocate_ike_spi();
    by_our_spi[sa.spi_i] = sa.id;
    sa.local = local;
    sa.remote = remote;
    sa.ke_group = groups.front();
    sa.nonce_i = env.random->bytes(kNonceSize);
    sa.local_id = conn.local.id;
    sa.remote_id = conn.remote.id;
    if (child_cfg) sa.child_request = make_child_request(sa, child_cfg, trigger);
    send_init_request(sa, now, out);
    return sa.id;
}

void Engine::Impl::send_init_request(IkeSa& sa, Time now, Output& out) {
    sa.ke = crypto::make_key_exchange(sa.ke_group);
    std::vector<wire::Payload> p;
    if (!sa.cookie.empty()) p.push_back(notify_payload(wire::notify::cookie, sa.cookie));
    p.push_back({wire::PayloadType::sa, false, wire::SaPayload{sa.conn->ike_proposals}});
    p.push_back({wire::PayloadType::ke, false, wire::KePayload{sa.ke_group, sa.ke->public_value()}});
    p.push_back({wire::PayloadType::nonce, false, wire::NoncePayload{sa.nonce_i}});
    // encap_force sends a source hash that cannot match, so the peer sees a
    // NAT and both ends use UDP encapsulation (as strongSwan's encap=yes does).
    Bytes src = sa.conn->encap_force ? env.random->bytes(20) : nat_detection_hash(sa.spi_i, 0, sa.local);
    p.push_back(notify_payload(wire::notify::nat_detection_source_ip, src));
    p.push_back(notify_payload(wire::notify::nat_detection_destination_ip, nat_detection_hash(sa.spi_i, 0, sa.remote)));
    p.push_back(notify_payload(wire::notify::ikev2_fragmentation_supported));
    if (uses_pubkey(*sa.conn)) p.push_back(signature_hashes_notify());

    wire::Header h = make_header(sa, wire::ExchangeType::ike_sa_init, false, 0);
    sa.init_request = wire::encode_message(h, p);
    log_sa(LogLevel::debug, sa, "sending " + wire::describe(h, p) + " to " + sa.remote.to_string());
    PendingRequest req;
    req.message_id = 0;
    req.exchange = wire::ExchangeType::ike_sa_init;
    req.purpose = PendingRequest::Purpose::ike_sa_init;
    req.datagrams = {sa.init_request};
    req.sent_at = now;
    req.next_retransmit = now + sa.conn->retransmit.timeout;
    sa.pending = std::move(req);
    sa.next_request_id = 1;
    sa.state = IkeState::init_sent;
    send(sa, sa.init_request, out);
    reschedule(sa);
}

bool Engine::Impl::derive_keys(IkeSa& sa, ByteView shared_secret) {
    sa.prf = crypto::make_prf(sa.proposal.prf);
    auto sizes = SkCodec::key_sizes(sa.proposal);
    if (!sa.prf || !sizes) return false;
    sa.keys = crypto::derive_ike_keys(*sa.prf, sa.nonce_i, sa.nonce_r, shared_secret, sa.spi_i, sa.spi_r, *sizes);
    const auto& k = sa.keys;
    sa.codec = sa.initiator ? SkCodec::make(sa.proposal, k.sk_ei, k.sk_ai, k.sk_er, k.sk_ar)
                            : SkCodec::make(sa.proposal, k.sk_er, k.sk_ar, k.sk_ei, k.sk_ai);
    return sa.codec != nullptr;
}

void Engine::Impl::on_init_response(IkeSa& sa, const Datagram& in, Time now, Output& out) {
    auto decoded = wire::decode_message(in.data);
    if (auto* err = std::get_if<wire::DecodeError>(&decoded)) {
        log_sa(LogLevel::debug, sa, "ignoring malformed IKE_SA_INIT response: " + err->reason);
        return;  // unauthenticated: a forged reply must not kill the attempt
    }
    const auto& m = std::get<wire::Message>(decoded);
    const auto& p = m.payloads;
    log_sa(LogLevel::debug, sa, "received " + wire::describe(m) + " from " + in.remote.to_string());

    if (const auto* c = wire::find_notify(p, wire::notify::cookie)) {
        if (c->data.empty() || c->data.size() > 64 || sa.cookie == c->data || ++sa.invalid_ke_retries > 2 * kMaxInitRetries)
            return;
        sa.cookie = c->data;
        sa.pending.reset();
        send_init_request(sa, now, out);
        return;
    }
    if (const auto* n = wire::find_notify(p, wire::notify::invalid_ke_payload)) {
        auto groups = ke_groups(sa.conn->ike_proposals);
        const std::uint16_t want = n->data.size() == 2 ? load_be16(n->data.data()) : 0;
        if (want && want != sa.ke_group && std::find(groups.begin(), groups.end(), want) != groups.end() &&
            ++sa.invalid_ke_retries <= kMaxInitRetries) {
            log_sa(LogLevel::info, sa, "peer wants key exchange group " + wire::transform_name(wire::TransformType::ke, want));
            sa.ke_group = want;
            sa.pending.reset();
            send_init_request(sa, now, out);
            return;
        }
        remove_sa(sa, Event::Kind::ike_failed, "INVALID_KE_PAYLOAD for a group we do not offer", now, out);
        return;
    }
    for (const auto& pl : p)
        if (const auto* n = std::get_if<wire::NotifyPayload>(&pl.body); n && wire::notify::is_error(n->type)) {
            emit(out, Event::Kind::error_received, sa, wire::notify_name(n->type), now);
            remove_sa(sa, Event::Kind::ike_failed, "peer answered " + wire::notify_name(n->type), now, out);
            return;
        }
    const auto* sa_pl = wire::find_payload(p, wire::PayloadType::sa);
    const auto* ke_pl = wire::find_payload(p, wire::PayloadType::ke);
    const auto* nonce_pl = wire::find_payload(p, wire::PayloadType::nonce);
    const auto& hdr = m.header;
    if (!sa_pl || !ke_pl || !nonce_pl || hdr.spi_r == 0) {
        remove_sa(sa, Event::Kind::ike_failed, "IKE_SA_INIT response lacks SA, KE or nonce", now, out);
        return;
    }
    const auto& props = std::get<wire::SaPayload>(sa_pl->body).proposals;
    auto selected = props.size() == 1 ? accept_reply(sa.conn->ike_proposals, props.front()) : std::nullopt;
    const auto& ke = std::get<wire::KePayload>(ke_pl->body);
    if (!selected || selected->ke != sa.ke_group || ke.group != sa.ke_group) {
        remove_sa(sa, Event::Kind::ike_failed, "peer chose a proposal we did not offer", now, out);
        return;
    }
    auto shared = sa.ke->shared_secret(ke.data);
    if (!shared) {
        remove_sa(sa, Event::Kind::ike_failed, "invalid peer key exchange value: " + shared.error(), now, out);
        return;
    }
    sa.proposal = *selected;
    sa.nonce_r = std::get<wire::NoncePayload>(nonce_pl->body).data;
    set_responder_spi(sa, hdr.spi_r);
    sa.init_response = to_bytes(in.data);
    sa.nat_local = we_are_behind_nat(p, sa.spi_i, sa.spi_r, sa.local);
    sa.nat_remote = peer_behind_nat(p, sa.spi_i, sa.spi_r, sa.remote);
    sa.peer_signature_hashes = parse_hashes(wire::find_notify(p, wire::notify::signature_hash_algorithms));
    sa.peer_fragmentation = wire::find_notify(p, wire::notify::ikev2_fragmentation_supported) != nullptr;
    sa.peer_sent_certreq = wire::find_payload(p, wire::PayloadType::certreq) != nullptr;
    const bool ok = derive_keys(sa, *shared);
    wipe(*shared);
    if (!ok) {
        remove_sa(sa, Event::Kind::ike_failed, "cannot set up negotiated algorithms", now, out);
        return;
    }
    // Float to 4500 on a NAT, and always with MOBIKE (RFC 4555 §3.3).
    if ((sa.nat_local || sa.nat_remote || sa.conn->mobike || sa.conn->encap_force) && sa.remote.port == wire::kIkePort) {
        sa.remote.port = wire::kNatTPort;
        if (sa.local.port == wire::kIkePort) sa.local.port = wire::kNatTPort;
    }
    sa.pending.reset();
    send_auth_request(sa, now, out);
}

// ---------------------------------------------------------------- responder

void Engine::Impl::send_unprotected_error(const Datagram& in, const wire::Header& h, std::uint16_t type, Bytes data,
                                          Output& out) const {
    wire::Header r = h;
    r.flags = wire::flags::response;
    r.spi_r = 0;
    Bytes dg = wire::encode_message(r, {notify_payload(type, std::move(data))});
    out.datagrams.push_back({in.local, in.remote, std::move(dg)});
}

namespace {

struct InitRequest {
    const wire::SaPayload* sa = nullptr;
    const wire::KePayload* ke = nullptr;
    const wire::NoncePayload* nonce = nullptr;
};

std::optional<InitRequest> required_payloads(const std::vector<wire::Payload>& p) {
    const auto* sa = wire::find_payload(p, wire::PayloadType::sa);
    const auto* ke = wire::find_payload(p, wire::PayloadType::ke);
    const auto* no = wire::find_payload(p, wire::PayloadType::nonce);
    if (!sa || !ke || !no) return std::nullopt;
    return InitRequest{&std::get<wire::SaPayload>(sa->body), &std::get<wire::KePayload>(ke->body),
                       &std::get<wire::NoncePayload>(no->body)};
}

}  // namespace

void Engine::Impl::on_init_request(const Datagram& in, const wire::Header& h, Time now, Output& out) {
    // A retransmitted request gets the same response (RFC 7296 §2.1).
    auto range = half_open_by_spi_i.equal_range(h.spi_i);
    for (auto it = range.first; it != range.second; ++it)
        if (IkeSa* sa = find_by_id(it->second); sa && sa->init_request == in.data) {
            // The peer is alive and still waiting for us: keep its half-open
            // SA around, or a lossy path would make it expire mid-handshake.
            if (sa->state == IkeState::init_replied) {
                sa->delete_at = now + config.half_open_timeout;
                reschedule(*sa);
            }
            send(*sa, sa->init_response, out);
            return;
        }
    auto decoded = wire::decode_message(in.data);
    if (auto* err = std::get_if<wire::DecodeError>(&decoded)) {
        log(LogLevel::info, "invalid IKE_SA_INIT from " + in.remote.to_string() + ": " + err->reason);
        if (err->kind == wire::DecodeError::Kind::unsupported_critical_payload)
            send_unprotected_error(in, h, wire::notify::unsupported_critical_payload, {err->payload_type}, out);
        else if (err->kind == wire::DecodeError::Kind::invalid_major_version)
            send_unprotected_error(in, h, wire::notify::invalid_major_version, {}, out);
        else
            send_unprotected_error(in, h, wire::notify::invalid_syntax, {}, out);
        return;
    }
    const auto& m = std::get<wire::Message>(decoded);
    log(LogLevel::debug, "received " + wire::describe(m) + " from " + in.remote.to_string());
    auto req = required_payloads(m.payloads);
    if (!req || !h.from_initiator() || h.message_id != 0) {
        send_unprotected_error(in, h, wire::notify::invalid_syntax, {}, out);
        return;
    }
    if (half_open >= config.max_half_open) {
        log(LogLevel::debug, "half-open limit reached, dropping IKE_SA_INIT from " + in.remote.to_string());
        return;
    }
    if (auto it = half_open_by_source.find(in.remote.address);
        it != half_open_by_source.end() && it->second >= config.half_open_per_source) {
        log(LogLevel::debug, "too many half-open IKE SAs from " + in.remote.address.to_string());
        return;
    }
    if (half_open >= config.cookie_threshold) {
        const auto* c = wire::find_notify(m.payloads, wire::notify::cookie);
        if (!c || !cookies.verify(c->data, req->nonce->data, in.remote.address, h.spi_i, now, *env.random)) {
            send_unprotected_error(in, h, wire::notify::cookie,
                                   cookies.make(req->nonce->data, in.remote.address, h.spi_i, now, *env.random), out);
            return;
        }
    }
    ConnPtr conn;
    std::optional<Selected> selected;
    for (const auto& c : connections) {
        if (!address_allowed(c->local_addrs, in.local.address) || !remote_allowed(*c, in.remote.address)) continue;
        if ((selected = select_proposal(c->ike_proposals, req->sa->proposals))) {
            conn = c;
            break;
        }
    }
    if (!conn) {
        log(LogLevel::info, "no acceptable proposal from " + in.remote.to_string());
        send_unprotected_error(in, h, wire::notify::no_proposal_chosen, {}, out);
        return;
    }
    if (req->ke->group != selected->ke) {
        send_unprotected_error(in, h, wire::notify::invalid_ke_payload, be16(selected->ke), out);
        return;
    }
    auto ke = crypto::make_key_exchange(selected->ke);
    auto shared = ke ? ke->shared_secret(req->ke->data) : Result<Bytes>(Error{"unsupported group"});
    if (!shared) {
        log(LogLevel::info, "bad key exchange value from " + in.remote.to_string() + ": " + shared.error());
        send_unprotected_error(in, h, wire::notify::invalid_syntax, {}, out);
        return;
    }

    IkeSa& sa = create_sa(conn, false, now);
    sa.spi_i = h.spi_i;
    set_responder_spi(sa, allocate_ike_spi());
    sa.local = in.local;
    sa.remote = in.remote;
    sa.proposal = *selected;
    sa.proposal.spi.clear();
    sa.ke_group = selected->ke;
    sa.ke = std::move(ke);
    sa.nonce_i = req->nonce->data;
    sa.nonce_r = env.random->bytes(kNonceSize);
    sa.init_request = to_bytes(in.data);
    sa.nat_local = we_are_behind_nat(m.payloads, sa.spi_i, 0, sa.local);
    sa.nat_remote = peer_behind_nat(m.payloads, sa.spi_i, 0, sa.remote);
    sa.peer_signature_hashes = parse_hashes(wire::find_notify(m.payloads, wire::notify::signature_hash_algorithms));
    sa.peer_fragmentation = wire::find_notify(m.payloads, wire::notify::ikev2_fragmentation_supported) != nullptr;
    sa.peer_sent_certreq = wire::find_payload(m.payloads, wire::PayloadType::certreq) != nullptr;
    const bool ok = derive_keys(sa, *shared);
    wipe(*shared);
    if (!ok) {
        remove_sa(sa, Event::Kind::ike_failed, "cannot set up negotiated algorithms", now, out);
        send_unprotected_error(in, h, wire::notify::no_proposal_chosen, {}, out);
        return;
    }

    std::vector<wire::Payload> p;
    p.push_back({wire::PayloadType::sa, false, wire::SaPayload{{sa.proposal.to_proposal(wire::ProtocolId::ike)}}});
    p.push_back({wire::PayloadType::ke, false, wire::KePayload{sa.ke_group, sa.ke->public_value()}});
    p.push_back({wire::PayloadType::nonce, false, wire::NoncePayload{sa.nonce_r}});
    Bytes src = conn->encap_force ? env.random->bytes(20) : nat_detection_hash(sa.spi_i, sa.spi_r, sa.local);
    p.push_back(notify_payload(wire::notify::nat_detection_source_ip, src));
    p.push_back(notify_payload(wire::notify::nat_detection_destination_ip, nat_detection_hash(sa.spi_i, sa.spi_r, sa.remote)));
    if (conn->remote.method == AuthMethod::pubkey) {
        Bytes hashes;
        for (const auto& ca : conn->remote.trust_anchors) append(hashes, ca.spki_sha1());
        p.push_back({wire::PayloadType::certreq, false, wire::CertPayload{wire::cert_encoding::x509_signature, hashes}});
    }
    p.push_back(notify_payload(wire::notify::ikev2_fragmentation_supported));
    if (uses_pubkey(*conn)) p.push_back(signature_hashes_notify());

    wire::Header r = make_header(sa, wire::ExchangeType::ike_sa_init, true, 0);
    sa.init_response = wire::encode_message(r, p);
    log_sa(LogLevel::debug, sa, "sending " + wire::describe(r, p) + " to " + sa.remote.to_string());
    sa.state = IkeState::init_replied;
    sa.next_peer_request_id = 1;
    sa.delete_at = now + config.half_open_timeout;
    count_half_open(sa, +1);
    half_open_by_spi_i.emplace(sa.spi_i, sa.id);
    send(sa, sa.init_response, out);
    reschedule(sa);
}

}  // namespace mobiked::ike
