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
#include "ike/traffic_selectors.hpp"
#include "wire/mobike_version.hpp"

namespace mobiked::ike {

namespace {

constexpr std::size_t kCookie2Size = 16;
// Bounds on address lists: what we keep of a peer's, what we announce.
constexpr std::size_t kMaxPeerAddresses = 32;
constexpr std::size_t kMaxAnnounced = 16;
// Address pairs one probe goes to at once.
constexpr std::size_t kMaxProbePairs = 8;

bool is_link_local(const IpAddress& a) {
    const auto b = a.bytes();
    return !a.is_v4() && b.size() == 16 && b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}

// An inner address of this SA: a virtual IP, or inside a tunnel-mode child's
// configured local selectors that leave the SA's own IKE address outside
// (e.g. a service address on lo). The peer could only reach it through this
// very SA, so it is no address for IKE: never announced, never moved to.
// Configured, not negotiated, selectors: IKE_AUTH announces before any child.
bool inner_address(const IkeSa& sa, const IpAddress& a) {
    if (std::find(sa.virtual_ips.begin(), sa.virtual_ips.end(), a) != sa.virtual_ips.end()) return true;
    for (const auto& c : sa.conn->children) {
        if (c.mode != IpsecMode::tunnel) continue;
        for (const auto& ts : c.local_ts)
            if (!ts.dynamic && ts.range != AddressRange::any(ts.range.first.family()) && ts.range.contains(a) &&
                !ts.range.contains(sa.local.address))
                return true;
    }
    return false;
}

std::string list_text(const std::vector<IpAddress>& l) {
    std::string s;
    for (const auto& a : l) s += (s.empty() ? "" : " ") + a.to_string();
    return s.empty() ? "none" : s;
}


bool has_version(const std::vector<std::uint8_t>& l, std::uint8_t v) {
    return std::find(l.begin(), l.end(), v) != l.end();
}

std::string versions_of(const std::vector<std::uint8_t>& l) { return wire::mobike::versions_text(l); }

bool remote_host_allowed(const ConnectionConfig& c, const IpAddress& a) {
    if (c.remote_hosts.empty()) return true;
    return std::any_of(c.remote_hosts.begin(), c.remote_hosts.end(), [&](const std::string& h) {
        if (h == "%any" || h == "0.0.0.0/0" || h == "::/0") return true;
        auto ip = IpAddress::parse(h);
        return ip && *ip == a;
    });
}

// A single-address selector naming `from` now names `to` (MOBIKEv2 §4.2).
bool rewrite_host(std::vector<TrafficSelectorRange>& ts, const IpAddress& from, const IpAddress& to) {
    bool changed = false;
    for (auto& t : ts)
        if (from != to && t.range.first == from && t.range.last == from) {
            t.range = AddressRange{to, to};
            changed = true;
        }
    return changed;
}

void append_nat_detection(const IkeSa& sa, const Endpoint& local, const Endpoint& remote,
                          std::vector<wire::Payload>& p) {
    p.push_back(notify_payload(wire::notify::nat_detection_source_ip, nat_detection_hash(sa.spi_i, sa.spi_r, local)));
    p.push_back(notify_payload(wire::notify::nat_detection_destination_ip, nat_detection_hash(sa.spi_i, sa.spi_r, remote)));
}

}  // namespace

bool Engine::Impl::mobike_active(const IkeSa& sa) const { return sa.peer_mobike && sa.conn->mobike; }

// ------------------------------------------------ MOBIKEv2 version negotiation

std::vector<std::uint8_t> Engine::Impl::mobike_offer(const IkeSa& sa) const {
    if (!sa.conn->mobike) return {};
    if (sa.mobike_restarted) return sa.mobike_offer;
    std::vector<std::uint8_t> v;
    for (auto x : sa.conn->mobike_versions)
        if (x != 0 && x != wire::mobike::kVersionNone && !has_version(v, x)) v.push_back(x);
    std::sort(v.begin(), v.end());
    return v;
}

void Engine::Impl::append_mobike_supported(const IkeSa& sa, std::vector<wire::Payload>& p) const {
    const auto offer = mobike_offer(sa);
    if (offer.empty()) return;
    // Version 1 alone is plain RFC 4555: empty notification data.
    if (offer.size() == 1 && offer[0] == wire::mobike::kVersion1)
        p.push_back(notify_payload(wire::notify::mobike_supported));
    else
        p.push_back(notify_payload(wire::notify::mobike_supported, wire::mobike::encode_version_parameter(offer)));
}

bool Engine::Impl::answer_mobike_supported(IkeSa& sa, const wire::NotifyPayload& n, std::vector<wire::Payload>& r) {
    using namespace wire::mobike;
    const auto ours = mobike_offer(sa);
    if (ours.empty()) {
        log_sa(LogLevel::info, sa, "peer supports MOBIKE, but no version is configured: ignored");
        return true;
    }
    const auto peer = decode_version_parameter(n.data);
    if (peer.status == VersionParameter::Status::malformed)
        log_sa(LogLevel::warning, sa, "malformed Version parameter in MOBIKE_SUPPORTED (" + peer.problem +
                                          "): ignored, version 1 assumed");
    std::uint8_t chosen = 0;
    if (ours.size() == 1 && ours[0] == kVersion1) {
        chosen = kVersion1;  // RFC 4555 only: answer empty whatever was offered (draft §5.1)
    } else {
        for (auto v : peer.versions)
            if (v != kVersionNone && has_version(ours, v) && v > chosen) chosen = v;
    }
    if (chosen == 0) {
        if (!peer.present()) {
            log_sa(LogLevel::info, sa, "peer speaks MOBIKE version 1 only, which we do not accept (we: " +
                                           versions_of(ours) + "): MOBIKE off");
            return true;
        }
        // A Version parameter and nothing in common: MOBIKE_UNSUPPORTED_VERSION
        // (an error notify: IKE_AUTH fails, the initiator restarts).
        const bool give_up = has_version(sa.conn->mobike_versions, kVersionNone);
        const std::vector<std::uint8_t> listed = give_up ? std::vector<std::uint8_t>{kVersionNone} : ours;
        log_sa(LogLevel::warning, sa, "peer offers MOBIKE versions " + versions_of(peer.versions) + ", we " +
                                          versions_of(ours) + ": MOBIKE_UNSUPPORTED_VERSION(" + versions_of(listed) + ")");
        r.clear();
        r.push_back(notify_payload(wire::notify::mobike_unsupported_version, encode_version_parameter(listed)));
        return false;
    }
    // Name exactly the chosen version; a peer that sent none (RFC 4555) gets empty data.
    if (peer.present())
        r.push_back(notify_payload(wire::notify::mobike_supported, encode_version_parameter(std::vector<std::uint8_t>{chosen})));
    else
        r.push_back(notify_payload(wire::notify::mobike_supported));
    sa.peer_mobike = true;
    sa.mobike_version = chosen;
    log_sa(LogLevel::info, sa, "MOBIKE version " + std::to_string(chosen) + " (peer offered " + versions_of(peer.versions) +
                                   ", we " + versions_of(ours) + ")");
    return true;
}

std::uint8_t Engine::Impl::accept_mobike_answer(const IkeSa& sa, const wire::NotifyPayload* n) const {
    using namespace wire::mobike;
    const auto ours = mobike_offer(sa);
    if (!n || ours.empty()) return 0;
    const auto d = decode_version_parameter(n->data);
    std::uint8_t v = kVersion1;
    if (d.status == VersionParameter::Status::malformed) {
        log_sa(LogLevel::warning, sa, "malformed Version parameter in MOBIKE_SUPPORTED (" + d.problem +
                                          "): ignored, version 1 assumed");
    } else if (d.present()) {
        if (d.versions.size() == 1 && d.versions[0] != kVersionNone && has_version(ours, d.versions[0]))
            v = d.versions[0];
        else
            log_sa(LogLevel::warning, sa, "peer answered MOBIKE versions " + versions_of(d.versions) + ", we offered " +
                                              versions_of(ours) + ": version 1 assumed");
    }
    if (!has_version(ours, v)) {
        log_sa(LogLevel::warning, sa, "peer answered MOBIKE version " + std::to_string(v) + ", which we did not offer (" +
                                          versions_of(ours) + "): MOBIKE off");
        return 0;
    }
    log_sa(LogLevel::info, sa, "MOBIKE version " + std::to_string(v) + " (we offered " + versions_of(ours) + ")");
    return v;
}

bool Engine::Impl::restart_for_mobike_version(IkeSa& sa, const wire::NotifyPayload& n, Time now, Output& out) {
    using namespace wire::mobike;
    if (sa.mobike_restarted) {
        log_sa(LogLevel::warning, sa, "MOBIKE_UNSUPPORTED_VERSION again after a restart: giving up");
        return false;
    }
    const auto ours = mobike_offer(sa);
    const auto listed = decode_version_parameter(n.data);
    if (listed.status == VersionParameter::Status::malformed)
        log_sa(LogLevel::warning, sa, "malformed Version parameter in MOBIKE_UNSUPPORTED_VERSION (" + listed.problem + ")");
    std::vector<std::uint8_t> next;
    const bool none = listed.present() && has_version(listed.versions, kVersionNone);
    if (listed.present() && !none)
        for (auto v : listed.versions)
            if (has_version(ours, v) && !has_version(next, v)) next.push_back(v);
    // Nothing usable listed (or NONE: the responder gives up MOBIKEv2): plain
    // RFC 4555 if we speak it, else no MOBIKE at all.
    if (next.empty() && has_version(ours, kVersion1)) next.push_back(kVersion1);
    std::sort(next.begin(), next.end());
    log_sa(LogLevel::info, sa, "peer answered MOBIKE_UNSUPPORTED_VERSION(" +
                                   (listed.present() ? versions_of(listed.versions) : std::string("-")) +
                                   "): restarting at IKE_SA_INIT " +
                                   (next.empty() ? std::string("without MOBIKE") : "offering MOBIKE " + versions_of(next)));
    // Back to a fresh IKE_SA_INIT, same engine id, child request and addresses.
    by_our_spi.erase(sa.spi_i);
    sa.spi_i = allocate_ike_spi();
    by_our_spi[sa.spi_i] = sa.id;
    sa.spi_r = 0;
    if (sa.local.port == wire::kNatTPort && sa.conn->local_port == wire::kIkePort) sa.local.port = wire::kIkePort;
    if (sa.remote.port == wire::kNatTPort && sa.conn->remote_port == wire::kIkePort) sa.remote.port = wire::kIkePort;
    sa.pending.reset();
    sa.queued.clear();
    sa.last_response_id.reset();
    sa.last_response.clear();
    sa.reassembly.reset();
    sa.codec.reset();
    sa.prf.reset();
    sa.keys = {};
    sa.cookie.clear();
    sa.nonce_r.clear();
    sa.init_response.clear();
    sa.nonce_i = env.random->bytes(sa.nonce_i.empty() ? 32 : sa.nonce_i.size());
    sa.nat_local = sa.nat_remote = false;
    sa.peer_fragmentation = false;
    sa.peer_mobike = false;
    sa.mobike_version = 0;
    sa.mobike_restarted = true;
    sa.mobike_offer = std::move(next);
    send_init_request(sa, now, out);
    return true;
}

// ------------------------------------------------ MOBIKEv2 address checks

// Transport-mode selectors name the hosts, so they follow every move, under
// RFC 4555 (version 1) too: left alone they would refuse the SA's own
// packets (specs §4: rewritten locally, never left stale). Only version 2
// adds the SPD/PAD checks of the new address.
bool Engine::Impl::transport_moves(const IkeSa& sa) const {
    if (!mobike_active(sa) || sa.mobike_version == wire::mobike::kVersionNone) return false;
    return std::any_of(sa.children.begin(), sa.children.end(),
                       [](const ChildSa& c) { return c.mode == IpsecMode::transport; });
}

bool Engine::Impl::address_authorized(const IkeSa& sa, const IpAddress& a, bool local) const {
    if (!transport_moves(sa) || sa.mobike_version < wire::mobike::kVersion2) return true;
    const ConnectionConfig& c = *sa.conn;
    // PAD: the addresses the connection may use / the peer may come from.
    if (local ? !c.local_addrs.empty() && std::find(c.local_addrs.begin(), c.local_addrs.end(), a) == c.local_addrs.end()
              : !remote_host_allowed(c, a))
        return false;
    // SPD: the configured selectors of every transport-mode child must admit it.
    for (const auto& ch : sa.children) {
        if (ch.mode != IpsecMode::transport) continue;
        const auto& specs = local ? ch.config->local_ts : ch.config->remote_ts;
        const bool ok = specs.empty() || std::any_of(specs.begin(), specs.end(), [&](const TsSpec& s) {
            return s.dynamic || s.range.contains(a);
        });
        if (!ok) return false;
    }
    return true;
}

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
        if (a == sa.local.address || is_link_local(a) || inner_address(sa, a) || n == kMaxAnnounced) continue;
        const auto& pinned = sa.conn->local_addrs;
        if (!pinned.empty() && std::find(pinned.begin(), pinned.end(), a) == pinned.end()) continue;
        if (!address_authorized(sa, a, true)) continue;  // MOBIKEv2: never announce a forbidden address
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
                return a.family() == sa.local.address.family() && !is_link_local(a) && !inner_address(sa, a) &&
                       (pinned.empty() || std::find(pinned.begin(), pinned.end(), a) != pinned.end()) &&
                       address_authorized(sa, a, true);
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

namespace {

std::uint64_t natd_key(ByteView hash) {
    if (hash.size() < 8) return 0;
    std::uint64_t k = 0;
    for (std::size_t i = 0; i < 8; ++i) k = (k << 8) | hash[i];
    return k;
}

std::uint64_t natd_key(const std::vector<wire::Payload>& p) {
    const auto* d = wire::find_notify(p, wire::notify::nat_detection_destination_ip);
    return d ? natd_key(d->data) : 0;
}

}  // namespace

void Engine::Impl::seed_natd_seen(IkeSa& sa) const {
    // Not behind a NAT: the peer sees our own address, so the first path probe
    // already tells whether a NAT appeared since. Behind one, the first answer
    // sets the reference.
    sa.natd_seen = sa.nat_local ? 0 : natd_key(nat_detection_hash(sa.spi_i, sa.spi_r, sa.local));
}

std::vector<wire::Payload> Engine::Impl::liveness_payloads(const IkeSa& sa) const {
    std::vector<wire::Payload> p;
    if (!sa.initiator || !mobike_active(sa)) return p;
    // A probe of other pairs: the hashes of the first (preferred) one.
    const auto& [local, remote] = sa.probe_pairs.empty() ? std::pair{sa.local, sa.remote} : sa.probe_pairs.front();
    append_nat_detection(sa, local, remote, p);
    return p;
}

void Engine::Impl::on_path_probe_response(IkeSa& sa, const std::vector<wire::Payload>& p, Time now, Output& out) {
    if (!sa.initiator || !mobike_active(sa)) return;
    const std::uint64_t seen = natd_key(p);
    if (seen == 0) return;
    const bool changed = sa.natd_seen != 0 && seen != sa.natd_seen;
    sa.natd_seen = seen;
    if (!changed) return;
    // Same local address, another public one: the NAT between us rebound.
    // The update, from where we are, makes the peer follow the new mapping
    // (after its return-routability check).
    log_sa(LogLevel::info, sa, "our address as the peer sees it changed (NAT mapping): updating");
    queue_exchange(sa, PendingRequest::Purpose::update_addresses, now, out);
}

void Engine::Impl::commit_move(IkeSa& sa, Time now, Output& out) {
    const bool encap = sa.nat_local || sa.nat_remote || sa.conn->encap_force;
    UpdateSaAddresses u{sa.id, sa.local, sa.remote, encap};
    if (transport_moves(sa)) {
        // MOBIKEv2: transport-mode selectors name the hosts; they move with the SA.
        for (auto& c : sa.children) {
            if (c.mode != IpsecMode::transport) continue;
            // Both sides are rewritten, whatever the first one did.
            const bool local_changed = rewrite_host(c.local_ts, c.host_local, sa.local.address);
            const bool remote_changed = rewrite_host(c.remote_ts, c.host_remote, sa.remote.address);
            const bool changed = local_changed || remote_changed;
            c.host_local = sa.local.address;
            c.host_remote = sa.remote.address;
            if (!changed) continue;
            u.transport.push_back(TransportSelectors{c.id, c.spi_in, c.spi_out, c.local_ts, c.remote_ts});
            log_sa(LogLevel::info, sa, "CHILD_SA " + c.config->name + " (transport) selectors now " +
                                           to_string(c.local_ts) + " === " + to_string(c.remote_ts));
        }
    }
    out.commands.push_back(std::move(u));
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
    if (update && !sa.initiator &&
        (!address_authorized(sa, local.address, true) || !address_authorized(sa, remote.address, false))) {
        // MOBIKEv2 §5.3: the SPD / PAD of the transport-mode children does not
        // allow the new addresses: refuse, keep the old state.
        log_sa(LogLevel::warning, sa, "update to " + local.to_string() + " <-> " + remote.to_string() +
                                          " refused: not allowed for the transport-mode CHILD_SAs");
        r.insert(r.begin(), notify_payload(wire::notify::unacceptable_addresses));
        send_response(sa, wire::ExchangeType::informational, mid, r, raw, out);
        return true;
    }
    send_response(sa, wire::ExchangeType::informational, mid, r, raw, out);
    // Only the original initiator moves the SA (RFC 4555 §3.5).
    if (!update || sa.initiator) return true;
    const bool peer_address_changed = remote.address != sa.remote.address;
    sa.local = local;
    sa.remote = remote;
    // A request of ours still out (e.g. an announcement that went to the
    // peer's old address) blocks the window: send it on the new path now
    // rather than at its next retransmission, seconds away.
    if (sa.pending) {
        sa.pending->last_sent = now;
        for (const auto& d : sa.pending->datagrams) send(sa, d, out);
    }
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
        sa.natd_seen = natd_key(p);
    }
    if (req.purpose == PendingRequest::Purpose::update_addresses && !wire::find_notify(p, wire::notify::nat_detection_source_ip))
        seed_natd_seen(sa);
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
    if (!address_authorized(sa, local.address, true) || !address_authorized(sa, remote.address, false))
        return Error{"MOBIKEv2: " + local.address.to_string() + " <-> " + remote.address.to_string() +
                     " is not allowed by the SPD/PAD of the transport-mode CHILD_SAs"};
    // Whatever is in flight goes out on the new path at once (RFC 4555 §3.7)
    // and again with its retransmissions: the window cannot move before it is answered.
    sa.local = local;
    sa.remote = remote;
    sa.path_alive_at = now;
    sa.path_failed = false;
    sa.probe_pairs.clear();  // a move decides the path: probing is over
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

Status Engine::Impl::probe_paths(IkeSa& sa, std::vector<std::pair<Endpoint, Endpoint>> candidates, Time now,
                                 Output& out) {
    if (!mobike_active(sa)) return Error{"MOBIKE was not negotiated on IKE SA " + std::to_string(sa.id)};
    if (!sa.initiator) return Error{"only the original initiator probes paths (RFC 4555 §3.5)"};
    using P = PendingRequest::Purpose;
    if (sa.pending && (sa.pending->purpose == P::update_addresses || sa.pending->purpose == P::return_routability))
        return Error{"an address update is in flight"};
    std::erase_if(candidates, [&](const auto& c) {
        return !address_authorized(sa, c.first.address, true) || !address_authorized(sa, c.second.address, false);
    });
    if (candidates.size() > kMaxProbePairs) candidates.resize(kMaxProbePairs);
    if (candidates.empty()) return Error{"no address pair to probe"};
    sa.probe_pairs = std::move(candidates);
    std::string list;
    for (const auto& [l, r] : sa.probe_pairs) list += (list.empty() ? "" : ", ") + l.to_string() + " <-> " + r.to_string();
    log_sa(LogLevel::info, sa, "probing " + list);
    if (sa.pending) {
        // The request in flight (often the liveness check that found the
        // path silent) is the probe: out on every pair now.
        sa.pending->last_sent = now;
        for (const auto& d : sa.pending->datagrams) send(sa, d, out);
    } else {
        queue_exchange(sa, P::liveness, now, out);
    }
    reschedule(sa);
    return {};
}

void Engine::Impl::on_probe_answer(IkeSa& sa, const Datagram& in, Time now, Output& out) {
    const bool ours = std::any_of(sa.probe_pairs.begin(), sa.probe_pairs.end(), [&](const auto& c) {
        return c.first.address == in.local.address && c.second.address == in.remote.address;
    });
    sa.probe_pairs.clear();
    if (!ours) return;  // on the current pair after all: nothing to report
    sa.answered_by_probe = true;
    log_sa(LogLevel::info, sa, "probe answered on " + in.local.to_string() + " <-> " + in.remote.to_string());
    Event& e = emit(out, Event::Kind::path_probe_ok, sa, in.local.to_string() + " <-> " + in.remote.to_string(), now);
    e.local = in.local;
    e.remote = in.remote;
}

}  // namespace mobiked::ike
