// Engine internals shared by the per-exchange source files. Not an API.
#pragma once

#include <functional>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "ike/cookies.hpp"
#include "ike/engine.hpp"
#include "ike/ike_sa.hpp"

namespace mobiked::ike {

// What the child negotiation of IKE_AUTH / CREATE_CHILD_SA produced on the responder.
struct ChildOutcome {
    std::optional<ChildSa> child;
    std::uint16_t error_notify = 0;  // NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, ...
    bool narrowed = false;           // we dropped some proposed selectors
};

struct Engine::Impl {
    Config config;
    // Config::export_ike_keys: keys of deleted IKE SAs (when, keys), oldest first.
    std::deque<std::pair<Time, IkeSaKeys>> retired_ike_keys;
    void expire_ike_keys(Time now);
    ~Impl();
    std::vector<ConnPtr> connections;  // config.connections, shared with the SAs made from them
    std::unordered_map<std::string, std::unique_ptr<AddressPool>> pools;  // kept across reloads
    std::unordered_map<std::string, AddressRange> range_of;               // each pool's range
    EngineEnvironment env;
    std::unordered_map<std::uint64_t, std::unique_ptr<IkeSa>> sas;  // by engine id
    std::unordered_map<std::uint64_t, std::uint64_t> by_our_spi;     // our IKE SPI -> id
    std::unordered_multimap<std::uint64_t, std::uint64_t> half_open_by_spi_i;  // responder side
    std::unordered_set<std::uint32_t> esp_spis;
    std::uint64_t next_sa_id = 1;
    std::uint32_t next_child_id = 1;
    std::size_t half_open = 0;
    std::map<IpAddress, std::size_t> half_open_by_source;
    void count_half_open(const IkeSa& sa, int delta);
    CookieJar cookies;
    // INVALID_IKE_SPI answers are rate-limited (RFC 7296 §2.21.4): a budget per second.
    Time invalid_spi_window{};
    unsigned invalid_spi_sent = 0;
    EngineCounters counters;  // metrics

    // Min-heap of (deadline, sa id); stale entries are skipped lazily.
    using TimerEntry = std::pair<Time, std::uint64_t>;
    mutable std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers;
    std::unordered_map<std::uint64_t, Time> armed;  // the live deadline per SA

    Impl(Config c, EngineEnvironment e) : env(std::move(e)) { load(std::move(c)); }
    void load(Config c);
    ConnPtr find_connection(const std::string& name) const;

    // --- services (engine.cpp)
    void log(LogLevel level, const std::string& msg) const;
    void log_sa(LogLevel level, const IkeSa& sa, const std::string& msg) const;
    std::uint64_t allocate_ike_spi();
    std::uint32_t allocate_esp_spi();
    void release_esp_spi(std::uint32_t spi);
    IkeSa& create_sa(ConnPtr conn, bool initiator, Time now);
    IkeSa* find_by_id(std::uint64_t id);
    void set_responder_spi(IkeSa& sa, std::uint64_t spi_r);
    void mark_established(IkeSa& sa, Time now, Output& out);
    // Another IKE SA of the same connection to the same peer identity exists.
    bool has_other_sa(const IkeSa& sa) const;
    // The peer sent INITIAL_CONTACT: its other IKE SAs with us are stale
    // (it rebooted); delete them locally without waiting for a timeout.
    void drop_stale_sas(const IkeSa& sa, Time now, Output& out);
    // After IKE_AUTH (and its CHILD_SA's KEYMAT): only SK_d and the cipher
    // contexts are needed from here on; nonces and the other keys go.
    void forget_handshake_secrets(IkeSa& sa) const;
    void remove_sa(IkeSa& sa, Event::Kind why, const std::string& detail, Time now, Output& out);
    void remove_child(IkeSa& sa, std::uint32_t child_id, Time now, Output& out);
    Event& emit(Output& out, Event::Kind kind, const IkeSa& sa, std::string detail, Time now) const;
    void reschedule(IkeSa& sa);

    wire::Header make_header(const IkeSa& sa, wire::ExchangeType ex, bool response, std::uint32_t mid) const;
    void send(const IkeSa& sa, Bytes datagram, Output& out) const;
    // The protected datagram(s) for a message: SKF fragments when it is too big
    // for the path and both ends support RFC 7383 (never for IKE_SA_INIT).
    std::vector<Bytes> protect_message(IkeSa& sa, const wire::Header& h, const std::vector<wire::Payload>& p);
    struct Opened {
        wire::PayloadType first = wire::PayloadType::none;
        Bytes plain;
        std::optional<Datagram> raw;  // the first fragment, for a reassembled message
    };
    // Authenticates and decrypts an SK message, or collects an SKF fragment;
    // nullopt when dropped or still incomplete.
    std::optional<Opened> open_protected(IkeSa& sa, const Datagram& in, const wire::Header& h);
    // Encrypts and sends a request; it occupies the window until answered.
    void send_request(IkeSa& sa, PendingRequest::Purpose purpose, wire::ExchangeType ex,
                      const std::vector<wire::Payload>& payloads, Time now, Output& out);
    // Encrypts and sends a response to request `mid`, caching it for retransmits.
    void send_response(IkeSa& sa, wire::ExchangeType ex, std::uint32_t mid, const std::vector<wire::Payload>& payloads,
                       ByteView request, Output& out);
    void start_next_queued(IkeSa& sa, Time now, Output& out);

    // --- dispatch (engine.cpp)
    void on_datagram(const Datagram& in, Time now, Output& out);
    void on_protected(IkeSa& sa, const Datagram& in, const wire::Header& h, Time now, Output& out);
    void on_timer(Time now, Output& out);
    void answer_unknown_spi(const Datagram& in, const wire::Header& h, Time now, Output& out);
    // RFC 7296 §2.21.2: an initiator that cannot authenticate the responder
    // says so in one INFORMATIONAL, not retransmitted, then forgets the SA.
    void abandon_with_auth_failed(IkeSa& sa, const std::string& why, Time now, Output& out);
    void on_sa_timer(IkeSa& sa, Time now, Output& out);
    void on_lifetimes(IkeSa& sa, Time now, Output& out);

    // --- IKE_SA_INIT (sa_init.cpp)
    Result<std::uint64_t> initiate(const ConnPtr& conn, const std::string& child, const Endpoint& local,
                                   const Endpoint& remote, Time now, Output& out, const PacketTrigger* trigger);
    void send_init_request(IkeSa& sa, Time now, Output& out);
    void on_init_request(const Datagram& in, const wire::Header& h, Time now, Output& out);
    void on_init_response(IkeSa& sa, const Datagram& in, Time now, Output& out);
    bool derive_keys(IkeSa& sa, ByteView shared_secret);
    void send_unprotected_error(const Datagram& in, const wire::Header& h, std::uint16_t type, Bytes data,
                                Output& out) const;

    // --- IKE_AUTH (ike_auth.cpp)
    void send_auth_request(IkeSa& sa, Time now, Output& out);
    void on_auth_request(IkeSa& sa, const Datagram& in, const std::vector<wire::Payload>& p, Time now, Output& out);
    void on_auth_response(IkeSa& sa, const std::vector<wire::Payload>& p, Time now, Output& out);

    // --- CHILD_SA negotiation (child_sa.cpp)
    std::optional<ChildRequest> make_child_request(const IkeSa& sa, ChildPtr child,
                                                   const PacketTrigger* trigger);
    // `with_ke`: CREATE_CHILD_SA (PFS groups offered/selected); IKE_AUTH strips them.
    void append_child_request(const ChildRequest& req, std::vector<wire::Payload>& payloads, bool with_ke) const;
    ChildOutcome negotiate_child(IkeSa& sa, const std::vector<wire::Payload>& request, Time now, bool with_ke);
    void append_child_response(const ChildSa& child, bool narrowed, std::vector<wire::Payload>& payloads) const;
    std::optional<ChildSa> accept_child_response(IkeSa& sa, const ChildRequest& req,
                                                 const std::vector<wire::Payload>& response, std::string& why,
                                                 Time now, bool with_ke);
    // Installs with KEYMAT = prf+(SK_d, [g^ir |] Ni | Nr); returns the child id (0 on failure).
    // `exchange_initiator`: whether we started the exchange that made the
    // child; KEYMAT's first keys protect that side's outbound traffic (§2.17),
    // whatever our role in the IKE SA. Empty nonces = IKE_AUTH's child.
    std::uint32_t install_child(IkeSa& sa, ChildSa child, Time now, Output& out, bool exchange_initiator,
                                ByteView shared_secret = {}, ByteView ni = {}, ByteView nr = {});

    // --- INFORMATIONAL (informational.cpp)
    void on_informational_request(IkeSa& sa, const std::vector<wire::Payload>& p, ByteView raw, std::uint32_t mid,
                                  Time now, Output& out);
    void on_informational_response(IkeSa& sa, const PendingRequest& req, const std::vector<wire::Payload>& p,
                                   Time now, Output& out);
    void queue_exchange(IkeSa& sa, QueuedExchange ex, Time now, Output& out);
    void queue_exchange(IkeSa& sa, PendingRequest::Purpose purpose, Time now, Output& out) {
        queue_exchange(sa, QueuedExchange{purpose, 0, nullptr}, now, out);
    }
    void build_and_send_queued(IkeSa& sa, const QueuedExchange& ex, Time now, Output& out);
    void send_delete_children(IkeSa& sa, std::vector<std::uint32_t> child_ids, Time now, Output& out);

    // --- Configuration Payload (config_payload.cpp)
    void append_cp_request(const IkeSa& sa, std::vector<wire::Payload>& p) const;
    // Gateway: leases addresses for a CFG_REQUEST; false = INTERNAL_ADDRESS_FAILURE.
    bool answer_cp_request(IkeSa& sa, const std::vector<wire::Payload>& request, std::vector<wire::Payload>& reply);
    void accept_cp_reply(IkeSa& sa, const std::vector<wire::Payload>& response, Time now, Output& out);
    void release_leases(IkeSa& sa);
    // The peer's address for `dynamic` selectors: its inner address when it has one.
    IpAddress peer_host(const IkeSa& sa) const;

    // --- MOBIKE (mobike.cpp)
    bool mobike_active(const IkeSa& sa) const;
    // MOBIKEv2 version negotiation (IKE_AUTH).
    std::vector<std::uint8_t> mobike_offer(const IkeSa& sa) const;  // versions we offer, NONE excluded
    void append_mobike_supported(const IkeSa& sa, std::vector<wire::Payload>& p) const;
    // Responder: the answer to the peer's MOBIKE_SUPPORTED (appended to `r`);
    // false when it is MOBIKE_UNSUPPORTED_VERSION, which fails IKE_AUTH.
    bool answer_mobike_supported(IkeSa& sa, const wire::NotifyPayload& n, std::vector<wire::Payload>& r);
    // Initiator: the version the responder's MOBIKE_SUPPORTED (or its absence) gives.
    std::uint8_t accept_mobike_answer(const IkeSa& sa, const wire::NotifyPayload* n) const;
    // Initiator: MOBIKE_UNSUPPORTED_VERSION in IKE_AUTH: restart at IKE_SA_INIT
    // with what the responder listed (once); false = give up the SA.
    bool restart_for_mobike_version(IkeSa& sa, const wire::NotifyPayload& n, Time now, Output& out);
    // MOBIKEv2 with transport-mode children: may `a` be our (local) or the
    // peer's address? Checks the configured selectors (SPD) and local_addrs /
    // remote_hosts (PAD); always true otherwise.
    bool transport_moves(const IkeSa& sa) const;
    bool address_authorized(const IkeSa& sa, const IpAddress& a, bool local) const;
    // The peer's address list from ADDITIONAL_*/NO_ADDITIONAL_ADDRESSES plus the
    // address the message came from; emits peer_addresses when it changed.
    void record_peer_addresses(IkeSa& sa, const std::vector<wire::Payload>& p, const IpAddress& sender, Time now,
                               Output& out);
    // ADDITIONAL_*_ADDRESS (or NO_ADDITIONAL_ADDRESSES) for our current list;
    // nothing while the daemon has not told us our addresses.
    // `say_none`: NO_ADDITIONAL_ADDRESSES when there is nothing to list (an
    // update of the list; IKE_AUTH just leaves the notifies out).
    void append_our_addresses(const IkeSa& sa, std::vector<wire::Payload>& p, bool say_none = true) const;
    void set_local_addresses(std::vector<IpAddress> addresses, Time now);
    // Path liveness (initiator, path_timeout): see ConnectionConfig.
    bool path_watched(const IkeSa& sa) const;
    Duration path_probe_interval(const IkeSa& sa) const;
    void mark_alive(IkeSa& sa, Time now) const;
    void on_path_timer(IkeSa& sa, Time now, Output& out);
    // A liveness request of a MOBIKE initiator is a path probe with NAT_DETECTION_*;
    // its answer tells whether a NAT between us changed its mapping.
    std::vector<wire::Payload> liveness_payloads(const IkeSa& sa) const;
    void on_path_probe_response(IkeSa& sa, const std::vector<wire::Payload>& p, Time now, Output& out);
    void seed_natd_seen(IkeSa& sa) const;
    std::vector<IpAddress> local_addresses;  // from the daemon (set_local_addresses)
    bool local_addresses_known = false;
    void commit_move(IkeSa& sa, Time now, Output& out);
    bool on_mobike_request(IkeSa& sa, const std::vector<wire::Payload>& p, ByteView raw, std::uint32_t mid, Time now,
                           Output& out);
    void start_mobike_request(IkeSa& sa, PendingRequest::Purpose purpose, Time now, Output& out);
    void on_mobike_response(IkeSa& sa, const PendingRequest& req, const std::vector<wire::Payload>& p, Time now,
                            Output& out);
    Status move(IkeSa& sa, const Endpoint& local, const Endpoint& remote, Time now, Output& out);
    Status probe_paths(IkeSa& sa, std::vector<std::pair<Endpoint, Endpoint>> candidates, Time now, Output& out);
    // A response arrived while probing: the pair it came on is the answer.
    void on_probe_answer(IkeSa& sa, const Datagram& in, Time now, Output& out);

    // --- CREATE_CHILD_SA (create_child.cpp, ike_rekey.cpp)
    void start_create_child(IkeSa& sa, const QueuedExchange& ex, Time now, Output& out);
    void on_create_child_request(IkeSa& sa, const std::vector<wire::Payload>& p, ByteView raw, std::uint32_t mid,
                                 Time now, Output& out);
    void on_create_child_response(IkeSa& sa, const std::vector<wire::Payload>& p, Time now, Output& out);
    void finish_child_rekey(IkeSa& sa, std::uint32_t old_id, std::uint32_t new_id, Bytes ni, Bytes nr, Time now,
                            Output& out);
    void start_ike_rekey(IkeSa& sa, Time now, Output& out);
    void on_ike_rekey_request(IkeSa& sa, const std::vector<wire::Payload>& p, ByteView raw, std::uint32_t mid,
                              Time now, Output& out);
    void on_ike_rekey_response(IkeSa& sa, CreateChildContext& ctx, const std::vector<wire::Payload>& p, Time now,
                               Output& out);
    // Moves everything but keys, SPIs and message IDs to the successor SA;
    // without `inherit` (a rekey collision still open) the CHILD_SAs and
    // leases stay on `old` until inherit_ike_sa() picks the survivor.
    IkeSa& make_successor(IkeSa& old, bool initiator, std::uint64_t spi_i, std::uint64_t spi_r, const Selected& prop,
                          Time now, bool inherit = true);
    void inherit_ike_sa(IkeSa& old, IkeSa& n, Time now);
    // Simultaneous IKE SA rekeys (RFC 7296 §2.8.2): the peer rekeyed `old`
    // while our rekey of it was in flight; the SA its exchange made and that
    // exchange's nonces, kept until ours completes or fails.
    struct IkeRekeyCollision {
        std::uint64_t peer_sa = 0;
        Bytes ni, nr;
    };
    std::unordered_map<std::uint64_t, IkeRekeyCollision> ike_rekey_collisions;  // old SA id -> peer's rekey
    // Ours failed or `old` is being deleted: the peer's new SA (if any) survives.
    void peer_ike_rekey_survives(IkeSa& old, Time now, Output& out);
    void set_lifetimes(IkeSa& sa, ChildSa& child, Time now);
    Duration jittered(Duration d);

    // --- reauthentication, make-before-break (ike_reauth.cpp, RFC 7296 §2.8.3)
    struct Reauth {
        std::uint64_t old_id = 0;       // the SA being replaced (0: it went meanwhile)
        std::vector<ChildPtr> more;     // children after the first (CREATE_CHILD_SA)
        bool established = false;
    };
    std::unordered_map<std::uint64_t, Time> reauth_at;          // SA id -> when (reauth_time)
    std::unordered_map<std::uint64_t, Reauth> reauths;          // new SA id -> what it replaces
    std::unordered_map<std::uint64_t, std::uint64_t> reauth_new_of;  // old SA id -> new SA id
    void schedule_reauth(IkeSa& sa, Time now);
    void start_reauth(IkeSa& old, Time now, Output& out);
    // After each response on `n`: once a reauthentication SA is established and
    // has made every CHILD_SA again, the old SA is deleted.
    void reauth_progress(IkeSa& n, Time now, Output& out);
    void forget_reauth(const IkeSa& sa, Time now);                    // remove_sa
    void rename_reauth(std::uint64_t old_id, std::uint64_t new_id);  // IKE rekey successor
    bool is_reauth(const IkeSa& sa) const { return reauths.contains(sa.id); }
};

}  // namespace mobiked::ike
