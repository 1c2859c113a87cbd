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
// many policies the SPD holds.
//
// Change cost: the data plane inserts every new CHILD_SA's policies at the
// front and removes them with the SA, so a change must not touch the other
// policies. Buckets therefore name a policy by a stable slot and an order
// key (smaller = earlier), not by its position, which every insert at the
// front would shift. A new policy takes a key between its neighbours'; at
// either end it leaves a gap of 2^32, so inserting at the front almost never
// runs out. Where neighbours' keys are adjacent, the keys of the smallest
// sparse-enough aligned key range around the spot are spread evenly again
// (Bender et al., "Two simplified algorithms for maintaining order in a
// list", ESA 2002: O(log n) amortised relabels, each as dear as an insert).
// add, insert at the front and remove thus cost O(number of the policy's
// remote prefixes), amortised; inserts in the middle at most log n times
// that. Add the shift of the sorted list of any bucket that other policies
// share (the /0 bucket of ANY policies, say). Policies never move in memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
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
    // The policies in global order, as a forward range over `const Policy&`.
    // Like a pointer from lookup(), valid until the next change of the SPD.
    class PolicyRange {
    public:
        class iterator {
        public:
            using iterator_category = std::forward_iterator_tag;
            using value_type = Policy;
            using difference_type = std::ptrdiff_t;
            using pointer = const Policy*;
            using reference = const Policy&;
            iterator() = default;
            reference operator*() const;
            pointer operator->() const { return &**this; }
            iterator& operator++();
            iterator operator++(int) {
                iterator old = *this;
                ++*this;
                return old;
            }
            bool operator==(const iterator&) const = default;

        private:
            friend class PolicyRange;
            iterator(const Spd* spd, std::uint32_t slot) : spd_(spd), slot_(slot) {}
            const Spd* spd_ = nullptr;
            std::uint32_t slot_ = 0;
        };
        iterator begin() const { return {spd_, spd_->head_}; }
        iterator end() const { return {spd_, kNil}; }
        bool empty() const { return spd_->size_ == 0; }
        std::size_t size() const { return spd_->size_; }
        const Policy& front() const { return *begin(); }  // not on an empty SPD

    private:
        friend class Spd;
        explicit PolicyRange(const Spd* spd) : spd_(spd) {}
        const Spd* spd_;
    };

    // end_gap: the keys an insert at either end leaves between the new
    // policy and its neighbour; 2^31 inserts at the front fit before the
    // front needs a relabel. Tests pass 2^63 to reach the ends quickly.
    explicit Spd(std::uint64_t end_gap = std::uint64_t{1} << 32);

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
    // Walks the whole SPD (O(n)).
    const Policy* lookup_for_peer(std::string_view identity, const SaSelector& requested) const;

    const Policy* get(Policy::Id id) const;  // nullptr if unknown
    std::size_t size() const { return size_; }
    PolicyRange policies() const { return PolicyRange(this); }  // global order
    std::vector<const Policy*> spd_s() const;
    std::vector<const Policy*> spd_i() const;
    std::vector<const Policy*> spd_o() const;

    // Bumped on every change; the SPD cache drops entries of older generations.
    std::uint64_t generation() const { return generation_; }
    // How many order keys were reassigned since construction (tests and
    // benchmarks: the amortised cost of running out of gaps).
    std::uint64_t relabeled() const { return relabeled_; }

private:
    static constexpr std::uint32_t kNil = 0xffffffffu;
    static constexpr std::uint32_t kList = 0xffffffffu;
    // A policy as a bucket names it: its order key, its slot and its
    // matcher. Carrying the key lets a lookup decide first match without
    // fetching anything else. At 100 000 policies, with buckets of 24 bytes
    // (16 when they named positions) lookups take ~26 ns against ~23 before;
    // keys in an array by slot made them ~30 ns, and 16-byte buckets with
    // half the key (ties settled from such an array) ~26 ns for more code.
    // A bucket holds one candidate inline (the common case: one policy per
    // prefix) or, when matcher == kList, `slot` names a list in Index::lists
    // sorted by key.
    struct Candidate {
        std::uint64_t key = 0;
        std::uint32_t slot = 0;
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
    // The first match so far: kNil slot and the largest key when none.
    struct Best {
        std::uint64_t key = ~std::uint64_t{0};
        std::uint32_t slot = kNil;
    };
    // One sub-database (SPD-S, SPD-I or SPD-O): buckets of candidates per
    // remote prefix. IPv4 prefixes are keyed by one word, address << 8 | length.
    struct Index {
        FlatMap<std::uint64_t, Candidate, WordHash> v4;
        FlatMap<Prefix6, Candidate, Prefix6Hash> v6;
        std::vector<std::vector<Candidate>> lists;
        std::vector<std::uint32_t> free_lists;
        std::vector<std::uint8_t> lengths_v4;  // prefix lengths in use, longest first
        std::vector<std::uint8_t> lengths_v6;
        std::array<std::uint32_t, 33> uses_v4{};  // candidates per prefix length
        std::array<std::uint32_t, 129> uses_v6{};

        auto& map_of(std::uint64_t) { return v4; }
        auto& map_of(const Prefix6&) { return v6; }
        template <typename Key>
        void add(const Key& key, std::uint8_t length, Candidate c);
        template <typename Key>
        void erase(const Key& key, std::uint8_t length, std::uint64_t order);
        // The candidate of order key `order` in the bucket of `key`.
        template <typename Key>
        Candidate* find(const Key& key, std::uint64_t order);
        void count_length(bool v6, std::uint8_t length, bool add);

        // The first (lowest key) among `best` and the candidates matching f,
        // whose remote address is `addr`.
        Best first_match4(const std::vector<Matcher>& ms, const FlowSelector& f, std::uint32_t addr,
                          Best best) const;
        Best first_match6(const std::vector<Matcher>& ms, const FlowSelector& f, std::uint64_t hi,
                          std::uint64_t lo, Best best) const;
        Best scan(const Candidate& bucket, const std::vector<Matcher>& ms, const FlowSelector& f,
                  Best best) const;
    };
    // A policy in its slot: slots are reused after remove, never moved (the
    // storage grows by chunks), and link the policies in global order.
    struct Node {
        Policy policy;
        std::uint64_t key = 0;
        std::uint32_t prev = kNil, next = kNil;
        std::uint32_t matcher = 0;
    };
    static constexpr std::uint32_t kChunkBits = 6;
    static constexpr std::uint32_t kChunk = 1u << kChunkBits;

    Node& node(std::uint32_t slot) { return chunks_[slot >> kChunkBits][slot & (kChunk - 1)]; }
    const Node& node(std::uint32_t slot) const {
        return chunks_[slot >> kChunkBits][slot & (kChunk - 1)];
    }
    Policy::Id link(Policy p, std::uint32_t prev, std::uint32_t next);
    std::optional<std::uint64_t> key_between(std::uint32_t prev, std::uint32_t next) const;
    void relabel_around(std::uint32_t slot);
    void spread(std::uint32_t first, std::size_t count, std::uint64_t anchor, unsigned bits,
                std::uint32_t fresh);
    template <typename F>
    void for_each_bucket(const Policy& p, F&& f);
    void index_node(std::uint32_t slot);
    void unindex_node(std::uint32_t slot);
    std::uint32_t intern(const Policy& p);
    void release(std::uint32_t matcher);

    std::vector<std::vector<Node>> chunks_;  // kChunk nodes each
    std::vector<std::uint32_t> free_slots_;
    std::uint32_t slots_ = 0;  // slots handed out so far, free ones included
    std::uint32_t head_ = kNil, tail_ = kNil;
    std::size_t size_ = 0;
    struct IdHash {
        std::size_t operator()(Policy::Id k) const { return static_cast<std::size_t>(mix64(k)); }
    };
    FlatMap<Policy::Id, std::uint32_t, IdHash> slot_of_;
    std::vector<Matcher> matchers_;
    std::vector<std::uint32_t> matcher_refs_;  // policies per matcher; 0 = free
    std::vector<std::uint32_t> free_matchers_;
    FlatMap<Matcher, std::uint32_t, MatcherHash> matcher_ids_;
    Index spd_s_, spd_i_, spd_o_;
    Policy::Id next_id_ = 1;
    std::uint64_t generation_ = 1;
    std::uint64_t relabeled_ = 0;
    std::uint64_t end_gap_;
};

inline const Policy& Spd::PolicyRange::iterator::operator*() const { return spd_->node(slot_).policy; }
inline Spd::PolicyRange::iterator& Spd::PolicyRange::iterator::operator++() {
    slot_ = spd_->node(slot_).next;
    return *this;
}

}  // namespace mobiked::ipsec
