// The SPD cache (RFC 4301 §4.4.1.1, "decorrelated" cache): one entry per
// exact flow (local/remote address, protocol, local/remote port), so entries
// can never overlap and the order of the SPD does not matter inside the
// cache. Lookup is a single hash probe: O(1) whatever the number of entries.
// Entries carry the SPD generation they were derived from; an entry of an
// older generation is treated as absent.
#pragma once

#include <cstdint>

#include "ipsec/constants.hpp"
#include "ipsec/flat_map.hpp"
#include "ipsec/selectors.hpp"
#include "ipsec/spd.hpp"

namespace mobiked::ipsec {

struct FlowKey {
    std::uint64_t local_hi = 0, local_lo = 0;
    std::uint64_t remote_hi = 0, remote_lo = 0;
    std::uint16_t local_port = 0, remote_port = 0;
    std::uint8_t protocol = 0;
    std::uint8_t flags = 0;  // bit0 IPv6, bit1 protocol OPAQUE, bit2 ports OPAQUE

    static FlowKey of(const FlowSelector& f);
    bool operator==(const FlowKey&) const = default;
};
struct FlowKeyHash {
    std::size_t operator()(const FlowKey& k) const;
};

// Field order keeps it at 24 bytes: with a 40-byte FlowKey a slot of the
// cache is exactly one cache line.
struct CacheEntry {
    Action action = Action::discard;
    Protocol protocol = Protocol::esp;
    Policy::Id policy = 0;
    std::uint32_t spi = 0;  // PROTECT: the outbound SA (Sad key: spi, ref)
    std::uint32_t ref = 0;
    std::uint64_t generation = 0;
};
static_assert(sizeof(FlowKey) + sizeof(CacheEntry) == 64);

class SpdCache {
public:
    explicit SpdCache(std::size_t max_entries = std::size_t{1} << 20) : max_(max_entries) {}

    // The entry for exactly this flow, or nullptr when absent or stale
    // (generation differs). Never allocates.
    const CacheEntry* find(const FlowKey& k, std::uint64_t generation) const {
        const CacheEntry* e = map_.find(k);
        return e != nullptr && e->generation == generation ? e : nullptr;
    }
    // Adds or replaces. False (nothing stored) when the cache is full.
    bool insert(const FlowKey& k, const CacheEntry& e);
    bool erase(const FlowKey& k) { return map_.erase(k); }
    // Drops every entry pointing at an outbound SA (deleted or rekeyed). O(entries).
    std::size_t erase_sa(std::uint32_t spi, std::uint32_t ref);
    void clear() { map_.clear(); }
    std::size_t size() const { return map_.size(); }

private:
    FlatMap<FlowKey, CacheEntry, FlowKeyHash> map_;
    std::size_t max_;
};

}  // namespace mobiked::ipsec
