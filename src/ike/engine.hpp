// The IKEv2 engine: a sans-I/O protocol core (ngtcp2 style).
//
// Callers hand in datagrams with their addresses and the current time, and
// get back datagrams to send, SA commands for the data plane and events.
// The engine owns no sockets, clocks or threads. It is single-threaded: the
// caller serialises all calls. Randomness is injected so simulations replay.
//
// Contract for the caller:
//  * on_datagram(): `data` is an IKE message without the non-ESP marker; the
//    caller strips the 4-byte zero marker on port-4500 sockets and adds it to
//    every datagram it sends whose local or remote port is 4500.
//  * next_deadline() tells when on_timer() must be called next (nullopt: no timer).
//  * Output vectors are appended to, never cleared, by the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/net.hpp"
#include "common/time.hpp"
#include "crypto/random.hpp"
#include "ike/config.hpp"

namespace mobiked::ike {

struct Datagram {
    Endpoint local;
    Endpoint remote;
    Bytes data;
};

// Keys and algorithms of one direction of a CHILD_SA.
struct ChildSaKeys {
    std::uint16_t encr_id = 0;
    std::uint16_t encr_key_bits = 0;
    std::uint16_t integ_id = 0;
    Bytes encr_key;  // includes the salt for AEAD (key || salt)
    Bytes integ_key;
};

struct TrafficSelectorRange {
    AddressRange range;
    std::uint8_t protocol = 0;
    std::uint16_t port_first = 0;
    std::uint16_t port_last = 65535;
    std::string to_string() const;
    bool operator==(const TrafficSelectorRange&) const = default;
};

// The selectors of a packet that triggered negotiation: single addresses,
// its protocol and ports.
struct PacketTrigger {
    TrafficSelectorRange local;
    TrafficSelectorRange remote;
};

struct InstallChildSa {
    std::uint64_t ike_sa_id = 0;
    std::uint32_t child_id = 0;
    std::string child_name;
    std::uint32_t spi_in = 0;
    std::uint32_t spi_out = 0;
    wire::ProtocolId protocol = wire::ProtocolId::esp;
    IpsecMode mode = IpsecMode::tunnel;
    bool esn = false;
    bool udp_encap = false;
    Endpoint local;
    Endpoint remote;
    ChildSaKeys inbound;
    ChildSaKeys outbound;
    std::vector<TrafficSelectorRange> local_ts;
    std::vector<TrafficSelectorRange> remote_ts;
    Lifetimes lifetimes;
};

struct DeleteChildSa {
    std::uint64_t ike_sa_id = 0;
    std::uint32_t child_id = 0;
    std::uint32_t spi_in = 0;
    std::uint32_t spi_out = 0;
    // Replaced by a rekey: stop sending on it now, but keep accepting inbound
    // packets for a short grace period so none in flight is lost.
    bool rekeyed = false;
};

// MOBIKEv2: a transport-mode CHILD_SA's selectors after a move (they hold
// the hosts' addresses). The data plane rewrites the SAD selectors of both
// SAs and the SA's own policies / SPD-cache entries; configured policies stay.
struct TransportSelectors {
    std::uint32_t child_id = 0;
    std::uint32_t spi_in = 0;
    std::uint32_t spi_out = 0;
    std::vector<TrafficSelectorRange> local_ts;
    std::vector<TrafficSelectorRange> remote_ts;
};

// Every CHILD_SA of an IKE SA now uses these outer addresses (MOBIKE).
struct UpdateSaAddresses {
    std::uint64_t ike_sa_id = 0;
    Endpoint local;
    Endpoint remote;
    bool udp_encap = false;
    // MOBIKEv2 only: new selectors of the transport-mode CHILD_SAs whose
    // selectors named a moved address; applied in the same call (atomic for
    // the data path). Empty under MOBIKE version 1.
    std::vector<TransportSelectors> transport{};
};

using SaCommand = std::variant<InstallChildSa, DeleteChildSa, UpdateSaAddresses>;

struct Event {
    enum class Kind {
        ike_established,
        ike_deleted,
        ike_failed,  // an exchange failed or timed out; detail says why
        child_established,
        child_deleted,
        child_failed,
        ike_moved,
        ike_rekeyed,  // the event's SA replaces the one named in detail
        // Reauthentication: the event's (new, established) SA replaces the one
        // named in detail, which is deleted once the CHILD_SAs are made again.
        ike_reauthenticated,
        virtual_ip,   // client: the gateway assigned this inner address (detail)
        child_rekeyed,
        error_received,  // a peer's error notify, detail names it
        // MOBIKE, original initiator: nothing came back on the current path
        // for path_timeout; the daemon should try another address pair.
        path_failed,
        peer_addresses,  // the peer announced its address list (detail lists it)
        // MOBIKE, original initiator: an address pair given to probe_paths()
        // answered first; `local` and `remote` name it (as the answer came).
        path_probe_ok,
    };
    Kind kind = Kind::ike_established;
    std::uint64_t ike_sa_id = 0;
    std::string connection;
    std::string detail;
    Time at{};
    Endpoint local, remote;  // path_probe_ok only
};
std::string_view event_kind_name(Event::Kind k);
// Ends the detail of the ike_failed event of an established IKE SA whose
// exchange gave up after its retransmissions: the peer is dead.
inline constexpr std::string_view kPeerDead = ": peer dead";

struct Output {
    std::vector<Datagram> datagrams;
    std::vector<SaCommand> commands;
    std::vector<Event> events;
};

enum class IkeState : std::uint8_t {
    created,
    init_sent,      // initiator: IKE_SA_INIT request out
    auth_sent,      // initiator: IKE_AUTH request out
    init_replied,   // responder: IKE_SA_INIT answered, waiting for IKE_AUTH
    established,
    deleting,
    deleted,
};
std::string_view ike_state_name(IkeState s);

// Read-only views for the control API and tests.
struct ChildSaInfo {
    std::uint32_t child_id = 0;
    std::string name;
    std::uint32_t spi_in = 0;
    std::uint32_t spi_out = 0;
    IpsecMode mode = IpsecMode::tunnel;
    std::string proposal;  // e.g. "AES_GCM_16_128"
    std::vector<TrafficSelectorRange> local_ts;
    std::vector<TrafficSelectorRange> remote_ts;
    bool udp_encap = false;
    Time established_at{};
    Time rekey_at{};   // soft lifetime; Time{}: none (or the rekey has started)
    Time expire_at{};  // hard lifetime; Time{}: none
};

struct IkeSaInfo {
    std::uint64_t id = 0;  // engine-local handle, stable for the SA's life
    std::string connection;
    IkeState state = IkeState::created;
    bool initiator = false;
    std::uint64_t spi_i = 0;
    std::uint64_t spi_r = 0;
    Endpoint local;
    Endpoint remote;
    std::string local_id;
    std::string remote_id;
    std::string proposal;  // e.g. "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519"
    bool nat_local = false;
    bool nat_remote = false;
    bool mobike = false;
    std::uint8_t mobike_version = 0;        // negotiated: 1 (RFC 4555), 2 (MOBIKEv2); 0 without MOBIKE
    bool path_failed = false;               // MOBIKE path liveness gave up on the current path
    std::vector<IpAddress> peer_addresses;  // the peer's announced addresses (RFC 4555 §3.6), if any
    Time established_at{};
    Time rekey_at{};  // soft lifetime; Time{}: none (or the rekey has started)
    std::vector<IpAddress> virtual_ips;  // inner addresses assigned by CP (either role)
    std::vector<ChildSaInfo> children;
};

// An IKE SA's encryption and integrity keys, for Wireshark's
// ikev2_decryption_table (Engine::ike_sa_keys). Kept only with
// Config::export_ike_keys; never logged, not part of IkeSaInfo.
struct IkeSaKeys {
    std::uint64_t ike_sa_id = 0;
    std::uint64_t spi_i = 0;
    std::uint64_t spi_r = 0;
    std::uint16_t encr = 0;            // IANA transform IDs
    std::uint16_t encr_key_bits = 0;
    std::uint16_t integ = 0;
    Bytes sk_ei, sk_er, sk_ai, sk_ar;  // SK_e* include the salt of AEAD ciphers
    bool deleted = false;              // kept after the SA's delete (rekeyed or closed)
    void wipe_all();
};

enum class LogLevel : std::uint8_t { debug, info, warning, error };
// Log sink: subsystem ("ike", "cfg", ...) and a message that never contains keys.
using LogSink = std::function<void(LogLevel, std::string_view subsystem, const std::string& msg)>;

// Totals since the engine was created, for metrics.
struct EngineCounters {
    std::uint64_t retransmits = 0;              // our requests sent again after a timeout
    std::uint64_t responses_retransmitted = 0;  // cached responses resent for a repeated request
    std::uint64_t exchanges_timed_out = 0;      // gave up after the configured tries
};

struct EngineEnvironment {
    crypto::Random* random = nullptr;  // required; must outlive the engine
    LogSink log;                       // optional
};

class Engine {
public:
    Engine(Config config, EngineEnvironment env);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Replaces the configuration; existing SAs keep the connection they were made with.
    void load_config(Config config);
    const Config& config() const;

    // Starts an IKE SA for `connection` with its first child (or `child` if
    // given). `local` may have an unspecified address: the caller's route
    // lookup result should be passed instead when known. `trigger`, when the
    // SA is negotiated for a packet (ACQUIRE), holds that packet's selectors;
    // they go first in TSi/TSr so the responder can narrow to include them
    // (RFC 7296 §2.9). Returns the SA id.
    Result<std::uint64_t> initiate(const std::string& connection, const std::string& child,
                                   const Endpoint& local, const Endpoint& remote, Time now,
                                   Output& out, const PacketTrigger* trigger = nullptr);

    void on_datagram(const Datagram& in, Time now, Output& out);
    void on_timer(Time now, Output& out);
    std::optional<Time> next_deadline() const;

    // Sends an INFORMATIONAL Delete for the IKE SA (and so its children).
    Status terminate_ike(std::uint64_t ike_sa_id, Time now, Output& out);
    Status terminate_child(std::uint64_t ike_sa_id, std::uint32_t child_id, Time now, Output& out);

    // CREATE_CHILD_SA exchanges on demand (soft lifetimes start them too).
    Status rekey_child(std::uint64_t ike_sa_id, std::uint32_t child_id, Time now, Output& out);
    Status rekey_ike(std::uint64_t ike_sa_id, Time now, Output& out);
    Status create_child(std::uint64_t ike_sa_id, const std::string& child, Time now, Output& out);

    // MOBIKE (original initiator only): moves the IKE SA and its CHILD_SAs
    // to a new address pair with UPDATE_SA_ADDRESSES. UpdateSaAddresses is
    // emitted once the peer confirmed the path (COOKIE2 echoed).
    Status move(std::uint64_t ike_sa_id, const Endpoint& local, const Endpoint& remote, Time now, Output& out);
    // MOBIKE (original initiator), typically after path_failed: tests the
    // candidate address pairs (RFC 4555 §3.5, preferred first) with an
    // INFORMATIONAL carrying NAT_DETECTION_* - the request in flight if there
    // is one, else a new one - sent, and retransmitted, on every pair at once
    // (one message ID, so the window stays exact). The first pair that answers
    // is reported as path_probe_ok; nothing moves until move() is called.
    // Refused while an address update is in flight (move() resends it).
    Status probe_paths(std::uint64_t ike_sa_id, std::vector<std::pair<Endpoint, Endpoint>> candidates, Time now,
                       Output& out);

    // MOBIKE: our usable local addresses. When they change, every MOBIKE SA
    // announces them (ADDITIONAL_*_ADDRESS, RFC 4555 §3.6) on the next timer
    // unless an UPDATE_SA_ADDRESSES sent first carries them; IKE_AUTH carries
    // them too. A responder whose address went sends the announcement from
    // another one of the same family, so the initiator can move to it.
    void set_local_addresses(std::vector<IpAddress> addresses, Time now, Output& out);
    // Something authenticated (ESP) arrived from the peer of this IKE SA: the
    // path is alive without an IKE probe (feeds path_timeout and dpd_delay).
    void note_peer_traffic(std::uint64_t ike_sa_id, Time now);

    std::vector<IkeSaInfo> list_sas() const;
    // One SA (per-event work: list_sas() per event is quadratic on a gateway).
    std::optional<IkeSaInfo> sa_info(std::uint64_t ike_sa_id) const;
    // With Config::export_ike_keys: the keys of every IKE SA past IKE_AUTH
    // (also a rekey's successor) and of those deleted within the last 10
    // minutes (the newest 64), for a Wireshark export. Empty otherwise.
    std::vector<IkeSaKeys> ike_sa_keys(Time now);
    std::size_t ike_sa_count() const;
    std::size_t half_open_count() const;
    const EngineCounters& counters() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mobiked::ike
