#include "ipsec/spd.hpp"

#include <algorithm>
#include <type_traits>

namespace mobiked::ipsec {
namespace {

__extension__ typedef unsigned __int128 u128;

int width_of(IpAddress::Family f) { return f == IpAddress::Family::v4 ? 32 : 128; }

u128 to_u128(const IpAddress& a) {
    u128 v = 0;
    for (std::uint8_t b : a.bytes()) v = v << 8 | b;
    return v;
}

u128 mask_of(int width, int length) {
    if (length == 0) return 0;
    const u128 ones = width == 128 ? ~u128{0} : (u128{1} << width) - 1;
    return ones & ~((u128{1} << (width - length)) - 1) & ones;
}

// Cuts [a, b] into the minimal list of aligned prefixes (at most 2·width).
template <typename F>
void decompose(u128 a, u128 b, int width, F&& emit) {
    const u128 max = width == 128 ? ~u128{0} : (u128{1} << width) - 1;
    if (a == 0 && b == max) {
        emit(a, 0);
        return;
    }
    for (;;) {
        int k = 0;
        while (k + 1 < width) {
            const u128 size = u128{1} << (k + 1);
            if ((a & (size - 1)) != 0 || a + (size - 1) > b) break;
            ++k;
        }
        emit(a, width - k);
        const u128 last = a + ((u128{1} << k) - 1);
        if (last >= b) return;
        a = last + 1;
    }
}

// Calls emit(family, base, length) for each prefix of a remote selector;
// the prefixes tile the selector's range exactly.
template <typename F>
void remote_prefixes(const AddressSelector& remote, F&& emit) {
    if (remote.any) {
        // ANY covers both families: the /0 prefix of each.
        emit(IpAddress::Family::v4, u128{0}, 0);
        emit(IpAddress::Family::v6, u128{0}, 0);
        return;
    }
    const IpAddress::Family fam = remote.range.first.family();
    if (fam != remote.range.last.family()) return;  // matches nothing
    const u128 a = to_u128(remote.range.first);
    const u128 b = to_u128(remote.range.last);
    if (a <= b) decompose(a, b, width_of(fam), [&](u128 base, int len) { emit(fam, base, len); });
}

// Relabelling takes the smallest aligned range of 2^bits keys around the spot
// that holds at most kDensity^bits policies (kDensity = 2/T, T = 1.5 in
// Bender et al.'s terms): sparse enough that spreading them evenly leaves
// gaps of about 1.5^bits keys, which is what bounds relabels to O(log n)
// per insert, amortised.
constexpr double kDensity = 4.0 / 3.0;

bool range_admits(const AddressSelector& s, const AddressRange& r) {
    return s.any || (s.range.contains(r.first) && s.range.contains(r.last));
}

bool ports_admit(const PortSelector& s, const TrafficSelector& ts) {
    switch (s.kind) {
        case PortSelector::Kind::any:
            return true;
        case PortSelector::Kind::opaque:
            return ts.ports_opaque();
        case PortSelector::Kind::range:
            return !ts.ports_opaque() && s.first <= ts.port_first && ts.port_last <= s.last;
    }
    return false;
}

bool admits_impl(const Policy& p, const SaSelector& r) {
    if (r.local.protocol != r.remote.protocol) return false;
    const bool proto_ok = p.protocol.kind == ProtocolSelector::Kind::any ||
                          (p.protocol.kind == ProtocolSelector::Kind::value &&
                           p.protocol.value == r.local.protocol);
    return proto_ok && range_admits(p.local, r.local.range) && range_admits(p.remote, r.remote.range) &&
           ports_admit(p.local_port, r.local) && ports_admit(p.remote_port, r.remote);
}

TrafficSelector derive_side(const AddressSelector& a, const PortSelector& port, const IpAddress& addr,
                            std::uint16_t pkt_port, bool ports_opaque) {
    TrafficSelector ts;
    ts.range = a.pfp ? AddressRange{addr, addr} : a.any ? AddressRange::any(addr.family()) : a.range;
    if (port.pfp) {
        ts.port_first = ports_opaque ? 65535 : pkt_port;
        ts.port_last = ports_opaque ? 0 : pkt_port;
    } else if (port.kind == PortSelector::Kind::opaque) {
        ts.port_first = 65535;
        ts.port_last = 0;
    } else if (port.kind == PortSelector::Kind::range) {
        ts.port_first = port.first;
        ts.port_last = port.last;
    }
    return ts;
}

}  // namespace

std::string_view action_name(Action a) {
    switch (a) {
        case Action::bypass:
            return "BYPASS";
        case Action::discard:
            return "DISCARD";
        case Action::protect:
            return "PROTECT";
    }
    return "?";
}

std::optional<AddressSelector> AddressSelector::prefix(const IpAddress& base, unsigned len, bool pfp) {
    auto r = AddressRange::from_prefix(base, len);
    if (!r) return std::nullopt;
    return AddressSelector{false, *r, pfp};
}

bool Policy::matches(const FlowSelector& f) const {
    return remote.matches(f.remote) && local.matches(f.local) &&
           protocol.matches(f.protocol, f.protocol_opaque) &&
           local_port.matches(f.local_port, f.ports_opaque) &&
           remote_port.matches(f.remote_port, f.ports_opaque);
}

bool Policy::admits(const SaSelector& requested) const { return admits_impl(*this, requested); }

bool SaSelector::contains(const FlowSelector& f) const {
    return local.contains(f.local, f.protocol, f.protocol_opaque, f.local_port, f.ports_opaque) &&
           remote.contains(f.remote, f.protocol, f.protocol_opaque, f.remote_port, f.ports_opaque);
}

SaSelector derive_sa_selector(const Policy& p, const FlowSelector& f) {
    SaSelector s;
    s.local = derive_side(p.local, p.local_port, f.local, f.local_port, f.ports_opaque);
    s.remote = derive_side(p.remote, p.remote_port, f.remote, f.remote_port, f.ports_opaque);
    std::uint8_t proto = 0;
    if (p.protocol.pfp)
        proto = f.protocol_opaque ? 0 : f.protocol;
    else if (p.protocol.kind == ProtocolSelector::Kind::value)
        proto = p.protocol.value;
    s.local.protocol = s.remote.protocol = proto;
    return s;
}

std::size_t Spd::Prefix6Hash::operator()(const Prefix6& k) const {
    return static_cast<std::size_t>(mix64(k.lo ^ mix64(k.hi ^ k.length)));
}

std::size_t Spd::MatcherHash::operator()(const Matcher& m) const {
    auto address = [](const IpAddress& a) {
        const u128 v = to_u128(a);
        return mix64(static_cast<std::uint64_t>(v >> 64) ^ mix64(static_cast<std::uint64_t>(v)));
    };
    std::uint64_t h = address(m.local.range.first) ^ mix64(address(m.local.range.last));
    h ^= std::uint64_t{m.local.any} | std::uint64_t{m.local.pfp} << 1 |
         std::uint64_t{static_cast<std::uint8_t>(m.local.range.first.family())} << 8;
    h = mix64(h ^ (std::uint64_t{static_cast<std::uint8_t>(m.protocol.kind)} << 16 |
                   std::uint64_t{m.protocol.value} << 8 | std::uint64_t{m.protocol.pfp}));
    for (const PortSelector* p : {&m.local_port, &m.remote_port})
        h = mix64(h ^ (std::uint64_t{static_cast<std::uint8_t>(p->kind)} << 40 |
                       std::uint64_t{p->first} << 24 | std::uint64_t{p->last} << 8 |
                       std::uint64_t{p->pfp}));
    return static_cast<std::size_t>(h);
}

void Spd::Index::count_length(bool six, std::uint8_t length, bool add) {
    std::uint32_t& uses = six ? uses_v6[length] : uses_v4[length];
    auto& lengths = six ? lengths_v6 : lengths_v4;
    if (add) {
        if (uses++ == 0)
            lengths.insert(std::upper_bound(lengths.begin(), lengths.end(), length, std::greater<>()),
                           length);
    } else if (--uses == 0) {
        lengths.erase(std::find(lengths.begin(), lengths.end(), length));
    }
}

namespace {

template <typename C>
auto by_key(std::vector<C>& v, std::uint64_t key) {
    return std::lower_bound(v.begin(), v.end(), key,
                            [](const C& c, std::uint64_t k) { return c.key < k; });
}

}  // namespace

template <typename Key>
void Spd::Index::add(const Key& key, std::uint8_t length, Candidate c) {
    auto& map = map_of(key);
    Candidate* b = map.find(key);
    if (b == nullptr) {
        map.insert(key, c);
    } else {
        if (b->matcher != kList) {
            std::uint32_t id;
            if (free_lists.empty()) {
                id = static_cast<std::uint32_t>(lists.size());
                lists.emplace_back();
            } else {
                id = free_lists.back();
                free_lists.pop_back();
            }
            lists[id].push_back(*b);
            *b = Candidate{0, id, kList};
        }
        auto& v = lists[b->slot];
        v.insert(by_key(v, c.key), c);
    }
    count_length(std::is_same_v<Key, Prefix6>, length, true);
}

// The bucket holds the candidate: add() put it there under the same key.
template <typename Key>
void Spd::Index::erase(const Key& key, std::uint8_t length, std::uint64_t order) {
    auto& map = map_of(key);
    Candidate* b = map.find(key);
    if (b->matcher != kList) {
        map.erase(key);
    } else {
        auto& v = lists[b->slot];
        v.erase(by_key(v, order));
        if (v.size() == 1) {
            // Back inline, and the list's memory freed: the bucket of a wide
            // prefix may have held many policies.
            const std::uint32_t id = b->slot;
            *b = v.front();
            v = {};
            free_lists.push_back(id);
        }
    }
    count_length(std::is_same_v<Key, Prefix6>, length, false);
}

template <typename Key>
Spd::Candidate* Spd::Index::find(const Key& key, std::uint64_t order) {
    Candidate* b = map_of(key).find(key);
    if (b->matcher != kList) return b;
    return &*by_key(lists[b->slot], order);
}

Spd::Best Spd::Index::scan(const Candidate& bucket, const std::vector<Matcher>& ms,
                           const FlowSelector& f, Best best) const {
    if (bucket.matcher != kList)
        return bucket.key < best.key && ms[bucket.matcher].matches(f) ? Best{bucket.key, bucket.slot}
                                                                       : best;
    for (const Candidate& c : lists[bucket.slot]) {
        if (c.key >= best.key) break;
        if (ms[c.matcher].matches(f)) return {c.key, c.slot};
    }
    return best;
}

Spd::Best Spd::Index::first_match4(const std::vector<Matcher>& ms, const FlowSelector& f,
                                   std::uint32_t addr, Best best) const {
    for (std::uint8_t len : lengths_v4) {
        const std::uint64_t masked = len == 0 ? 0 : addr & ~std::uint32_t{0} << (32 - len);
        if (const Candidate* b = v4.find(masked << 8 | len)) best = scan(*b, ms, f, best);
    }
    return best;
}

Spd::Best Spd::Index::first_match6(const std::vector<Matcher>& ms, const FlowSelector& f,
                                   std::uint64_t hi, std::uint64_t lo, Best best) const {
    const u128 addr = u128{hi} << 64 | lo;
    for (std::uint8_t len : lengths_v6) {
        const u128 masked = addr & mask_of(128, len);
        const Prefix6 key{static_cast<std::uint64_t>(masked >> 64),
                          static_cast<std::uint64_t>(masked), len};
        if (const Candidate* b = v6.find(key)) best = scan(*b, ms, f, best);
    }
    return best;
}

Spd::Spd(std::uint64_t end_gap) : end_gap_(std::max<std::uint64_t>(end_gap, 1)) {}

std::uint32_t Spd::intern(const Policy& p) {
    const Matcher m{p.local, p.protocol, p.local_port, p.remote_port};
    if (const std::uint32_t* id = matcher_ids_.find(m)) {
        ++matcher_refs_[*id];
        return *id;
    }
    std::uint32_t id;
    if (free_matchers_.empty()) {
        id = static_cast<std::uint32_t>(matchers_.size());
        matchers_.push_back(m);
        matcher_refs_.push_back(1);
    } else {
        id = free_matchers_.back();
        free_matchers_.pop_back();
        matchers_[id] = m;
        matcher_refs_[id] = 1;
    }
    matcher_ids_.insert(m, id);
    return id;
}

// Matchers are reference-counted: SAs come and go with selectors of their
// own, and a matcher nobody uses any more would otherwise stay forever.
void Spd::release(std::uint32_t matcher) {
    if (--matcher_refs_[matcher] != 0) return;
    matcher_ids_.erase(matchers_[matcher]);
    free_matchers_.push_back(matcher);
}

// f(index, bucket key, prefix length) for each bucket that holds p.
template <typename F>
void Spd::for_each_bucket(const Policy& p, F&& f) {
    std::array<Index*, 2> indexes{};
    if (p.action == Action::protect)
        indexes[0] = &spd_s_;
    else
        indexes = {p.inbound ? &spd_i_ : nullptr, p.outbound ? &spd_o_ : nullptr};
    remote_prefixes(p.remote, [&](IpAddress::Family fam, u128 base, int len) {
        const auto length = static_cast<std::uint8_t>(len);
        for (Index* ix : indexes) {
            if (ix == nullptr) continue;
            if (fam == IpAddress::Family::v4)
                f(*ix, static_cast<std::uint64_t>(base) << 8 | length, length);
            else
                f(*ix,
                  Prefix6{static_cast<std::uint64_t>(base >> 64), static_cast<std::uint64_t>(base),
                          length},
                  length);
        }
    });
}

void Spd::index_node(std::uint32_t slot) {
    Node& n = node(slot);
    n.matcher = intern(n.policy);
    const Candidate c{n.key, slot, n.matcher};
    for_each_bucket(n.policy,
                    [&](Index& ix, const auto& key, std::uint8_t length) { ix.add(key, length, c); });
}

void Spd::unindex_node(std::uint32_t slot) {
    const Node& n = node(slot);
    for_each_bucket(n.policy, [&](Index& ix, const auto& key, std::uint8_t length) {
        ix.erase(key, length, n.key);
    });
    release(n.matcher);
}

// Keys 0 and 2^64 - 1 are never given out: they stand for "before the
// first" and "after the last", and 2^64 - 1 is also Best's "no match".
std::optional<std::uint64_t> Spd::key_between(std::uint32_t prev, std::uint32_t next) const {
    const std::uint64_t lo = prev == kNil ? 0 : node(prev).key;
    const std::uint64_t hi = next == kNil ? ~std::uint64_t{0} : node(next).key;
    if (hi - lo < 2) return std::nullopt;
    if (prev == kNil && next == kNil) return std::uint64_t{1} << 63;
    if (next == kNil) return lo + std::min(end_gap_, (hi - lo) / 2);
    if (prev == kNil) return hi - std::min(end_gap_, (hi - lo) / 2);
    return lo + (hi - lo) / 2;
}

// `slot` is linked between two policies whose keys leave no room. Widen an
// aligned key range around them until it is sparse enough, then spread the
// keys in it. The policies in range are contiguous in the list (keys grow
// along it), so walking out from `slot` finds them all.
void Spd::relabel_around(std::uint32_t slot) {
    const Node& fresh = node(slot);
    // No room means at least one neighbour: an empty SPD has all the room.
    const std::uint64_t anchor = fresh.prev != kNil ? node(fresh.prev).key : node(fresh.next).key;
    std::uint32_t first = slot, last = slot;
    std::size_t count = 1;
    double limit = 1;
    for (unsigned bits = 1;; ++bits) {
        limit *= kDensity;
        const u128 lo = u128{anchor} >> bits << bits;
        const u128 hi = lo + (u128{1} << bits);
        auto inside = [&](std::uint32_t s) {
            return s != kNil && node(s).key >= lo && node(s).key < hi;
        };
        while (inside(node(first).prev)) {
            first = node(first).prev;
            ++count;
        }
        while (inside(node(last).next)) {
            last = node(last).next;
            ++count;
        }
        // The whole key space (bits = 64) is the last resort: it holds
        // every policy, evenly spread with room for 2^63 of them.
        if (bits == 64 || static_cast<double>(count) <= limit) {
            spread(first, count, anchor, bits, slot);
            return;
        }
    }
}

// New keys for the `count` policies from `first` on, evenly spaced inside
// the aligned range of 2^bits keys holding `anchor`, none on its ends. The
// order is kept, so bucket lists stay sorted; `fresh` is not indexed yet.
void Spd::spread(std::uint32_t first, std::size_t count, std::uint64_t anchor, unsigned bits,
                 std::uint32_t fresh) {
    const u128 lo = u128{anchor} >> bits << bits;
    const u128 step = (u128{1} << bits) / (count + 1);
    // Candidates are found by their old key (binary search in sorted
    // lists), so every one is found before any key is rewritten.
    std::vector<std::pair<Candidate*, std::uint64_t>> moves;
    std::uint32_t s = first;
    for (std::size_t k = 0; k < count; ++k, s = node(s).next) {
        Node& n = node(s);
        const auto key = static_cast<std::uint64_t>(lo + step * (k + 1));
        if (s != fresh)
            for_each_bucket(n.policy, [&](Index& ix, const auto& bucket, std::uint8_t) {
                moves.emplace_back(ix.find(bucket, n.key), key);
            });
        n.key = key;
    }
    for (auto [c, key] : moves) c->key = key;
    relabeled_ += count;
}

Policy::Id Spd::link(Policy p, std::uint32_t prev, std::uint32_t next) {
    std::uint32_t slot;
    if (free_slots_.empty()) {
        if (slots_ % kChunk == 0) chunks_.emplace_back(kChunk);
        slot = slots_++;
    } else {
        slot = free_slots_.back();
        free_slots_.pop_back();
    }
    // Ids wrap after 2^32 policies: skip those still in use, and 0 (unset).
    do p.id = next_id_++;
    while (p.id == 0 || slot_of_.find(p.id) != nullptr);
    Node& n = node(slot);
    n.policy = std::move(p);
    n.prev = prev;
    n.next = next;
    (prev == kNil ? head_ : node(prev).next) = slot;
    (next == kNil ? tail_ : node(next).prev) = slot;
    ++size_;
    if (const auto key = key_between(prev, next))
        n.key = *key;
    else
        relabel_around(slot);
    slot_of_.insert(n.policy.id, slot);
    index_node(slot);
    ++generation_;
    return n.policy.id;
}

Policy::Id Spd::add(Policy p) { return link(std::move(p), tail_, kNil); }

std::optional<Policy::Id> Spd::insert_before(Policy::Id before, Policy p) {
    const std::uint32_t* slot = slot_of_.find(before);
    if (slot == nullptr) return std::nullopt;
    const std::uint32_t next = *slot;  // link() may move the map's slots
    return link(std::move(p), node(next).prev, next);
}

bool Spd::remove(Policy::Id id) {
    const std::uint32_t* found = slot_of_.find(id);
    if (found == nullptr) return false;
    const std::uint32_t slot = *found;
    slot_of_.erase(id);
    unindex_node(slot);
    Node& n = node(slot);
    (n.prev == kNil ? head_ : node(n.prev).next) = n.next;
    (n.next == kNil ? tail_ : node(n.next).prev) = n.prev;
    n = Node{};  // frees the policy's strings and vectors now, not at reuse
    free_slots_.push_back(slot);
    --size_;
    ++generation_;
    return true;
}

void Spd::clear() {
    chunks_.clear();
    free_slots_.clear();
    slots_ = 0;
    head_ = tail_ = kNil;
    size_ = 0;
    slot_of_.clear();
    matchers_.clear();
    matcher_refs_.clear();
    free_matchers_.clear();
    matcher_ids_.clear();
    spd_s_ = Index{};
    spd_i_ = Index{};
    spd_o_ = Index{};
    ++generation_;
}

const Policy* Spd::lookup(Direction d, const FlowSelector& f) const {
    const Index& clear = d == Direction::outbound ? spd_o_ : spd_i_;
    Best best;
    if (f.remote.is_v4()) {
        const auto addr = static_cast<std::uint32_t>(to_u128(f.remote));
        best = clear.first_match4(matchers_, f, addr, spd_s_.first_match4(matchers_, f, addr, best));
    } else {
        const u128 addr = to_u128(f.remote);
        const auto hi = static_cast<std::uint64_t>(addr >> 64);
        const auto lo = static_cast<std::uint64_t>(addr);
        best = clear.first_match6(matchers_, f, hi, lo,
                                  spd_s_.first_match6(matchers_, f, hi, lo, best));
    }
    return best.slot == kNil ? nullptr : &node(best.slot).policy;
}

const Policy* Spd::lookup_for_peer(std::string_view identity, const SaSelector& requested) const {
    for (const Policy& p : policies())
        if (p.action == Action::protect && p.name && name_matches(*p.name, identity) &&
            p.admits(requested))
            return &p;
    return nullptr;
}

const Policy* Spd::get(Policy::Id id) const {
    const std::uint32_t* slot = slot_of_.find(id);
    return slot == nullptr ? nullptr : &node(*slot).policy;
}

std::vector<const Policy*> Spd::spd_s() const {
    std::vector<const Policy*> out;
    for (const Policy& p : policies())
        if (p.action == Action::protect) out.push_back(&p);
    return out;
}

std::vector<const Policy*> Spd::spd_i() const {
    std::vector<const Policy*> out;
    for (const Policy& p : policies())
        if (p.action != Action::protect && p.inbound) out.push_back(&p);
    return out;
}

std::vector<const Policy*> Spd::spd_o() const {
    std::vector<const Policy*> out;
    for (const Policy& p : policies())
        if (p.action != Action::protect && p.outbound) out.push_back(&p);
    return out;
}

}  // namespace mobiked::ipsec
