// The Security Association Database (RFC 4301 §4.4.2), indexed by SPI.
// Inbound SAs are found by the SPI we allocated (unique per protocol on this
// host, so no addresses are needed, §4.1); outbound SAs by the peer's SPI,
// which the SPD cache entry names. find() is a single hash probe: O(1)
// whatever the number of SAs, and never allocates.
//
// The SAD owns its SAs; pointers stay valid until the SA is removed.
#pragma once

#include <cstdint>
#include <memory>

#include "ipsec/flat_map.hpp"
#include "ipsec/sa.hpp"

namespace mobiked::ipsec {

class Sad {
public:
    // False (SA not stored) when an SA with the same direction, protocol
    // and SPI exists already.
    bool add(std::unique_ptr<Sa> sa);
    Sa* find(Direction d, Protocol proto, std::uint32_t spi) const {
        auto* slot = map_.find(key(d, proto, spi));
        return slot != nullptr ? slot->get() : nullptr;
    }
    // Inbound ESP/AH lookup that counts misses (RFC 4301 §5.2: audit and drop).
    Sa* find_inbound(Protocol proto, std::uint32_t spi) {
        Sa* sa = find(Direction::inbound, proto, spi);
        if (sa == nullptr) ++unknown_spi_;
        return sa;
    }
    bool remove(Direction d, Protocol proto, std::uint32_t spi) { return map_.erase(key(d, proto, spi)); }
    std::size_t size() const { return map_.size(); }
    std::uint64_t unknown_spi_drops() const { return unknown_spi_; }

    // Visits every SA (control path: lifetimes polling, listing).
    template <typename F>
    void for_each(F&& f) {
        map_.for_each([&](std::uint64_t, std::unique_ptr<Sa>& sa) { f(*sa); });
    }

private:
    struct KeyHash {
        std::size_t operator()(std::uint64_t k) const { return static_cast<std::size_t>(mix64(k)); }
    };
    static std::uint64_t key(Direction d, Protocol proto, std::uint32_t spi) {
        return std::uint64_t{spi} << 16 | std::uint64_t{static_cast<std::uint8_t>(proto)} << 8 |
               static_cast<std::uint8_t>(d);
    }

    FlatMap<std::uint64_t, std::unique_ptr<Sa>, KeyHash> map_;
    std::uint64_t unknown_spi_ = 0;
};

}  // namespace mobiked::ipsec
