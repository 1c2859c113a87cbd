// MOBIKE (RFC 4555): moving an IKE SA and its CHILD_SAs to other addresses.
//
// Only the original initiator decides the path and sends
// UPDATE_SA_ADDRESSES (§3.5); the responder follows the addresses of the IP
// header carrying it, after a return-routability check (COOKIE2) when the
// peer's address changed, so a forged move cannot redirect ESP at a victim.
// Both sides answer probes (INFORMATIONAL with NAT_DETECTION_* / COOKIE2) on
// whatever path they arrive.
#include <algorithm>

#include "ike/engine_impl.hpp"
#include "ike/payload_helpers.hpp"
#include "ike/nat_detection.hpp"

namespace mobiked::ike {

namespace {

constexpr std::size_t kCookie2Size = 16;


void append_nat_detection(const IkeSa& sa, const Endpoint& local, const Endpoint& remote,
                          std::vector<wire::Payload>& p) {
    p.push_back(notify_payload(wire::notify::nat_detection_source_ip, nat_detection_hash(sa.spi_i, sa.spi_r, local)));
    p.push_back(notify_payload(wire::notify::nat_detection_destination_ip, nat_detection_hash(sa.spi_i, sa.spi_r, remote)));
}

}  // namespace

bool Engine::Impl::mobike_active(const IkeSa& sa) const { return sa.peer_mobike && sa.conn->mobike; }

void Engine::Impl::record_peer_addresses(IkeSa& sa, const std::vector<wire::Payload>& p) {
    const bool none = wire::find_notify(p, wire::notify::no_additional_addresses) != nullptr;
    std::vector<IpAddress> list;
    for (const auto& pl : p) {
        const auto* n = std::get_if<wire::NotifyPayload>(&pl.body);
        if (!n || (n->type != wire::notify::additional_ip4_address && n->type != wire::notify::additional_ip6_address))
            continue;
        if (auto a = IpAddress::from_bytes(n->data); a && list.size() < 32) list.push_back(*a);
    }
    if (none || !list.empty()) sa.peer_addresses = std::move(list);
}

void Engine::Impl::commit_move(IkeSa& sa, Time now, Output& out) {
    const bool encap = sa.nat_local || sa.nat_remote || sa.conn->encap_force;
    out.commands.push_back(UpdateSaAddresses{sa.id, sa.local, sa.remote, encap});
    emit(out, Event::Kind::ike_moved, sa, sa.local.to_string() + " <-> " + sa.remote.to_string(), now);
    log_sa(LogLevel::info, sa, "moved to " + sa.local.to_string() + " <-> " + sa.remote.to_string() +
                                   (sa.nat_local || sa.nat_remote ? " (NAT)" : ""));
}

// Handles the MOBIKE parts of an INFORMATIONAL request; true if it answered.
bool Engine::Impl::on_mobike_request(IkeSa& sa, const std::vector<wire::Payload>& p, ByteView raw, std::uint32_t mid,
                                     Time now, Output& out) {
    if (!mobike_active(sa)) return false;
    record_peer_addresses(sa, p);
    const auto* update = wire::find_notify(p, wire::notify::update_sa_addresses);
    const auto* cookie2 = wire::find_notify(p, wire::notify::cookie2);
    const bool natd = wire::find_notify(p, wire::notify::nat_detection_source_ip) != nullptr;
    sa.last_request_update = update != nullptr;
    if (!update && !cookie2 && !natd) return false;
    const Endpoint local = sa.request_local, remote = sa.request_remote;
    std::vector<wire::Payload> r;
    if (update && !sa.initiator && wire::find_notify(p, wire::notify::no_nats_allowed) &&
        (peer_behind_nat(p, sa.spi_i, sa.spi_r, remote) || we_are_behind_nat(p, sa.spi_i, sa.spi_r, local))) {
        send_response(sa, wire::ExchangeType::informational, mid,
                      {notify_payload(wire::notify::unexpected_nat_detected)}, raw, out);
        return true;
    }
    if (natd) append_nat_detection(sa, local, remote, r);
    if (cookie2 && !cookie2->data.empty() && cookie2->data.size() <= 64)
        r.push_back(notify_payload(wire::notify::cookie2, cookie2->data));
    send_response(sa, wire::ExchangeType::informational, mid, r, raw, out);
    // Only the original initiator moves the SA (RFC 4555 §3.5).
    if (!update || sa.initiator) return true;
    const bool peer_address_changed = remote.address != sa.remote.address;
    sa.local = local;
    sa.remote = remote;
    if (natd) {
        sa.nat_remote = peer_behind_nat(p, sa.spi_i, sa.spi_r, remote);
        sa.nat_local = we_are_behind_nat(p, sa.spi_i, sa.spi_r, local);
    }
    if (peer_address_changed && !sa.children.empty()) {
        // Keep ESP on the verified path until the new one proves reachable.
        queue_exchange(sa, PendingRequest::Purpose::return_routability, now, out);
    } else {
        commit_move(sa, now, out);
    }
    return true;
}

void Engine::Impl::start_mobike_request(IkeSa& sa, PendingRequest::Purpose purpose, Time now, Output& out) {
    std::vector<wire::Payload> p;
    if (purpose == PendingRequest::Purpose::update_addresses) p.push_back(notify_payload(wire::notify::update_sa_addresses));
    if (purpose == PendingRequest::Purpose::update_addresses) append_nat_detection(sa, sa.local, sa.remote, p);
    sa.cookie2 = env.random->bytes(kCookie2Size);
    p.push_back(notify_payload(wire::notify::cookie2, sa.cookie2));
    send_request(sa, purpose, wire::ExchangeType::informational, p, now, out);
}

void Engine::Impl::on_mobike_response(IkeSa& sa, const PendingRequest& req, const std::vector<wire::Payload>& p,
                                      Time now, Output& out) {
    const auto* echo = wire::find_notify(p, wire::notify::cookie2);
    if (!echo || sa.cookie2.empty() || !equal_ct(echo->data, sa.cookie2)) {
        // RFC 4555 §3.5: without the right COOKIE2 the path is not proven.
        log_sa(LogLevel::warning, sa, "COOKIE2 missing or wrong in answer; path not confirmed");
        return;
    }
    sa.cookie2.clear();
    for (const auto& pl : p)
        if (const auto* n = std::get_if<wire::NotifyPayload>(&pl.body); n && wire::notify::is_error(n->type)) {
            emit(out, Event::Kind::error_received, sa, wire::notify_name(n->type), now);
            log_sa(LogLevel::warning, sa, "address update refused: " + wire::notify_name(n->type));
            return;
        }
    if (req.purpose == PendingRequest::Purpose::update_addresses && wire::find_notify(p, wire::notify::nat_detection_source_ip)) {
        sa.nat_local = we_are_behind_nat(p, sa.spi_i, sa.spi_r, sa.local);
        sa.nat_remote = peer_behind_nat(p, sa.spi_i, sa.spi_r, sa.remote);
    }
    commit_move(sa, now, out);
    if (sa.update_again) {
        sa.update_again = false;
        queue_exchange(sa, PendingRequest::Purpose::update_addresses, now, out);
    }
}

Status Engine::Impl::move(IkeSa& sa, const Endpoint& local, const Endpoint& remote, Time now, Output& out) {
    if (!mobike_active(sa)) return Error{"MOBIKE was not negotiated on IKE SA " + std::to_string(sa.id)};
    if (!sa.initiator) return Error{"only the original initiator moves an IKE SA (RFC 4555 §3.5)"};
    if (sa.local == local && sa.remote == remote) return {};
    // Retransmissions of whatever is in flight go out on the new path too.
    sa.local = local;
    sa.remote = remote;
    if (sa.pending && sa.pending->purpose == PendingRequest::Purpose::update_addresses) {
        sa.update_again = true;  // superseded: send a fresh update once this one is answered
        return {};
    }
    queue_exchange(sa, PendingRequest::Purpose::update_addresses, now, out);
    reschedule(sa);
    return {};
}

}  // namespace mobiked::ike
