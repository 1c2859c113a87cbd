// Connection configuration as the IKE engine consumes it: plain values with
// credentials already loaded (the daemon reads files; the engine never does).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "common/time.hpp"
#include "crypto/pki.hpp"
#include "wire/message.hpp"

namespace mobiked::ike {

// An IKE identity (RFC 7296 §3.5). parse() infers the type as strongSwan does:
// an IP address, "user@domain" (RFC822), "C=.., O=.., CN=.." (DER DN), "@fqdn"
// or a plain name (FQDN), or "%any" (wildcard, only as a remote id).
struct Identity {
    wire::IdType type = wire::IdType::fqdn;
    Bytes data;
    bool any = false;

    static Result<Identity> parse(const std::string& text);
    static Identity from_payload(const wire::IdPayload& p) { return {p.type, p.data, false}; }
    wire::IdPayload to_payload() const { return {type, data}; }
    // `any` matches everything. A pattern (remote ids from the configuration:
    // the PAD's identity patterns, RFC 4301 §4.4.3.1) matches a family of
    // identities: "*@company.com" any user FQDN at that domain, "*.company.com"
    // any FQDN below it (case-insensitive). Only `this` is read as a pattern,
    // never an identity received from the network.
    bool matches(const Identity& other) const;
    bool is_pattern() const;
    std::string to_string() const;
    bool operator==(const Identity& o) const { return type == o.type && data == o.data && any == o.any; }
};

enum class AuthMethod : std::uint8_t { psk, pubkey, eap };
std::string_view auth_method_name(AuthMethod m);

struct LocalAuth {
    AuthMethod method = AuthMethod::psk;
    Identity id;
    // pubkey: our certificate (leaf first, then intermediates to send) and key.
    std::vector<crypto::Certificate> certificates;
    std::shared_ptr<crypto::PrivateKey> private_key;
};

struct RemoteAuth {
    AuthMethod method = AuthMethod::psk;
    Identity id;  // may be %any
    std::vector<crypto::Certificate> trust_anchors;  // pubkey: CAs the peer's chain must reach
};

// A traffic selector as configured. `dynamic` stands for our own (or the
// peer's) current IKE address and is resolved when a CHILD_SA is negotiated.
struct TsSpec {
    AddressRange range = AddressRange::any(IpAddress::Family::v4);
    std::uint8_t protocol = 0;  // 0 = any
    std::uint16_t port_first = 0;
    std::uint16_t port_last = 65535;
    bool dynamic = false;

    static Result<TsSpec> parse(const std::string& text);  // "10.0.0.0/24", "a-b", "dynamic", "10.1.0.0/16[udp/53]"
    std::string to_string() const;
};

enum class IpsecMode : std::uint8_t { tunnel, transport };
enum class StartAction : std::uint8_t { none, start, trap };
// What the daemon does when the peer is found dead (an exchange on an
// established IKE SA gave up after its retransmissions, RFC 7296 §2.4):
// clear = delete locally only, restart = initiate the connection again,
// trap = install its children's trap policies (the next packet negotiates).
enum class DpdAction : std::uint8_t { clear, restart, trap };

struct Lifetimes {
    Duration rekey_time = std::chrono::hours(1);  // soft; 0 disables
    Duration life_time = std::chrono::hours(1) + std::chrono::minutes(6);  // hard
    std::uint64_t rekey_bytes = 0;
    std::uint64_t life_bytes = 0;
    std::uint64_t rekey_packets = 0;
    std::uint64_t life_packets = 0;
};

struct ChildConfig {
    std::string name;
    std::vector<TsSpec> local_ts;
    std::vector<TsSpec> remote_ts;
    IpsecMode mode = IpsecMode::tunnel;
    std::vector<wire::Proposal> esp_proposals;  // protocol esp, empty SPI
    Lifetimes lifetimes;
    StartAction start_action = StartAction::none;
};

// Retransmission schedule (RFC 7296 §2.1): the n-th retransmit goes
// timeout * base^n after the previous send; after `tries` retransmits the
// exchange fails. Defaults: 2 s, 1.5, 8 retransmits = 9 sends over ~150 s,
// about strongSwan's total span (4 s, 1.8, 5 retransmits, ~165 s) but with
// more sends, so that an exchange survives 30% loss each way 99.8% of the time
// (0.51^9 = 0.24% failure) where strongSwan's schedule fails 1.8% of them.
struct RetransmitConfig {
    Duration timeout = std::chrono::seconds(2);
    double base = 1.5;
    unsigned tries = 8;
    Duration jitter_max = Duration::zero();
};

struct ConnectionConfig {
    std::string name;
    std::vector<IpAddress> local_addrs;   // empty = any
    std::vector<std::string> remote_hosts; // addresses; empty or "%any" = accept any (responder only)
    std::uint16_t local_port = wire::kIkePort;
    std::uint16_t remote_port = wire::kIkePort;
    std::vector<wire::Proposal> ike_proposals;  // protocol ike
    LocalAuth local;
    RemoteAuth remote;
    std::vector<ChildConfig> children;
    bool mobike = true;
    // MOBIKE versions offered (initiator) and accepted (responder), draft-mglt-
    // ipsecme-mobikev2: 1 = RFC 4555, 2 = MOBIKEv2 (transport-mode CHILD_SAs
    // move too), 255 = NONE: answer a peer sharing no version with
    // MOBIKE_UNSUPPORTED_VERSION(NONE) instead of our list. {1} alone is plain
    // RFC 4555 (an empty MOBIKE_SUPPORTED). Only used when `mobike` is set.
    std::vector<std::uint8_t> mobike_versions{1, 2};
    bool send_certreq = true;
    Lifetimes ike_lifetimes;
    // Reauthentication (RFC 7296 §2.8.3), original initiator: after this (minus
    // up to 10 % jitter) a new IKE SA is set up with a full IKE_SA_INIT and
    // IKE_AUTH and the same CHILD_SAs, then the old one deleted
    // (make-before-break). 0 = never.
    Duration reauth_time = Duration::zero();
    RetransmitConfig retransmit;
    Duration dpd_delay = Duration::zero();  // 0 = no liveness checks
    DpdAction dpd_action = DpdAction::clear;
    // MOBIKE path liveness, original initiator only (RFC 4555 §3.11 lets the
    // initiator use aggressive timers; the responder keeps long ones). With
    // nothing received from the peer (IKE or ESP) for path_timeout the path is
    // declared failed (Event path_failed) and the daemon fails over; before
    // that a probe goes out after each path_probe_interval of silence, and an
    // unanswered request is resent at that pace (it keeps its normal give-up
    // schedule). 0 = off; probe interval 0 = path_timeout / 4.
    Duration path_timeout = Duration::zero();
    Duration path_probe_interval = Duration::zero();
    bool encap_force = false;  // always float to 4500 / UDP-encapsulate ESP (fake NAT)
    // Largest IP packet carrying an IKE message before it is sent as RFC 7383
    // fragments (when the peer supports them); strongSwan's default too.
    std::size_t fragment_size = 1280;
    // Gateway: pools (by name) that hand inner addresses to clients asking with CP.
    std::vector<std::string> pools;
    // Client: ask for an inner address of these families (swanctl's vips = 0.0.0.0 / ::).
    std::vector<IpAddress::Family> request_virtual_ips;
};

// Pre-shared keys, looked up by the pair of identities (either may be %any).
struct SharedSecret {
    std::vector<Identity> ids;
    Bytes secret;
};

struct AddressPoolConfig {
    std::string name;
    AddressRange range;
    std::vector<IpAddress> dns;  // handed out with the address
};

struct Config {
    std::vector<ConnectionConfig> connections;
    std::vector<AddressPoolConfig> pools;
    std::vector<SharedSecret> secrets;
    // Half-open IKE SAs above which we demand cookies (RFC 7296 §2.6); 0 = always.
    std::size_t cookie_threshold = 1000;
    // Half-open IKE SAs one source address may hold (a source that can answer
    // cookies is not spoofed, but may still be a flood), and in all: beyond
    // these, IKE_SA_INIT requests are dropped without keeping any state.
    std::size_t half_open_per_source = 64;
    std::size_t max_half_open = 100000;
    Duration half_open_timeout = std::chrono::seconds(30);
    // Keep each IKE SA's SK_ei/SK_er/SK_ai/SK_ar for Engine::ike_sa_keys
    // (Wireshark export); off: they are wiped once the SA is authenticated.
    bool export_ike_keys = false;

    const ConnectionConfig* find_connection(const std::string& name) const;
    // The PSK for a (local, remote) identity pair, best match first; nullptr if none.
    const SharedSecret* find_secret(const Identity& local, const Identity& remote) const;
};

}  // namespace mobiked::ike
