// The Security Policy Database (RFC 4301 §4.4.1): an ordered list of
// policies, first match wins. Internally split into SPD-S (PROTECT), SPD-I
// and SPD-O (BYPASS/DISCARD for inbound and outbound traffic) as §4.4.1
// describes; a lookup consults the two that apply and keeps the policy that
// comes first in the one global order.
//
// Lookup cost: every policy is indexed by its remote-address selector, cut
// into CIDR prefixes (ANY is the /0 prefix; an arbitrary range is at most
// 2·width prefixes). A lookup probes one hash bucket per prefix length in
// use and tests the policies found there in order, so its cost depends on
// how many prefix lengths and overlapping policies there are, not on how
// many policies the SPD holds. Changes (add, insert, remove) are control-
// path operations; insert_before and remove rebuild the index (O(n)).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "ipsec/constants.hpp"
#include "ipsec/flat_map.hpp"
#include "ipsec/selectors.hpp"

namespace mobiked::ipsec {

// Address selector: ANY (either family) or an inclusive range of one family.
// pfp: populate the SA's selector from the packet (one SA per distinct value).
struct AddressSelector {
    bool any = true;
    AddressRange range;
    bool pfp = false;

    static AddressSelector any_address(bool pfp = false) { return {true, {}, pfp}; }
    static AddressSelector single(const IpAddress& a, bool pfp = false) { return {false, {a, a}, pfp}; }
    // nullopt on a prefix longer than the family allows.
    static std::optional<AddressSelector> prefix(const IpAddress& base, unsigned len, bool pfp = false);
    static AddressSelector range_of(const IpAddress& first, const IpAddress& last, bool pfp = false) {
        return {false, {first, last}, pfp};
    }
    bool matches(const IpAddress& a) const { return any || range.contains(a); }
    bool operator==(const AddressSelector&) const = default;
};

struct ProtocolSelector {
    enum class Kind : std::uint8_t { any, opaque, value };
    Kind kind = Kind::any;
    std::uint8_t value = 0;
    bool pfp = false;

    static ProtocolSelector of(std::uint8_t proto, bool pfp = false) { return {Kind::value, proto, pfp}; }
    // RFC 4301 §4.4.1: ANY also matches OPAQUE; OPAQUE matches only OPAQUE.
    bool matches(std::uint8_t proto, bool opaque) const {
        return kind == Kind::any || (kind == Kind::opaque ? opaque : !opaque && proto == value);
    }
    bool operator==(const ProtocolSelector&) const = default;
};

struct PortSelector {
    enum class Kind : std::uint8_t { any, opaque, range };
    Kind kind = Kind::any;
    std::uint16_t first = 0;
    std::uint16_t last = 65535;
    bool pfp = false;

    static PortSelector port(std::uint16_t p, bool pfp = false) { return {Kind::range, p, p, pfp}; }
    static PortSelector ports(std::uint16_t a, std::uint16_t b, bool pfp = false) {
        return {Kind::range, a, b, pfp};
    }
    static PortSelector opaque() { return {Kind::opaque, 0, 0, false}; }
    bool matches(std::uint16_t p, bool opaque) const {
        return kind == Kind::any || (kind == Kind::opaque ? opaque : !opaque && first <= p && p <= last);
    }
    bool operator==(const PortSelector&) const = default;
};

enum class Action : std::uint8_t { bypass, discard, protect };
std::string_view action_name(Action a);

// One acceptable algorithm set for the SAs of a PROTECT policy (IANA ids).
struct AlgorithmSet {
    std::uint16_t encr_id = 0;
    std::uint16_t encr_key_bits = 0;
    std::uint16_t integ_id = 0;  // 0 with AEAD
    bool esn = false;
    bool operator==(const AlgorithmSet&) const = default;
};

struct ProtectSpec {
    Protocol protocol = Protocol::esp;
    Mode mode = Mode::tunnel;
    // Tunnel header endpoints (tunnel mode); unspecified = filled by IKE/MOBIKE.
    IpAddress tunnel_local;
    IpAddress tunnel_remote;
    std::vector<AlgorithmSet> algorithms;
};

struct SaSelector;

struct Policy {
    using Id = std::uint32_t;

    AddressSelector local;
    AddressSelector remote;
    ProtocolSelector protocol;
    PortSelector local_port;
    PortSelector remote_port;
    // Name selector: a peer identity pattern (see name_matches). Not read
    // from packets: it narrows which peer may negotiate SAs for the policy.
    std::optional<std::string> name;

    Action action = Action::discard;
    // Which of inbound/outbound cleartext a BYPASS/DISCARD entry applies to
    // (SPD-I, SPD-O). PROTECT entries (SPD-S) apply to both.
    bool inbound = true;
    bool outbound = true;
    ProtectSpec protect;
    std::string label;  // for logs and the CLI

    Id id = 0;  // assigned by Spd

    bool matches(const FlowSelector& f) const;
    // Do the policy's selectors cover a requested SA selector (IKE narrowing)?
    bool admits(const SaSelector& requested) const;
};

// The SA selectors a PROTECT policy asks for, given a packet: PFP=1 fields
// take the packet's value, PFP=0 fields the policy's whole range (RFC 4301
// §4.4.1.2). Distinct packet values under PFP give distinct requests, hence
// distinct SAs.
struct SaSelector {
    TrafficSelector local;
    TrafficSelector remote;
    bool contains(const FlowSelector& f) const;
    bool operator==(const SaSelector&) const = default;
};
SaSelector derive_sa_selector(const Policy& p, const FlowSelector& f);

class Spd {
public:
    Spd();

    // Appends (lowest priority so far). Returns the new policy's id.
    Policy::Id add(Policy p);
    // Inserts just ahead of `before`; nullopt if `before` is unknown.
    std::optional<Policy::Id> insert_before(Policy::Id before, Policy p);
    bool remove(Policy::Id id);
    void clear();

    // First matching policy for a packet in direction d: outbound searches
    // SPD-S and SPD-O; inbound (cleartext packets) SPD-S and SPD-I — a
    // cleartext packet that hits PROTECT must be discarded by the caller.
    // nullptr when nothing matches (callers then DISCARD, RFC 4301 §5.1).
    // The pointer is valid until the next change of the SPD.
    const Policy* lookup(Direction d, const FlowSelector& f) const;

    // IKE responder side: the first PROTECT policy whose Name selector
    // matches the authenticated peer identity and whose selectors admit the
    // requested SA selector (its local/remote ranges as seen from us).
    const Policy* lookup_for_peer(std::string_view identity, const SaSelector& requested) const;

    const Policy* get(Policy::Id id) const;
    std::size_t size() const { return policies_.size(); }
    const std::vector<Policy>& policies() const { return policies_; }  // global order
    std::vector<const Policy*> spd_s() const;
    std::vector<const Policy*> spd_i() const;
    std::vector<const Policy*> spd_o() const;

    // Bumped on every change; the SPD cache drops entries of older generations.
    std::uint64_t generation() const { return generation_; }

private:
    static constexpr std::uint32_t kList = 0xffffffffu;
    // A policy as a bucket names it: its position in the global order and
    // its matcher. A bucket holds one candidate inline (the common case: one
    // policy per prefix) or, when matcher == kList, `pos` names a list in
    // Index::lists sorted by position.
    struct Candidate {
        std::uint32_t pos = 0;
        std::uint32_t matcher = 0;
    };
    // The selectors left to test once a bucket hit has proved the remote
    // address inside the policy's remote range (its prefixes tile the range
    // exactly). Policies share matchers: a large SPD has many remote
    // prefixes but few distinct local/protocol/port selectors, so the
    // matchers a lookup reads stay cache-resident where a copy per policy
    // would be one more cache miss per lookup.
    struct Matcher {
        AddressSelector local;
        ProtocolSelector protocol;
        PortSelector local_port;
        PortSelector remote_port;
        bool matches(const FlowSelector& f) const {
            return local.matches(f.local) && protocol.matches(f.protocol, f.protocol_opaque) &&
                   local_port.matches(f.local_port, f.ports_opaque) &&
                   remote_port.matches(f.remote_port, f.ports_opaque);
        }
        bool operator==(const Matcher&) const = default;
    };
    struct MatcherHash {
        std::size_t operator()(const Matcher& m) const;
    };
    struct WordHash {
        std::size_t operator()(std::uint64_t k) const { return static_cast<std::size_t>(mix64(k)); }
    };
    struct Prefix6 {
        std::uint64_t hi = 0, lo = 0;  // the masked address
        std::uint8_t length = 0;
        bool operator==(const Prefix6&) const = default;
    };
    struct Prefix6Hash {
        std::size_t operator()(const Prefix6& k) const;
    };
    // One sub-database (SPD-S, SPD-I or SPD-O): buckets of candidates per
    // remote prefix. IPv4 prefixes are keyed by one word, address << 8 | length.
    struct Index {
        FlatMap<std::uint64_t, Candidate, WordHash> v4;
        FlatMap<Prefix6, Candidate, Prefix6Hash> v6;
        std::vector<std::vector<Candidate>> lists;
        std::vector<std::uint8_t> lengths_v4;  // prefix lengths in use
        std::vector<std::uint8_t> lengths_v6;
        void add(const AddressSelector& remote, Candidate c);
        template <typename Map, typename Key>
        void add_prefix(Map& map, const Key& key, std::uint8_t length, Candidate c);
        // The first (lowest) position among `best` and the candidates
        // matching f, whose remote address is `addr`.
        std::uint32_t first_match4(const std::vector<Matcher>& ms, const FlowSelector& f,
                                   std::uint32_t addr, std::uint32_t best) const;
        std::uint32_t first_match6(const std::vector<Matcher>& ms, const FlowSelector& f,
                                   std::uint64_t hi, std::uint64_t lo, std::uint32_t best) const;
        std::uint32_t scan(const Candidate& bucket, const std::vector<Matcher>& ms,
                           const FlowSelector& f, std::uint32_t best) const;
    };

    std::uint32_t intern(const Policy& p);
    void index_policy(std::uint32_t pos);
    void rebuild();

    std::vector<Policy> policies_;
    std::vector<Matcher> matchers_;  // distinct, in order of first use
    FlatMap<Matcher, std::uint32_t, MatcherHash> matcher_ids_;
    Index spd_s_, spd_i_, spd_o_;
    Policy::Id next_id_ = 1;
    std::uint64_t generation_ = 1;
};

}  // namespace mobiked::ipsec
