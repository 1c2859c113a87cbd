// Engine API, SA registry, message dispatch, windows and timers.
#include <algorithm>
#include <cmath>

#include "crypto/cipher.hpp"
#include "ike/engine_impl.hpp"

namespace mobiked::ike {

namespace {
// Config::export_ike_keys: deleted IKE SAs' keys kept for the export (docs/wireshark.md).
constexpr std::size_t kRetiredIkeKeys = 64;
constexpr Duration kRetiredIkeKeysFor = std::chrono::minutes(10);
}  // namespace

// ---------------------------------------------------------------- names

std::string_view event_kind_name(Event::Kind k) {
    switch (k) {
        case Event::Kind::ike_established: return "ike-established";
        case Event::Kind::ike_deleted: return "ike-deleted";
        case Event::Kind::ike_failed: return "ike-failed";
        case Event::Kind::child_established: return "child-established";
        case Event::Kind::child_deleted: return "child-deleted";
        case Event::Kind::child_failed: return "child-failed";
        case Event::Kind::ike_moved: return "ike-moved";
        case Event::Kind::ike_rekeyed: return "ike-rekeyed";
        case Event::Kind::ike_reauthenticated: return "ike-reauthenticated";
        case Event::Kind::virtual_ip: return "virtual-ip";
        case Event::Kind::child_rekeyed: return "child-rekeyed";
        case Event::Kind::error_received: return "error-received";
        case Event::Kind::path_failed: return "path-failed";
        case Event::Kind::path_probe_ok: return "path-probe-ok";
        case Event::Kind::peer_addresses: return "peer-addresses";
    }
    return "?";
}

std::string_view ike_state_name(IkeState s) {
    switch (s) {
        case IkeState::created: return "CREATED";
        case IkeState::init_sent: return "INIT_SENT";
        case IkeState::auth_sent: return "AUTH_SENT";
        case IkeState::init_replied: return "INIT_REPLIED";
        case IkeState::established: return "ESTABLISHED";
        case IkeState::deleting: return "DELETING";
        case IkeState::deleted: return "DELETED";
    }
    return "?";
}

ChildSa* IkeSa::find_child_by_spi_in(std::uint32_t spi) {
    for (auto& c : children)
        if (c.spi_in == spi) return &c;
    return nullptr;
}
ChildSa* IkeSa::find_child_by_spi_out(std::uint32_t spi) {
    for (auto& c : children)
        if (c.spi_out == spi) return &c;
    return nullptr;
}
ChildSa* IkeSa::find_child(std::uint32_t child_id) {
    for (auto& c : children)
        if (c.id == child_id) return &c;
    return nullptr;
}

// ---------------------------------------------------------------- services

void Engine::Impl::log(LogLevel level, const std::string& msg) const {
    if (env.log) env.log(level, "ike", msg);
}

void Engine::Impl::log_sa(LogLevel level, const IkeSa& sa, const std::string& msg) const {
    if (env.log) env.log(level, "ike", sa.conn->name + "[" + std::to_string(sa.id) + "] " + msg);
}

std::uint64_t Engine::Impl::allocate_ike_spi() {
    for (;;) {
        std::uint64_t spi = env.random->u64();
        if (spi != 0 && !by_our_spi.contains(spi)) return spi;
    }
}

std::uint32_t Engine::Impl::allocate_esp_spi() {
    // SPIs 0-255 are reserved by IANA (RFC 4303 §2.1).
    for (;;) {
        std::uint32_t spi = env.random->u32();
        if (spi > 255 && esp_spis.insert(spi).second) return spi;
    }
}

void Engine::Impl::release_esp_spi(std::uint32_t spi) { esp_spis.erase(spi); }

void Engine::Impl::load(Config c) {
    config = std::move(c);
    connections.clear();
    for (auto conn : config.connections) {
        // Defaults filled once here, so per-SA code never builds them again.
        if (conn.ike_proposals.empty()) conn.ike_proposals = default_ike_proposals();
        for (auto& child : conn.children)
            if (child.esp_proposals.empty()) child.esp_proposals = default_esp_proposals();
        connections.push_back(std::make_shared<const ConnectionConfig>(std::move(conn)));
    }
    // A reload keeps a pool whose range did not change, and so its leases.
    std::unordered_map<std::string, std::unique_ptr<AddressPool>> kept;
    for (const auto& pc : config.pools) {
        auto it = pools.find(pc.name);
        if (it != pools.end() && it->second->size() > 0 && it->second->family() == pc.range.first.family() &&
            it->second->name() == pc.name && range_of[pc.name] == pc.range)
            kept[pc.name] = std::move(it->second);
        else
            kept[pc.name] = std::make_unique<AddressPool>(pc.name, pc.range);
        range_of[pc.name] = pc.range;
    }
    pools = std::move(kept);
}

ConnPtr Engine::Impl::find_connection(const std::string& name) const {
    for (const auto& c : connections)
        if (c->name == name) return c;
    return nullptr;
}

IkeSa& Engine::Impl::create_sa(ConnPtr conn, bool initiator, Time now) {
    auto sa = std::make_unique<IkeSa>();
    sa->id = next_sa_id++;
    sa->conn = std::move(conn);
    sa->initiator = initiator;
    sa->created_at = now;
    sa->last_inbound = now;
    sa->path_alive_at = now;
    IkeSa& ref = *sa;
    sas.emplace(ref.id, std::move(sa));
    return ref;
}

IkeSa* Engine::Impl::find_by_id(std::uint64_t id) {
    auto it = sas.find(id);
    return it == sas.end() ? nullptr : it->second.get();
}

void Engine::Impl::set_responder_spi(IkeSa& sa, std::uint64_t spi_r) {
    sa.spi_r = spi_r;
    if (!sa.initiator) by_our_spi[spi_r] = sa.id;
}

Event& Engine::Impl::emit(Output& out, Event::Kind kind, const IkeSa& sa, std::string detail, Time now) const {
    Event& e = out.events.emplace_back();
    e.kind = kind;
    e.ike_sa_id = sa.id;
    e.connection = sa.conn->name;
    e.detail = std::move(detail);
    e.at = now;
    return e;
}

void Engine::Impl::mark_established(IkeSa& sa, Time now, Output& out) {
    if (!sa.initiator && sa.state == IkeState::init_replied) count_half_open(sa, -1);
    log_sa(LogLevel::info, sa, std::string(ike_state_name(sa.state)) + " -> ESTABLISHED");
    sa.state = IkeState::established;
    sa.established_at = now;
    if (sa.conn->ike_lifetimes.rekey_time > Duration::zero()) sa.rekey_at = now + jittered(sa.conn->ike_lifetimes.rekey_time);
    schedule_reauth(sa, now);
    sa.delete_at = Time{};
    // What only the handshake needed goes now: the DH private value, and the
    // IKE_SA_INIT messages that AUTH signed (they are most of an SA's memory).
    sa.ke.reset();
    sa.init_request = Bytes{};
    sa.init_response = Bytes{};
    auto range = half_open_by_spi_i.equal_range(sa.spi_i);
    for (auto it = range.first; it != range.second; ++it)
        if (it->second == sa.id) {
            half_open_by_spi_i.erase(it);
            break;
        }
    emit(out, Event::Kind::ike_established, sa,
         sa.local.to_string() + " " + sa.local_id.to_string() + " <-> " + sa.remote.to_string() + " " +
             sa.remote_id.to_string() + " " + sa.proposal.to_string(),
         now);
}

void Engine::Impl::count_half_open(const IkeSa& sa, int delta) {
    auto& n = half_open_by_source[sa.remote.address];
    if (delta > 0) {
        ++n;
        ++half_open;
        return;
    }
    if (n > 0) --n;
    if (half_open > 0) --half_open;
    if (n == 0) half_open_by_source.erase(sa.remote.address);
}

bool Engine::Impl::has_other_sa(const IkeSa& sa) const {
    if (is_reauth(sa)) return true;  // reauthentication: the old SA still stands
    for (const auto& [id, other] : sas)
        if (id != sa.id && other->conn->name == sa.conn->name && other->remote == sa.remote &&
            other->state == IkeState::established)
            return true;
    return false;
}

void Engine::Impl::drop_stale_sas(const IkeSa& sa, Time now, Output& out) {
    std::vector<std::uint64_t> stale;
    for (const auto& [id, other] : sas)
        if (id != sa.id && other->remote_id == sa.remote_id && other->local_id == sa.local_id &&
            other->state == IkeState::established && !other->rekeyed)
            stale.push_back(id);
    for (auto id : stale)
        if (IkeSa* other = find_by_id(id)) remove_sa(*other, Event::Kind::ike_deleted, "replaced (INITIAL_CONTACT)", now, out);
}

void Engine::Impl::forget_handshake_secrets(IkeSa& sa) const {
    if (config.export_ike_keys && !sa.export_keys) {  // the user opted in (daemon.export_ike_keys)
        auto k = std::make_unique<IkeSaKeys>();
        k->ike_sa_id = sa.id;
        k->spi_i = sa.spi_i;
        k->spi_r = sa.spi_r;
        k->encr = sa.proposal.encr;
        k->encr_key_bits = sa.proposal.encr_key_bits;
        k->integ = sa.proposal.integ;
        k->sk_ei = sa.keys.sk_ei;
        k->sk_er = sa.keys.sk_er;
        k->sk_ai = sa.keys.sk_ai;
        k->sk_ar = sa.keys.sk_ar;
        sa.export_keys = std::move(k);
    }
    for (Bytes* b : {&sa.nonce_i, &sa.nonce_r, &sa.keys.sk_ai, &sa.keys.sk_ar, &sa.keys.sk_ei, &sa.keys.sk_er,
                     &sa.keys.sk_pi, &sa.keys.sk_pr})
        wipe(*b);
}

void Engine::Impl::remove_child(IkeSa& sa, std::uint32_t child_id, Time now, Output& out) {
    auto it = std::find_if(sa.children.begin(), sa.children.end(), [&](const ChildSa& c) { return c.id == child_id; });
    if (it == sa.children.end()) return;
    out.commands.push_back(DeleteChildSa{sa.id, it->id, it->spi_in, it->spi_out, it->replaced_by != 0});
    release_esp_spi(it->spi_in);
    emit(out, Event::Kind::child_deleted, sa, it->config->name, now);
    sa.children.erase(it);
}

void Engine::Impl::remove_sa(IkeSa& sa, Event::Kind why, const std::string& detail, Time now, Output& out) {
    forget_reauth(sa, now);
    ike_rekey_collisions.erase(sa.id);
    if (sa.create_child && sa.create_child->purpose == PendingRequest::Purpose::rekey_ike)
        by_our_spi.erase(sa.create_child->new_ike_spi);  // the successor's reserved SPI
    while (!sa.children.empty()) remove_child(sa, sa.children.front().id, now, out);
    if (sa.child_request) release_esp_spi(sa.child_request->spi_in);
    release_leases(sa);
    if (!sa.initiator && sa.state == IkeState::init_replied) count_half_open(sa, -1);
    log_sa(why == Event::Kind::ike_deleted ? LogLevel::info : LogLevel::warning, sa,
           std::string(ike_state_name(sa.state)) + " -> DELETED" + (detail.empty() ? "" : ": " + detail));
    emit(out, why, sa, detail, now);
    by_our_spi.erase(sa.our_spi());
    auto range = half_open_by_spi_i.equal_range(sa.spi_i);
    for (auto it = range.first; it != range.second; ++it)
        if (it->second == sa.id) {
            half_open_by_spi_i.erase(it);
            break;
        }
    sa.keys.wipe_all();
    if (sa.export_keys) {
        if (config.export_ike_keys) {
            expire_ike_keys(now);
            sa.export_keys->deleted = true;
            retired_ike_keys.emplace_back(now, std::move(*sa.export_keys));
            if (retired_ike_keys.size() > kRetiredIkeKeys) {
                retired_ike_keys.front().second.wipe_all();
                retired_ike_keys.pop_front();
            }
        }
        sa.export_keys->wipe_all();
        sa.export_keys.reset();
    }
    const std::uint64_t id = sa.id;  // erase() must not read the key from the node it frees
    armed.erase(id);
    sas.erase(id);  // `sa` dangles from here
}

wire::Header Engine::Impl::make_header(const IkeSa& sa, wire::ExchangeType ex, bool response,
                                       std::uint32_t mid) const {
    wire::Header h;
    h.spi_i = sa.spi_i;
    h.spi_r = sa.spi_r;
    h.exchange = ex;
    h.flags = static_cast<std::uint8_t>((sa.initiator ? wire::flags::initiator : 0) |
                                        (response ? wire::flags::response : 0));
    h.message_id = mid;
    return h;
}

void Engine::Impl::send(const IkeSa& sa, Bytes datagram, Output& out) const {
    if (sa.probe_pairs.empty()) return out.datagrams.push_back({sa.local, sa.remote, std::move(datagram)});
    for (const auto& [local, remote] : sa.probe_pairs) out.datagrams.push_back({local, remote, datagram});
}

void Engine::Impl::send_request(IkeSa& sa, PendingRequest::Purpose purpose, wire::ExchangeType ex,
                                const std::vector<wire::Payload>& payloads, Time now, Output& out) {
    const std::uint32_t mid = sa.next_request_id++;
    wire::Header h = make_header(sa, ex, false, mid);
    PendingRequest req;
    req.message_id = mid;
    req.exchange = ex;
    req.purpose = purpose;
    req.datagrams = protect_message(sa, h, payloads);
    req.sent_at = now;
    req.last_sent = now;
    req.next_retransmit = now + sa.conn->retransmit.timeout;
    log_sa(LogLevel::debug, sa, "sending " + wire::describe(h, payloads) + " to " + sa.remote.to_string() +
                                    (req.datagrams.size() > 1 ? " in " + std::to_string(req.datagrams.size()) + " fragments" : ""));
    for (const auto& d : req.datagrams) send(sa, d, out);
    sa.pending = std::move(req);
    reschedule(sa);
}

void Engine::Impl::send_response(IkeSa& sa, wire::ExchangeType ex, std::uint32_t mid,
                                 const std::vector<wire::Payload>& payloads, ByteView request, Output& out) {
    wire::Header h = make_header(sa, ex, true, mid);
    auto dgs = protect_message(sa, h, payloads);
    log_sa(LogLevel::debug, sa, "sending " + wire::describe(h, payloads) + " to " + sa.request_remote.to_string() +
                                    (dgs.size() > 1 ? " in " + std::to_string(dgs.size()) + " fragments" : ""));
    sa.last_response_id = mid;
    const Bytes digest = crypto::sha256(request);
    std::copy_n(digest.begin(), std::min(digest.size(), sa.last_request_digest.size()), sa.last_request_digest.begin());
    sa.next_peer_request_id = mid + 1;
    for (const auto& d : dgs) out.datagrams.push_back({sa.request_local, sa.request_remote, d});
    sa.last_response = std::move(dgs);
}

// ---------------------------------------------------------------- timers

static Duration retransmit_delay(const RetransmitConfig& rc, unsigned n) {
    const double scale = std::pow(rc.base, static_cast<double>(n));
    return std::chrono::duration_cast<Duration>(rc.timeout * scale);
}

void Engine::Impl::reschedule(IkeSa& sa) {
    std::optional<Time> t;
    auto consider = [&](Time x) {
        if (!t || x < *t) t = x;
    };
    if (sa.pending) consider(sa.pending->next_retransmit);
    if (sa.delete_at != Time{}) consider(sa.delete_at);
    if (sa.state == IkeState::established && sa.conn->dpd_delay > Duration::zero() && !sa.pending)
        consider(sa.last_inbound + sa.conn->dpd_delay);
    // While a request is out the announcement waits for the window (no timer spin).
    if (sa.announce_due && sa.state == IkeState::established && !sa.pending) consider(sa.announce_at);
    if (path_watched(sa)) {
        const Duration every = path_probe_interval(sa);
        if (!sa.path_failed) consider(sa.path_alive_at + sa.conn->path_timeout);
        consider(sa.pending ? sa.pending->last_sent + every : sa.last_inbound + every);
    }
    if (sa.state == IkeState::established && !sa.rekeyed) {
        if (sa.rekey_at != Time{}) consider(sa.rekey_at);
        if (auto r = reauth_at.find(sa.id); r != reauth_at.end()) consider(r->second);
        for (const auto& c : sa.children) {
            if (c.rekey_at != Time{} && !c.replaced_by && !c.rekeying) consider(c.rekey_at);
            if (c.expire_at != Time{}) consider(c.expire_at);
        }
    }
    if (!t) {
        armed.erase(sa.id);
        return;
    }
    auto it = armed.find(sa.id);
    if (it != armed.end() && it->second == *t) return;
    armed[sa.id] = *t;
    timers.push({*t, sa.id});
}

void Engine::Impl::on_sa_timer(IkeSa& sa, Time now, Output& out) {
    if (sa.delete_at != Time{} && now >= sa.delete_at) {
        const bool half_open_expired = sa.state == IkeState::init_replied;
        remove_sa(sa, half_open_expired ? Event::Kind::ike_failed : Event::Kind::ike_deleted,
                  half_open_expired ? "half-open SA timed out" : "", now, out);
        return;
    }
    if (sa.pending && now >= sa.pending->next_retransmit) {
        auto& p = *sa.pending;
        if (p.retransmits >= sa.conn->retransmit.tries) {
            ++counters.exchanges_timed_out;
            // On an established SA this means the peer is dead (DPD): the
            // daemon applies the connection's dpd_action (see kPeerDead).
            remove_sa(sa, Event::Kind::ike_failed,
                      "giving up after " + std::to_string(p.retransmits) + " retransmits" +
                          (sa.state == IkeState::established ? std::string(kPeerDead) : std::string()),
                      now, out);
            return;
        }
        ++p.retransmits;
        ++counters.retransmits;
        p.last_sent = now;
        p.next_retransmit = now + retransmit_delay(sa.conn->retransmit, p.retransmits);
        log_sa(LogLevel::info, sa, "retransmit " + std::to_string(p.retransmits) + " of request " +
                                       std::to_string(p.message_id));
        for (const auto& d : p.datagrams) send(sa, d, out);
    } else if (!sa.pending && sa.state == IkeState::established && sa.conn->dpd_delay > Duration::zero() &&
               now >= sa.last_inbound + sa.conn->dpd_delay) {
        queue_exchange(sa, PendingRequest::Purpose::liveness, now, out);
    }
    if (sa.announce_due && sa.state == IkeState::established && !sa.pending && now >= sa.announce_at)
        queue_exchange(sa, PendingRequest::Purpose::announce_addresses, now, out);
    if (path_watched(sa)) on_path_timer(sa, now, out);
    if (sa.state == IkeState::established && !sa.rekeyed) on_lifetimes(sa, now, out);
    reschedule(sa);
}

// Soft lifetimes start rekeys, hard ones delete (RFC 4301 §4.4.2.1).
void Engine::Impl::on_lifetimes(IkeSa& sa, Time now, Output& out) {
    using P = PendingRequest::Purpose;
    std::vector<std::uint32_t> expired, due;
    for (auto& c : sa.children) {
        if (c.expire_at != Time{} && now >= c.expire_at) {
            expired.push_back(c.id);
            c.expire_at = Time{};
        } else if (c.rekey_at != Time{} && now >= c.rekey_at && !c.replaced_by && !c.rekeying) {
            due.push_back(c.id);
            c.rekey_at = Time{};
        }
    }
    for (auto id : expired) queue_exchange(sa, {P::delete_child, id, nullptr}, now, out);
    for (auto id : due) queue_exchange(sa, {P::rekey_child, id, nullptr}, now, out);
    if (sa.rekey_at != Time{} && now >= sa.rekey_at) {
        sa.rekey_at = Time{};
        // Not while being reauthenticated: the new SA replaces this one anyway.
        if (!reauth_new_of.contains(sa.id)) queue_exchange(sa, P::rekey_ike, now, out);
    }
    if (auto r = reauth_at.find(sa.id); r != reauth_at.end() && now >= r->second) start_reauth(sa, now, out);
}

void Engine::Impl::on_timer(Time now, Output& out) {
    while (!timers.empty() && timers.top().first <= now) {
        auto [t, id] = timers.top();
        timers.pop();
        auto it = armed.find(id);
        if (it == armed.end() || it->second != t) continue;  // stale entry
        armed.erase(it);
        if (IkeSa* sa = find_by_id(id)) on_sa_timer(*sa, now, out);
    }
}

// ---------------------------------------------------------------- dispatch

void Engine::Impl::on_datagram(const Datagram& in, Time now, Output& out) {
    auto decoded = wire::decode_header(in.data);
    if (auto* err = std::get_if<wire::DecodeError>(&decoded)) {
        log(LogLevel::debug, "dropping datagram from " + in.remote.to_string() + ": " + err->reason);
        return;
    }
    const wire::Header& h = std::get<wire::Header>(decoded);
    if (h.exchange == wire::ExchangeType::ike_sa_init && !h.is_response() && h.spi_r == 0) {
        on_init_request(in, h, now, out);
        return;
    }
    // IKE SAs are found by our SPI only (RFC 7296 §2.1), never by address.
    const bool we_are_initiator = !h.from_initiator();
    const std::uint64_t our_spi = we_are_initiator ? h.spi_i : h.spi_r;
    auto it = by_our_spi.find(our_spi);
    IkeSa* sa = it == by_our_spi.end() ? nullptr : find_by_id(it->second);
    if (!sa || sa->initiator != we_are_initiator) {
        log(LogLevel::debug, "no IKE SA for " + wire::describe(h, {}) + " from " + in.remote.to_string());
        if (!h.is_response()) answer_unknown_spi(in, h, now, out);
        return;
    }
    if (h.exchange == wire::ExchangeType::ike_sa_init) {
        if (h.is_response() && sa->state == IkeState::init_sent && sa->pending && h.message_id == 0)
            on_init_response(*sa, in, now, out);
        return;
    }
    if (sa->state == IkeState::init_sent || !sa->codec) return;
    on_protected(*sa, in, h, now, out);
}

void Engine::Impl::on_protected(IkeSa& sa, const Datagram& in, const wire::Header& h, Time now, Output& out) {
    if (!h.is_response()) {
        if (sa.last_response_id && h.message_id == *sa.last_response_id) {
            if (equal_ct(crypto::sha256(in.data), ByteView(sa.last_request_digest))) {
                log_sa(LogLevel::debug, sa, "retransmitting response " + std::to_string(h.message_id));
                ++counters.responses_retransmitted;
                // Answer on the path the retransmission took (RFC 7296 §2.11);
                // an UPDATE_SA_ADDRESSES resent over another path moves the SA
                // there (RFC 4555 §3.5), after its return-routability check.
                const bool new_path = in.remote != sa.request_remote || in.local != sa.request_local;
                for (const auto& d : sa.last_response) out.datagrams.push_back({in.local, in.remote, d});
                if (new_path && sa.last_request_update && !sa.initiator && mobike_active(sa)) {
                    sa.request_local = sa.local = in.local;
                    sa.request_remote = sa.remote = in.remote;
                    if (!sa.children.empty()) queue_exchange(sa, PendingRequest::Purpose::return_routability, now, out);
                    else commit_move(sa, now, out);
                    reschedule(sa);
                }
            }
            return;
        }
        if (h.message_id != sa.next_peer_request_id) return;  // outside the window
    } else if (!sa.pending || sa.pending->message_id != h.message_id) {
        return;
    }
    auto opened = open_protected(sa, in, h);
    if (!opened) return;  // dropped, or a fragment of a message not complete yet
    // For a fragmented request, its first fragment stands for it in the
    // response cache (a retransmission resends the same fragments).
    const Datagram& msg_in = opened->raw ? *opened->raw : in;
    auto inner_decoded = wire::decode_payload_chain(opened->first, opened->plain);
    mark_alive(sa, now);
    if (!h.is_response()) {
        sa.request_local = in.local;
        sa.request_remote = in.remote;
        sa.last_request_update = false;
    }
    if (auto* err = std::get_if<wire::DecodeError>(&inner_decoded)) {
        log_sa(LogLevel::warning, sa, "invalid message " + std::to_string(h.message_id) + ": " + err->reason);
        if (h.is_response()) {
            remove_sa(sa, Event::Kind::ike_failed, "peer sent an invalid response: " + err->reason, now, out);
            return;
        }
        const bool critical = err->kind == wire::DecodeError::Kind::unsupported_critical_payload;
        wire::NotifyPayload n;
        n.type = critical ? wire::notify::unsupported_critical_payload : wire::notify::invalid_syntax;
        if (critical) n.data = {err->payload_type};
        send_response(sa, h.exchange, h.message_id, {{wire::PayloadType::notify, false, n}}, msg_in.data, out);
        if (!critical && sa.state != IkeState::established) {
            remove_sa(sa, Event::Kind::ike_failed, "invalid IKE_AUTH request", now, out);
        }
        return;
    }
    const auto& payloads = std::get<std::vector<wire::Payload>>(inner_decoded);
    log_sa(LogLevel::debug, sa, "received " + wire::describe(h, payloads) + " from " + in.remote.to_string());
    // Without MOBIKE a peer behind a NAT may change its mapping; follow
    // authenticated requests (RFC 7296 §2.23). With MOBIKE only
    // UPDATE_SA_ADDRESSES moves the SA (RFC 4555 §3.8).
    if (!h.is_response() && (sa.state != IkeState::established || (!sa.peer_mobike && sa.nat_remote))) {
        sa.local = in.local;
        sa.remote = in.remote;
    }
    if (h.is_response()) {
        if (!sa.probe_pairs.empty()) on_probe_answer(sa, in, now, out);
        PendingRequest req = std::move(*sa.pending);
        sa.pending.reset();
        const std::uint64_t id = sa.id;
        using P = PendingRequest::Purpose;
        if (req.purpose == P::ike_auth) on_auth_response(sa, payloads, now, out);
        else if (req.purpose == P::create_child || req.purpose == P::rekey_child || req.purpose == P::rekey_ike)
            on_create_child_response(sa, payloads, now, out);
        else on_informational_response(sa, req, payloads, now, out);
        if (IkeSa* still = find_by_id(id)) {
            still->answered_by_probe = false;
            start_next_queued(*still, now, out);
            if (!reauths.empty()) reauth_progress(*still, now, out);
            reschedule(*still);
        }
        return;
    }
    const std::uint64_t id = sa.id;  // handlers may remove the SA
    switch (h.exchange) {
        case wire::ExchangeType::ike_auth:
            if (sa.state == IkeState::init_replied) on_auth_request(sa, msg_in, payloads, now, out);
            break;
        case wire::ExchangeType::informational:
            on_informational_request(sa, payloads, msg_in.data, h.message_id, now, out);
            break;
        case wire::ExchangeType::create_child_sa:
            if (sa.state == IkeState::established) on_create_child_request(sa, payloads, msg_in.data, h.message_id, now, out);
            break;
        default: break;
    }
    if (IkeSa* still = find_by_id(id)) reschedule(*still);
}

void Engine::Impl::answer_unknown_spi(const Datagram& in, const wire::Header& h, Time now, Output& out) {
    constexpr unsigned kPerSecond = 10;
    if (now - invalid_spi_window >= std::chrono::seconds(1)) {
        invalid_spi_window = now;
        invalid_spi_sent = 0;
    }
    if (++invalid_spi_sent > kPerSecond) return;
    wire::Header r = h;  // same SPIs and message ID, unprotected
    r.flags = static_cast<std::uint8_t>(wire::flags::response | (h.from_initiator() ? 0 : wire::flags::initiator));
    r.exchange = wire::ExchangeType::informational;
    wire::NotifyPayload n;
    n.type = wire::notify::invalid_ike_spi;
    out.datagrams.push_back({in.local, in.remote, wire::encode_message(r, {{wire::PayloadType::notify, false, n}})});
}

void Engine::Impl::abandon_with_auth_failed(IkeSa& sa, const std::string& why, Time now, Output& out) {
    wire::NotifyPayload n;
    n.type = wire::notify::authentication_failed;
    wire::Header h = make_header(sa, wire::ExchangeType::informational, false, sa.next_request_id++);
    send(sa, sa.codec->protect(h, {{wire::PayloadType::notify, false, n}}, *env.random), out);
    remove_sa(sa, Event::Kind::ike_failed, why, now, out);
}

// ---------------------------------------------------------------- API

Engine::Engine(Config config, EngineEnvironment env) : impl_(std::make_unique<Impl>(std::move(config), std::move(env))) {}
Engine::~Engine() = default;

void Engine::load_config(Config config) { impl_->load(std::move(config)); }
const Config& Engine::config() const { return impl_->config; }

Result<std::uint64_t> Engine::initiate(const std::string& connection, const std::string& child, const Endpoint& local,
                                       const Endpoint& remote, Time now, Output& out, const PacketTrigger* trigger) {
    ConnPtr conn = impl_->find_connection(connection);
    if (!conn) return Error{"no connection named '" + connection + "'"};
    return impl_->initiate(conn, child, local, remote, now, out, trigger);
}

void Engine::on_datagram(const Datagram& in, Time now, Output& out) { impl_->on_datagram(in, now, out); }
void Engine::on_timer(Time now, Output& out) { impl_->on_timer(now, out); }

std::optional<Time> Engine::next_deadline() const {
    auto& timers = impl_->timers;
    while (!timers.empty()) {
        auto [t, id] = timers.top();
        auto it = impl_->armed.find(id);
        if (it != impl_->armed.end() && it->second == t) return t;
        timers.pop();
    }
    return std::nullopt;
}

Status Engine::terminate_ike(std::uint64_t ike_sa_id, Time now, Output& out) {
    IkeSa* sa = impl_->find_by_id(ike_sa_id);
    if (!sa) return Error{"no IKE SA " + std::to_string(ike_sa_id)};
    if (sa->state != IkeState::established) {
        impl_->remove_sa(*sa, Event::Kind::ike_deleted, "terminated before establishment", now, out);
        return {};
    }
    impl_->queue_exchange(*sa, PendingRequest::Purpose::delete_ike, now, out);
    return {};
}

Status Engine::terminate_child(std::uint64_t ike_sa_id, std::uint32_t child_id, Time now, Output& out) {
    IkeSa* sa = impl_->find_by_id(ike_sa_id);
    if (!sa || sa->state != IkeState::established) return Error{"no established IKE SA " + std::to_string(ike_sa_id)};
    if (!sa->find_child(child_id)) return Error{"no CHILD_SA " + std::to_string(child_id)};
    impl_->queue_exchange(*sa, {PendingRequest::Purpose::delete_child, child_id, nullptr}, now, out);
    return {};
}

Status Engine::rekey_child(std::uint64_t ike_sa_id, std::uint32_t child_id, Time now, Output& out) {
    IkeSa* sa = impl_->find_by_id(ike_sa_id);
    if (!sa || sa->state != IkeState::established) return Error{"no established IKE SA " + std::to_string(ike_sa_id)};
    if (!sa->find_child(child_id)) return Error{"no CHILD_SA " + std::to_string(child_id)};
    impl_->queue_exchange(*sa, {PendingRequest::Purpose::rekey_child, child_id, nullptr}, now, out);
    impl_->reschedule(*sa);
    return {};
}

Status Engine::move(std::uint64_t ike_sa_id, const Endpoint& local, const Endpoint& remote, Time now, Output& out) {
    IkeSa* sa = impl_->find_by_id(ike_sa_id);
    if (!sa || sa->state != IkeState::established) return Error{"no established IKE SA " + std::to_string(ike_sa_id)};
    return impl_->move(*sa, local, remote, now, out);
}

Status Engine::probe_paths(std::uint64_t ike_sa_id, std::vector<std::pair<Endpoint, Endpoint>> candidates, Time now,
                           Output& out) {
    IkeSa* sa = impl_->find_by_id(ike_sa_id);
    if (!sa || sa->state != IkeState::established) return Error{"no established IKE SA " + std::to_string(ike_sa_id)};
    return impl_->probe_paths(*sa, std::move(candidates), now, out);
}

void Engine::set_local_addresses(std::vector<IpAddress> addresses, Time now, Output& out) {
    impl_->set_local_addresses(std::move(addresses), now);
    (void)out;  // announcements leave on the next timer, after any move made meanwhile
}

void Engine::note_peer_traffic(std::uint64_t ike_sa_id, Time now) {
    if (IkeSa* sa = impl_->find_by_id(ike_sa_id); sa && now > sa->last_inbound) impl_->mark_alive(*sa, now);
}

Status Engine::rekey_ike(std::uint64_t ike_sa_id, Time now, Output& out) {
    IkeSa* sa = impl_->find_by_id(ike_sa_id);
    if (!sa || sa->state != IkeState::established) return Error{"no established IKE SA " + std::to_string(ike_sa_id)};
    impl_->queue_exchange(*sa, PendingRequest::Purpose::rekey_ike, now, out);
    impl_->reschedule(*sa);
    return {};
}

Status Engine::create_child(std::uint64_t ike_sa_id, const std::string& child, Time now, Output& out) {
    IkeSa* sa = impl_->find_by_id(ike_sa_id);
    if (!sa || sa->state != IkeState::established) return Error{"no established IKE SA " + std::to_string(ike_sa_id)};
    for (const auto& c : sa->conn->children)
        if (c.name == child) {
            impl_->queue_exchange(*sa, {PendingRequest::Purpose::create_child, 0, ChildPtr(sa->conn, &c)}, now, out);
            impl_->reschedule(*sa);
            return {};
        }
    return Error{"connection '" + sa->conn->name + "' has no child '" + child + "'"};
}

namespace {

IkeSaInfo info_of(std::uint64_t id, const std::unique_ptr<IkeSa>& sa) {
        IkeSaInfo i;
        i.id = id;
        i.connection = sa->conn->name;
        i.state = sa->state;
        i.initiator = sa->initiator;
        i.spi_i = sa->spi_i;
        i.spi_r = sa->spi_r;
        i.local = sa->local;
        i.remote = sa->remote;
        i.local_id = sa->local_id.to_string();
        i.remote_id = sa->remote_id.to_string();
        i.proposal = sa->proposal.to_string();
        i.nat_local = sa->nat_local;
        i.nat_remote = sa->nat_remote;
        i.mobike = sa->peer_mobike && sa->conn->mobike;
        i.mobike_version = i.mobike ? sa->mobike_version : 0;
        i.path_failed = sa->path_failed;
        i.peer_addresses = sa->peer_addresses;
        i.established_at = sa->established_at;
        i.rekey_at = sa->rekey_at;
        i.virtual_ips = sa->virtual_ips;
        for (const auto& c : sa->children)
            i.children.push_back({c.id, c.config->name, c.spi_in, c.spi_out, c.mode, c.proposal.to_string(), c.local_ts,
                                  c.remote_ts, sa->nat_local || sa->nat_remote || sa->conn->encap_force,
                                  c.established_at, c.rekey_at, c.expire_at});
        return i;
}

}  // namespace

std::vector<IkeSaInfo> Engine::list_sas() const {
    std::vector<IkeSaInfo> out;
    out.reserve(impl_->sas.size());
    for (const auto& [id, sa] : impl_->sas) out.push_back(info_of(id, sa));
    std::sort(out.begin(), out.end(), [](const IkeSaInfo& a, const IkeSaInfo& b) { return a.id < b.id; });
    return out;
}

std::optional<IkeSaInfo> Engine::sa_info(std::uint64_t ike_sa_id) const {
    auto it = impl_->sas.find(ike_sa_id);
    if (it == impl_->sas.end()) return std::nullopt;
    return info_of(it->first, it->second);
}

std::size_t Engine::ike_sa_count() const { return impl_->sas.size(); }

void IkeSaKeys::wipe_all() {
    for (Bytes* b : {&sk_ei, &sk_er, &sk_ai, &sk_ar}) wipe(*b);
}

Engine::Impl::~Impl() {
    for (auto& [t, k] : retired_ike_keys) k.wipe_all();
    for (auto& [id, sa] : sas)
        if (sa && sa->export_keys) sa->export_keys->wipe_all();
}

void Engine::Impl::expire_ike_keys(Time now) {
    while (!retired_ike_keys.empty() && now - retired_ike_keys.front().first > kRetiredIkeKeysFor) {
        retired_ike_keys.front().second.wipe_all();
        retired_ike_keys.pop_front();
    }
}

std::vector<IkeSaKeys> Engine::ike_sa_keys(Time now) {
    std::vector<IkeSaKeys> out;
    auto& im = *impl_;
    if (!im.config.export_ike_keys) {  // switched off by a reload: forget what was kept
        for (auto& [t, k] : im.retired_ike_keys) k.wipe_all();
        im.retired_ike_keys.clear();
        for (auto& [id, sa] : im.sas)
            if (sa->export_keys) {
                sa->export_keys->wipe_all();
                sa->export_keys.reset();
            }
        return out;
    }
    im.expire_ike_keys(now);
    std::vector<const IkeSa*> live;
    for (const auto& [id, sa] : im.sas)
        if (sa->export_keys) live.push_back(sa.get());
    std::sort(live.begin(), live.end(), [](const IkeSa* a, const IkeSa* b) { return a->id < b->id; });
    for (const IkeSa* sa : live) out.push_back(*sa->export_keys);
    for (auto it = im.retired_ike_keys.rbegin(); it != im.retired_ike_keys.rend(); ++it) out.push_back(it->second);
    return out;
}
std::size_t Engine::half_open_count() const { return impl_->half_open; }
const EngineCounters& Engine::counters() const { return impl_->counters; }

}  // namespace mobiked::ike
