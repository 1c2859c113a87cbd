// INFORMATIONAL exchanges (RFC 7296 §1.4): Delete of IKE and CHILD SAs, and
// liveness checks; plus the queue that keeps our requests inside a window of one.
#include <algorithm>

#include "ike/engine_impl.hpp"
#include "ike/payload_helpers.hpp"

namespace mobiked::ike {

void Engine::Impl::queue_exchange(IkeSa& sa, QueuedExchange ex, Time now, Output& out) {
    if (sa.pending || sa.state != IkeState::established) {
        if (std::find(sa.queued.begin(), sa.queued.end(), ex) == sa.queued.end()) sa.queued.push_back(std::move(ex));
        return;
    }
    build_and_send_queued(sa, ex, now, out);
}

void Engine::Impl::start_next_queued(IkeSa& sa, Time now, Output& out) {
    while (!sa.pending && !sa.queued.empty() && sa.state == IkeState::established) {
        QueuedExchange ex = std::move(sa.queued.front());
        sa.queued.erase(sa.queued.begin());
        build_and_send_queued(sa, ex, now, out);
    }
}

void Engine::Impl::send_delete_children(IkeSa& sa, std::vector<std::uint32_t> child_ids, Time now, Output& out) {
    wire::DeletePayload d{wire::ProtocolId::esp, {}};
    std::vector<std::uint32_t> present;
    for (auto id : child_ids)
        if (const ChildSa* c = sa.find_child(id)) {
            d.spis.push_back(spi_bytes(c->spi_in));
            present.push_back(id);
        }
    if (d.spis.empty()) return;
    send_request(sa, PendingRequest::Purpose::delete_child, wire::ExchangeType::informational,
                 {{wire::PayloadType::del, false, std::move(d)}}, now, out);
    sa.pending->child_ids = std::move(present);
}

void Engine::Impl::build_and_send_queued(IkeSa& sa, const QueuedExchange& ex, Time now, Output& out) {
    using P = PendingRequest::Purpose;
    switch (ex.purpose) {
        case P::delete_ike:
            // Traffic stops now; the SA itself goes when the peer answers or we give up.
            while (!sa.children.empty()) remove_child(sa, sa.children.front().id, now, out);
            [[fallthrough]];
        case P::delete_rekeyed_ike:
            log_sa(LogLevel::info, sa, std::string(ike_state_name(sa.state)) + " -> DELETING");
            sa.state = IkeState::deleting;
            send_request(sa, ex.purpose, wire::ExchangeType::informational,
                         {{wire::PayloadType::del, false, wire::DeletePayload{wire::ProtocolId::ike, {}}}}, now, out);
            return;
        case P::delete_child: {
            // Deletes queued together go in one Delete payload.
            std::vector<std::uint32_t> ids{ex.child_id};
            for (auto it = sa.queued.begin(); it != sa.queued.end();)
                if (it->purpose == P::delete_child) {
                    ids.push_back(it->child_id);
                    it = sa.queued.erase(it);
                } else {
                    ++it;
                }
            send_delete_children(sa, ids, now, out);
            return;
        }
        case P::create_child:
        case P::rekey_child:
            start_create_child(sa, ex, now, out);
            return;
        case P::rekey_ike:
            start_ike_rekey(sa, now, out);
            return;
        case P::announce_addresses:
            if (!sa.announce_due) return;  // an update carried the list meanwhile
            [[fallthrough]];
        case P::update_addresses:
        case P::return_routability:
            start_mobike_request(sa, ex.purpose, now, out);
            return;
        default:
            send_request(sa, P::liveness, wire::ExchangeType::informational, liveness_payloads(sa), now, out);
            return;
    }
}

void Engine::Impl::on_informational_response(IkeSa& sa, const PendingRequest& req, const std::vector<wire::Payload>& p,
                                             Time now, Output& out) {
    using P = PendingRequest::Purpose;
    if (req.purpose == P::delete_ike || req.purpose == P::delete_rekeyed_ike) {
        remove_sa(sa, Event::Kind::ike_deleted, req.purpose == P::delete_ike ? "deleted by us" : "rekeyed", now, out);
        return;
    }
    if (req.purpose == P::delete_child) {
        for (auto id : req.child_ids) remove_child(sa, id, now, out);
        return;
    }
    if (req.purpose == P::update_addresses || req.purpose == P::return_routability) {
        on_mobike_response(sa, req, p, now, out);
        return;
    }
    if (req.purpose == P::liveness && !sa.answered_by_probe) on_path_probe_response(sa, p, now, out);
    for (const auto& pl : p) {
        const auto* n = std::get_if<wire::NotifyPayload>(&pl.body);
        if (!n || !wire::notify::is_error(n->type)) continue;
        emit(out, Event::Kind::error_received, sa, wire::notify_name(n->type), now);
        // These mean the peer no longer considers the IKE SA usable (§2.21).
        if (n->type == wire::notify::invalid_syntax || n->type == wire::notify::authentication_failed ||
            n->type == wire::notify::unsupported_critical_payload) {
            remove_sa(sa, Event::Kind::ike_failed, "peer answered " + wire::notify_name(n->type), now, out);
            return;
        }
    }
}

void Engine::Impl::on_informational_request(IkeSa& sa, const std::vector<wire::Payload>& p, ByteView raw,
                                            std::uint32_t mid, Time now, Output& out) {
    // The initiator could not authenticate us (RFC 7296 §2.21.2): the SA is dead.
    if (wire::find_notify(p, wire::notify::authentication_failed)) {
        send_response(sa, wire::ExchangeType::informational, mid, {}, raw, out);
        remove_sa(sa, Event::Kind::ike_failed, "peer could not authenticate us (AUTHENTICATION_FAILED)", now, out);
        return;
    }
    if (on_mobike_request(sa, p, raw, mid, now, out)) return;
    bool delete_ike = false;
    wire::DeletePayload ours{wire::ProtocolId::esp, {}};
    std::vector<std::uint32_t> doomed;
    for (const auto& pl : p) {
        const auto* d = std::get_if<wire::DeletePayload>(&pl.body);
        if (!d) continue;
        if (d->protocol == wire::ProtocolId::ike) delete_ike = true;
        if (d->protocol != wire::ProtocolId::esp && d->protocol != wire::ProtocolId::ah) continue;
        for (const auto& spi : d->spis) {
            if (spi.size() != 4) continue;
            // The peer names its inbound SPI, which is our outbound one (§1.4.1).
            if (ChildSa* c = sa.find_child_by_spi_out(load_be32(spi.data()))) {
                // Both ends deleting the same SA at once: answer without
                // naming it again (RFC 7296 §1.4.1), it goes on our response.
                ours.spis.push_back(spi_bytes(c->spi_in));
                doomed.push_back(c->id);
            }
        }
    }
    if (delete_ike) {
        send_response(sa, wire::ExchangeType::informational, mid, {}, raw, out);
        // Our rekey of it in flight is forgotten (§2.25.2); a rekey of it the
        // peer made meanwhile is its successor.
        peer_ike_rekey_survives(sa, now, out);
        remove_sa(sa, Event::Kind::ike_deleted,
                  sa.rekeyed ? "rekeyed" : "deleted by peer", now, out);
        return;
    }
    std::vector<wire::Payload> r;
    if (!ours.spis.empty()) r.push_back({wire::PayloadType::del, false, std::move(ours)});
    send_response(sa, wire::ExchangeType::informational, mid, r, raw, out);
    for (auto id : doomed) remove_child(sa, id, now, out);
}

}  // namespace mobiked::ike
