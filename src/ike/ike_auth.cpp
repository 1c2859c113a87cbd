// IKE_AUTH, both roles (RFC 7296 §1.2, §2.15), with the first CHILD_SA.
#include <algorithm>

#include "ike/authenticator.hpp"
#include "ike/engine_impl.hpp"
#include "ike/payload_helpers.hpp"

namespace mobiked::ike {

namespace {


// Our identity: configured, or our IKE address when none is.
Identity effective_local_id(const IkeSa& sa) {
    if (!sa.conn->local.id.any && !sa.conn->local.id.data.empty()) return sa.conn->local.id;
    const auto& a = sa.local.address;
    return Identity{a.is_v4() ? wire::IdType::ipv4_addr : wire::IdType::ipv6_addr, to_bytes(a.bytes()), false};
}

void append_certificates(const IkeSa& sa, std::vector<wire::Payload>& p) {
    if (sa.conn->local.method != AuthMethod::pubkey) return;
    for (const auto& c : sa.conn->local.certificates)
        p.push_back({wire::PayloadType::cert, false, wire::CertPayload{wire::cert_encoding::x509_signature, c.der()}});
}

void append_certreq(const IkeSa& sa, std::vector<wire::Payload>& p) {
    if (sa.conn->remote.method != AuthMethod::pubkey || sa.conn->remote.trust_anchors.empty()) return;
    Bytes hashes;
    for (const auto& ca : sa.conn->remote.trust_anchors) append(hashes, ca.spki_sha1());
    p.push_back({wire::PayloadType::certreq, false, wire::CertPayload{wire::cert_encoding::x509_signature, hashes}});
}

std::vector<crypto::Certificate> peer_certificates(const std::vector<wire::Payload>& p, std::string& why) {
    std::vector<crypto::Certificate> out;
    for (const auto& pl : p) {
        const auto* c = std::get_if<wire::CertPayload>(&pl.body);
        if (!c || pl.type != wire::PayloadType::cert) continue;
        if (c->encoding != wire::cert_encoding::x509_signature) continue;
        auto cert = crypto::Certificate::from_der(c->data);
        if (!cert) {
            why = "unparsable certificate: " + cert.error();
            return {};
        }
        out.push_back(*cert);
        if (out.size() > 8) break;  // a longer chain is not one we would trust
    }
    return out;
}

const wire::IdPayload* id_payload(const std::vector<wire::Payload>& p, wire::PayloadType t) {
    const auto* pl = wire::find_payload(p, t);
    return pl ? &std::get<wire::IdPayload>(pl->body) : nullptr;
}

}  // namespace

// ---------------------------------------------------------------- initiator

void Engine::Impl::send_auth_request(IkeSa& sa, Time now, Output& out) {
    sa.local_id = effective_local_id(sa);
    const wire::IdPayload idi = sa.local_id.to_payload();
    std::vector<wire::Payload> p;
    p.push_back({wire::PayloadType::id_i, false, idi});
    append_certificates(sa, p);
    // INITIAL_CONTACT says "forget my other SAs" (RFC 7296 §2.4): only true
    // for our first IKE SA of this connection to this peer.
    if (!has_other_sa(sa)) p.push_back(notify_payload(wire::notify::initial_contact));
    append_certreq(sa, p);
    if (!sa.conn->remote.id.any && !sa.conn->remote.id.data.empty() && !sa.conn->remote.id.is_pattern())
        p.push_back({wire::PayloadType::id_r, false, sa.conn->remote.id.to_payload()});
    auto auth = make_auth(sa, config, idi);
    if (!auth) {
        remove_sa(sa, Event::Kind::ike_failed, "cannot authenticate: " + auth.error(), now, out);
        return;
    }
    p.push_back({wire::PayloadType::auth, false, *auth});
    append_cp_request(sa, p);
    if (sa.child_request) append_child_request(*sa.child_request, p, false);
    if (!mobike_offer(sa).empty()) {
        append_mobike_supported(sa, p);  // with a Version parameter when we speak MOBIKEv2
        append_our_addresses(sa, p, false);
    }
    sa.state = IkeState::auth_sent;
    send_request(sa, PendingRequest::Purpose::ike_auth, wire::ExchangeType::ike_auth, p, now, out);
}

void Engine::Impl::on_auth_response(IkeSa& sa, const std::vector<wire::Payload>& p, Time now, Output& out) {
    const auto* idr = id_payload(p, wire::PayloadType::id_r);
    const auto* auth_pl = wire::find_payload(p, wire::PayloadType::auth);
    if (!idr || !auth_pl) {
        if (const auto* uv = wire::find_notify(p, wire::notify::mobike_unsupported_version)) {
            // MOBIKEv2: no common version; start over with one the responder listed.
            emit(out, Event::Kind::error_received, sa, wire::notify_name(uv->type), now);
            if (restart_for_mobike_version(sa, *uv, now, out)) return;
        }
        std::string why = "IKE_AUTH response without IDr/AUTH";
        for (const auto& pl : p)
            if (const auto* n = std::get_if<wire::NotifyPayload>(&pl.body); n && wire::notify::is_error(n->type)) {
                why = "peer answered " + wire::notify_name(n->type);
                emit(out, Event::Kind::error_received, sa, wire::notify_name(n->type), now);
            }
        remove_sa(sa, Event::Kind::ike_failed, why, now, out);
        return;
    }
    const Identity peer = Identity::from_payload(*idr);
    if (!sa.conn->remote.id.matches(peer)) {
        abandon_with_auth_failed(sa, "peer identity '" + peer.to_string() + "' is not the one configured", now, out);
        return;
    }
    sa.remote_id = peer;
    std::string why;
    auto certs = peer_certificates(p, why);
    Status st = why.empty() ? verify_peer_auth(sa, config, *idr, std::get<wire::AuthPayload>(auth_pl->body), certs)
                            : Status(Error{why});
    if (!st) {
        abandon_with_auth_failed(sa, "authentication of peer failed: " + st.error(), now, out);
        return;
    }
    sa.mobike_version = accept_mobike_answer(sa, wire::find_notify(p, wire::notify::mobike_supported));
    sa.peer_mobike = sa.mobike_version != 0;
    mark_established(sa, now, out);
    if (mobike_active(sa)) {
        record_peer_addresses(sa, p, sa.remote.address, now, out);
        seed_natd_seen(sa);
    }
    accept_cp_reply(sa, p, now, out);
    if (sa.child_request) {
        ChildRequest req = std::move(*sa.child_request);
        sa.child_request.reset();
        auto child = accept_child_response(sa, req, p, why, now, false);
        if (child) {
            install_child(sa, std::move(*child), now, out, true);
        } else {
            release_esp_spi(req.spi_in);
            emit(out, Event::Kind::child_failed, sa, req.config->name + ": " + why, now);
            log_sa(LogLevel::warning, sa, "CHILD_SA " + req.config->name + " failed: " + why);
        }
    }
    forget_handshake_secrets(sa);
}

// ---------------------------------------------------------------- responder

namespace {

bool local_id_matches(const ConnectionConfig& c, const wire::IdPayload* idr) {
    if (!idr || c.local.id.any || c.local.id.data.empty()) return true;
    return c.local.id.matches(Identity::from_payload(*idr));
}

}  // namespace

void Engine::Impl::on_auth_request(IkeSa& sa, const Datagram& in, const std::vector<wire::Payload>& p, Time now,
                                   Output& out) {
    const auto* idi = id_payload(p, wire::PayloadType::id_i);
    const auto* idr = id_payload(p, wire::PayloadType::id_r);
    const auto* auth_pl = wire::find_payload(p, wire::PayloadType::auth);
    auto fail = [&](const std::string& why) {
        send_response(sa, wire::ExchangeType::ike_auth, 1, {notify_payload(wire::notify::authentication_failed)},
                      in.data, out);
        remove_sa(sa, Event::Kind::ike_failed, why, now, out);
    };
    if (!idi || !auth_pl) return fail(auth_pl ? "IKE_AUTH without IDi" : "EAP is not supported yet");
    const Identity peer = Identity::from_payload(*idi);
    // The identity picks the connection among those that accepted IKE_SA_INIT
    // (the PAD link of RFC 4301 §4.4.3): same addresses, same IKE proposal.
    if (!sa.conn->remote.id.matches(peer) || !local_id_matches(*sa.conn, idr)) {
        ConnPtr better;
        for (const auto& c : connections)
            if (c->remote.id.matches(peer) && local_id_matches(*c, idr) &&
                select_proposal(c->ike_proposals, {sa.proposal.to_proposal(wire::ProtocolId::ike)})) {
                better = c;
                break;
            }
        if (!better) return fail("no connection accepts peer identity '" + peer.to_string() + "'");
        sa.conn = better;
    }
    sa.remote_id = peer;
    sa.local_id = effective_local_id(sa);
    sa.peer_sent_certreq = sa.peer_sent_certreq || wire::find_payload(p, wire::PayloadType::certreq);
    std::string why;
    auto certs = peer_certificates(p, why);
    Status st = why.empty() ? verify_peer_auth(sa, config, *idi, std::get<wire::AuthPayload>(auth_pl->body), certs)
                            : Status(Error{why});
    if (!st) return fail("authentication of '" + peer.to_string() + "' failed: " + st.error());

    const wire::IdPayload our_id = sa.local_id.to_payload();
    auto auth = make_auth(sa, config, our_id);
    if (!auth) return fail("cannot authenticate ourselves: " + auth.error());
    std::vector<wire::Payload> r;
    r.push_back({wire::PayloadType::id_r, false, our_id});
    append_certificates(sa, r);
    r.push_back({wire::PayloadType::auth, false, *auth});
    sa.peer_mobike = false;
    if (const auto* ms = wire::find_notify(p, wire::notify::mobike_supported); ms && sa.conn->mobike) {
        if (!answer_mobike_supported(sa, *ms, r)) {
            // MOBIKE_UNSUPPORTED_VERSION is an error notify: IKE_AUTH fails.
            send_response(sa, wire::ExchangeType::ike_auth, 1, r, in.data, out);
            remove_sa(sa, Event::Kind::ike_failed, "no MOBIKE version in common with the peer", now, out);
            return;
        }
        if (sa.peer_mobike) {
            append_our_addresses(sa, r, false);
            record_peer_addresses(sa, p, sa.remote.address, now, out);
        }
    }

    std::optional<ChildSa> child;
    if (!answer_cp_request(sa, p, r)) {
        // Pool exhausted: the IKE SA stands, but no CHILD_SA without an address (§3.15.4).
        log_sa(LogLevel::warning, sa, "no inner address left for '" + peer.to_string() + "'");
        r.push_back(notify_payload(wire::notify::internal_address_failure));
    } else if (wire::find_payload(p, wire::PayloadType::sa)) {
        ChildOutcome outcome = negotiate_child(sa, p, now, false);
        if (outcome.child) {
            append_child_response(*outcome.child, outcome.narrowed, r);
            child = std::move(outcome.child);
        } else {
            r.push_back(notify_payload(outcome.error_notify));
        }
    }
    send_response(sa, wire::ExchangeType::ike_auth, 1, r, in.data, out);
    mark_established(sa, now, out);
    if (wire::find_notify(p, wire::notify::initial_contact)) drop_stale_sas(sa, now, out);
    if (child) install_child(sa, std::move(*child), now, out, false);
    forget_handshake_secrets(sa);
}

}  // namespace mobiked::ike
