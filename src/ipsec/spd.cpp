#include "ipsec/spd.hpp"

#include <algorithm>
#include <limits>
#include <type_traits>

namespace mobiked::ipsec {
namespace {

__extension__ typedef unsigned __int128 u128;

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

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

template <typename Map, typename Key>
void Spd::Index::add_prefix(Map& map, const Key& key, std::uint8_t length, Candidate c) {
    Candidate* b = map.find(key);
    if (b == nullptr) {
        map.insert(key, c);
    } else {
        if (b->matcher != kList) {
            lists.push_back({*b});
            *b = Candidate{static_cast<std::uint32_t>(lists.size() - 1), kList};
        }
        auto& v = lists[b->pos];
        v.insert(
            std::upper_bound(v.begin(), v.end(), c.pos,
                             [](std::uint32_t pos, const Candidate& x) { return pos < x.pos; }),
            c);
    }
    auto& lengths = std::is_same_v<Key, std::uint64_t> ? lengths_v4 : lengths_v6;
    if (std::find(lengths.begin(), lengths.end(), length) == lengths.end()) {
        lengths.push_back(length);
        std::sort(lengths.begin(), lengths.end(), std::greater<>());
    }
}

void Spd::Index::add(const AddressSelector& remote, Candidate c) {
    auto add_range = [&](IpAddress::Family fam, u128 a, u128 b) {
        decompose(a, b, width_of(fam), [&](u128 base, int len) {
            const auto length = static_cast<std::uint8_t>(len);
            if (fam == IpAddress::Family::v4)
                add_prefix(v4, static_cast<std::uint64_t>(base) << 8 | length, length, c);
            else
                add_prefix(v6,
                           Prefix6{static_cast<std::uint64_t>(base >> 64),
                                   static_cast<std::uint64_t>(base), length},
                           length, c);
        });
    };
    if (remote.any) {
        // ANY covers both families: the /0 prefix of each.
        add_range(IpAddress::Family::v4, 0, 0xffffffffu);
        add_range(IpAddress::Family::v6, 0, ~u128{0});
        return;
    }
    if (remote.range.first.family() != remote.range.last.family()) return;  // matches nothing
    const u128 a = to_u128(remote.range.first);
    const u128 b = to_u128(remote.range.last);
    if (a <= b) add_range(remote.range.first.family(), a, b);
}

std::uint32_t Spd::Index::scan(const Candidate& bucket, const std::vector<Matcher>& ms,
                               const FlowSelector& f, std::uint32_t best) const {
    if (bucket.matcher != kList)
        return bucket.pos < best && ms[bucket.matcher].matches(f) ? bucket.pos : best;
    for (const Candidate& c : lists[bucket.pos]) {
        if (c.pos >= best) break;
        if (ms[c.matcher].matches(f)) return c.pos;
    }
    return best;
}

std::uint32_t Spd::Index::first_match4(const std::vector<Matcher>& ms, const FlowSelector& f,
                                       std::uint32_t addr, std::uint32_t best) const {
    for (std::uint8_t len : lengths_v4) {
        const std::uint64_t masked = len == 0 ? 0 : addr & ~std::uint32_t{0} << (32 - len);
        if (const Candidate* b = v4.find(masked << 8 | len)) best = scan(*b, ms, f, best);
    }
    return best;
}

std::uint32_t Spd::Index::first_match6(const std::vector<Matcher>& ms, const FlowSelector& f,
                                       std::uint64_t hi, std::uint64_t lo,
                                       std::uint32_t best) const {
    const u128 addr = u128{hi} << 64 | lo;
    for (std::uint8_t len : lengths_v6) {
        const u128 masked = addr & mask_of(128, len);
        const Prefix6 key{static_cast<std::uint64_t>(masked >> 64),
                          static_cast<std::uint64_t>(masked), len};
        if (const Candidate* b = v6.find(key)) best = scan(*b, ms, f, best);
    }
    return best;
}

Spd::Spd() = default;

std::uint32_t Spd::intern(const Policy& p) {
    const Matcher m{p.local, p.protocol, p.local_port, p.remote_port};
    if (const std::uint32_t* id = matcher_ids_.find(m)) return *id;
    const auto id = static_cast<std::uint32_t>(matchers_.size());
    matchers_.push_back(m);
    matcher_ids_.insert(m, id);
    return id;
}

void Spd::index_policy(std::uint32_t pos) {
    const Policy& p = policies_[pos];
    const Candidate c{pos, intern(p)};
    if (p.action == Action::protect) {
        spd_s_.add(p.remote, c);
        return;
    }
    if (p.inbound) spd_i_.add(p.remote, c);
    if (p.outbound) spd_o_.add(p.remote, c);
}

void Spd::rebuild() {
    spd_s_ = Index{};
    spd_i_ = Index{};
    spd_o_ = Index{};
    matchers_.clear();
    matcher_ids_.clear();
    for (std::uint32_t i = 0; i < policies_.size(); ++i) index_policy(i);
    ++generation_;
}

Policy::Id Spd::add(Policy p) {
    p.id = next_id_++;
    policies_.push_back(std::move(p));
    index_policy(static_cast<std::uint32_t>(policies_.size() - 1));
    ++generation_;
    return policies_.back().id;
}

std::optional<Policy::Id> Spd::insert_before(Policy::Id before, Policy p) {
    auto it = std::find_if(policies_.begin(), policies_.end(),
                           [&](const Policy& q) { return q.id == before; });
    if (it == policies_.end()) return std::nullopt;
    p.id = next_id_++;
    const Policy::Id id = p.id;
    policies_.insert(it, std::move(p));
    rebuild();
    return id;
}

bool Spd::remove(Policy::Id id) {
    auto it = std::find_if(policies_.begin(), policies_.end(), [&](const Policy& q) { return q.id == id; });
    if (it == policies_.end()) return false;
    policies_.erase(it);
    rebuild();
    return true;
}

void Spd::clear() {
    policies_.clear();
    rebuild();
}

const Policy* Spd::lookup(Direction d, const FlowSelector& f) const {
    const Index& clear = d == Direction::outbound ? spd_o_ : spd_i_;
    std::uint32_t best = kNone;
    if (f.remote.is_v4()) {
        const auto addr = static_cast<std::uint32_t>(to_u128(f.remote));
        best =
            clear.first_match4(matchers_, f, addr, spd_s_.first_match4(matchers_, f, addr, best));
    } else {
        const u128 addr = to_u128(f.remote);
        const auto hi = static_cast<std::uint64_t>(addr >> 64);
        const auto lo = static_cast<std::uint64_t>(addr);
        best = clear.first_match6(matchers_, f, hi, lo,
                                  spd_s_.first_match6(matchers_, f, hi, lo, best));
    }
    return best == kNone ? nullptr : &policies_[best];
}

const Policy* Spd::lookup_for_peer(std::string_view identity, const SaSelector& requested) const {
    for (const Policy& p : policies_)
        if (p.action == Action::protect && p.name && name_matches(*p.name, identity) &&
            p.admits(requested))
            return &p;
    return nullptr;
}

const Policy* Spd::get(Policy::Id id) const {
    for (const Policy& p : policies_)
        if (p.id == id) return &p;
    return nullptr;
}

std::vector<const Policy*> Spd::spd_s() const {
    std::vector<const Policy*> out;
    for (const Policy& p : policies_)
        if (p.action == Action::protect) out.push_back(&p);
    return out;
}

std::vector<const Policy*> Spd::spd_i() const {
    std::vector<const Policy*> out;
    for (const Policy& p : policies_)
        if (p.action != Action::protect && p.inbound) out.push_back(&p);
    return out;
}

std::vector<const Policy*> Spd::spd_o() const {
    std::vector<const Policy*> out;
    for (const Policy& p : policies_)
        if (p.action != Action::protect && p.outbound) out.push_back(&p);
    return out;
}

}  // namespace mobiked::ipsec
