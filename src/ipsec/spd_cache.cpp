#include "ipsec/spd_cache.hpp"

#include <bit>

namespace mobiked::ipsec {
namespace {

void split(const IpAddress& a, std::uint64_t& hi, std::uint64_t& lo) {
    const ByteView b = a.bytes();
    if (b.size() == 4) {
        hi = 0;
        lo = load_be32(b.data());
    } else {
        hi = load_be64(b.data());
        lo = load_be64(b.data() + 8);
    }
}

}  // namespace

FlowKey FlowKey::of(const FlowSelector& f) {
    FlowKey k;
    split(f.local, k.local_hi, k.local_lo);
    split(f.remote, k.remote_hi, k.remote_lo);
    k.protocol = f.protocol;
    if (!f.ports_opaque) {
        k.local_port = f.local_port;
        k.remote_port = f.remote_port;
    }
    k.flags = static_cast<std::uint8_t>((f.remote.is_v4() ? 0 : 1) | (f.protocol_opaque ? 2 : 0) |
                                        (f.ports_opaque ? 4 : 0));
    return k;
}

// Two mixing rounds, not one per field: on the per-packet path the hash is
// most of the work before the table is read. The first word holds an IPv4
// flow's addresses exactly; IPv6's upper halves are folded in by distinct
// odd multipliers.
std::size_t FlowKeyHash::operator()(const FlowKey& k) const {
    const std::uint64_t addresses = k.local_lo ^ std::rotl(k.remote_lo, 32);
    const std::uint64_t rest =
        (std::uint64_t{k.local_port} << 32 | std::uint64_t{k.remote_port} << 16 |
         std::uint64_t{k.protocol} << 8 | k.flags) ^
        k.local_hi * 0x9e3779b97f4a7c15ULL ^ k.remote_hi * 0xc2b2ae3d27d4eb4fULL;
    return static_cast<std::size_t>(mix64(addresses ^ mix64(rest)));
}

bool SpdCache::insert(const FlowKey& k, const CacheEntry& e) {
    if (map_.size() >= max_ && map_.find(k) == nullptr) return false;
    map_.insert(k, e);
    return true;
}

std::size_t SpdCache::erase_sa(std::uint32_t spi, std::uint32_t ref) {
    return map_.erase_if([&](const FlowKey&, const CacheEntry& e) {
        return e.action == Action::protect && e.spi == spi && e.ref == ref;
    });
}

}  // namespace mobiked::ipsec
