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
// Bounds on address lists: what we keep of a peer's, what we announce.
constexpr std::size_t kMaxPeerAddresses = 32;
constexpr std::size_t kMaxAnnounced = 16;

bool is_link_local(const IpAddress& a) {
    const auto b = a.bytes();
    return !a.is_v4() && b.size() == 16 && b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}

std::string list_text(const std::vector<IpAddress>& l) {
    std::string s;
    for (const auto& a : l) s += (s.empty() ? "" : " ") + a.to_string();
    return s.empty() ? "none" : s;
}


void append_nat_detection(const IkeSa& sa, const Endpoint& local, const Endpoint& remote,
                          std::vector<wire::Payload>& p) {
    p.push_back(notify_payload(wire::notify::nat_detection_source_ip, nat_detection_hash(sa.spi_i, sa.spi_r, local)));
    p.push_back(notify_payload(wire::notify::nat_detection_destination_ip, nat_detection_hash(sa.spi_i, sa.spi_r, remote)));
}

}  // namespace

bool Engine::Impl::mobike_active(const IkeSa& sa) const { return sa.peer_mobike && sa.conn->mobike; }

void Engine::Impl::record_peer_addresses(IkeSa& sa, const std::vector<wire::Payload>& p, const IpAddress& sender,
                                         Time now, Output& out) {
    const bool none = wire::find_notify(p, wire::notify::no_additional_addresses) != nullptr;
    std::vector<IpAddress> list{sender};
    bool announced = none;
    for (const auto& pl : p) {
        const auto* n = std::get_if<wire::NotifyPayload>(&pl.body);
        if (!n || (n->type != wire::notify::additional_ip4_address && n->type != wire::notify::additional_ip6_address))
            continue;
        announced = true;
        auto a = IpAddress::from_bytes(n->data);
        if (a && list.size() < kMaxPeerAddresses && std::find(list.begin(), list.end(), *a) == list.end())
            list.push_back(*a);
    }
    if (!announced || list == sa.peer_addresses) return;
    sa.peer_addresses = std::move(list);
    log_sa(LogLevel::info, sa, "peer addresses: " + list_text(sa.peer_addresses));
    emit(out, Event::Kind::peer_addresses, sa, list_text(sa.peer_addresses), now);
}

void Engine::Impl::append_our_addresses(const IkeSa& sa, std::vector<wire::Payload>& p, bool say_none) const {
    if (!local_addresses_known) return;
    std::size_t n = 0;
    for (const auto& a : local_addresses) {
        if (a == sa.local.address || is_link_local(a) || n == kMaxAnnounced) continue;
        const auto& pinned = sa.conn->local_addrs;
        if (!pinned.empty() && std::find(pinned.begin(), pinned.end(), a) == pinned.end()) continue;
        const auto b = a.bytes();
        p.push_back(notify_payload(a.is_v4() ? wire::notify::additional_ip4_address : wire::notify::additional_ip6_address,
                                   Bytes(b.begin(), b.end())));
        ++n;
    }
    if (n == 0 && say_none) p.push_back(notify_payload(wire::notify::no_additional_addresses));
}

void Engine::Impl::set_local_addresses(std::vector<IpAddress> addresses, Time now) {
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    if (local_addresses_known && addresses == local_addresses) return;
    local_addresses = std::move(addresses);
    local_addresses_known = true;
    for (auto& [id, sap] : sas) {
        IkeSa& sa = *sap;
        if (sa.state != IkeState::established || sa.rekeyed || !mobike_active(sa)) continue;
        const bool ours_gone =
            std::find(local_addresses.begin(), local_addresses.end(), sa.local.address) == local_addresses.end();
        if (ours_gone && !sa.initiator) {
            // The responder cannot move the SA (RFC 4555 §3.5) but must still
            // reach the initiator: announce from another address of the family.
            const auto& pinned = sa.conn->local_addrs;
            auto alt = std::find_if(local_addresses.begin(), local_addresses.end(), [&](const IpAddress& a) {
                return a.family() == sa.local.address.family() && !is_link_local(a) &&
                       (pinned.empty() || std::find(pinned.begin(), pinned.end(), a) != pinned.end());
            });
            if (alt != local_addresses.end()) {
                log_sa(LogLevel::info, sa, "local address " + sa.local.address.to_string() + " gone; announcing from " +
                                               alt->to_string());
                sa.local.address = *alt;
            }
        }
        sa.announce_due = true;
        sa.announce_at = now;
        reschedule(sa);
    }
}

bool Engine::Impl::path_watched(const IkeSa& sa) const {
    return sa.initiator && sa.state == IkeState::established && !sa.rekeyed &&
           sa.conn->path_timeout > Duration::zero() && mobike_active(sa);
}

Duration Engine::Impl::path_probe_interval(const IkeSa& sa) const {
    const Duration d = sa.conn->path_probe_interval > Duration::zero() ? sa.conn->path_probe_interval
                                                                        : sa.conn->path_timeout / 4;
    return std::max<Duration>(d, std::chrono::milliseconds(1));
}

void Engine::Impl::mark_alive(IkeSa& sa, Time now) const {
    sa.last_inbound = now;
    if (now > sa.path_alive_at) sa.path_alive_at = now;
    sa.path_failed = false;
}

void Engine::Impl::on_path_timer(IkeSa& sa, Time now, Output& out) {
    const Duration every = path_probe_interval(sa);
    if (!sa.path_failed && now >= sa.path_alive_at + sa.conn->path_timeout) {
        sa.path_failed = true;
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - sa.path_alive_at).count();
        const std::string path = sa.local.to_string() + " <-> " + sa.remote.to_string();
        log_sa(LogLevel::warning, sa, "path " + path + " silent for " + std::to_string(ms) + " ms: failed");
        emit(out, Event::Kind::path_failed, sa, path, now);
    }
    if (sa.pending) {
        auto& p = *sa.pending;
        if (now >= p.last_sent + every && now < p.next_retransmit) {
            p.last_sent = now;
            for (const auto& d : p.datagrams) send(sa, d, out);
        }
    } else if (now >= sa.last_inbound + every) {
        queue_exchange(sa, PendingRequest::Purpose::liveness, now, out);
    }
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
    record_peer_addresses(sa, p, sa.request_remote.address, now, out);
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
    using P = PendingRequest::Purpose;
    std::vector<wire::Payload> p;
    if (purpose == P::update_addresses) {
        p.push_back(notify_payload(wire::notify::update_sa_addresses));
        append_nat_detection(sa, sa.local, sa.remote, p);
    }
    if (purpose == P::update_addresses || purpose == P::announce_addresses) {
        // An update carries our address list too (RFC 4555 §3.6): no separate announcement.
        append_our_addresses(sa, p);
        sa.announce_due = false;
    }
    if (purpose != P::announce_addresses) {
        sa.cookie2 = env.random->bytes(kCookie2Size);
        p.push_back(notify_payload(wire::notify::cookie2, sa.cookie2));
    }
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
    // Whatever is in flight goes out on the new path at once (RFC 4555 §3.7)
    // and again with its retransmissions: the window cannot move before it is answered.
    sa.local = local;
    sa.remote = remote;
    sa.path_alive_at = now;
    sa.path_failed = false;
    if (sa.pending) {
        sa.pending->last_sent = now;
        for (const auto& d : sa.pending->datagrams) send(sa, d, out);
    }
    if (sa.pending && sa.pending->purpose == PendingRequest::Purpose::update_addresses) {
        sa.update_again = true;  // superseded: send a fresh update once this one is answered
        return {};
    }
    queue_exchange(sa, PendingRequest::Purpose::update_addresses, now, out);
    reschedule(sa);
    return {};
}

}  // namespace mobiked::ike
