// The Security Association Database (RFC 4301 §4.4.2).
//
// Inbound SAs are found by the SPI we allocated: unique per protocol on this
// host, so no addresses are needed (§4.1 allows SPI-only lookup for unicast).
// Outbound SAs carry the peer's SPI, and two peers may choose the same one,
// so they are keyed by (SPI, ref): `ref` is the installer's name for the SA,
// unique among its outbound SAs of one protocol (the data plane passes the
// inbound SPI of the same CHILD_SA, which we allocated). The peer's address
// would not do as the key's second half: MOBIKE moves it under a live SA.
// The SPD cache entry and OutboundDecision carry both halves.
//
// find() is a single hash probe: O(1) whatever the number of SAs, and never
// allocates. The SAD owns its SAs; pointers stay valid until the SA is removed.
#pragma once

#include <cstdint>
#include <memory>

#include "ipsec/flat_map.hpp"
#include "ipsec/sa.hpp"

namespace mobiked::ipsec {

class Sad {
public:
    // False (SA not stored) when an SA with the same key exists already.
    // `ref` is ignored for inbound SAs.
    bool add(std::unique_ptr<Sa> sa, std::uint32_t ref = 0);
    Sa* find(Direction d, Protocol proto, std::uint32_t spi, std::uint32_t ref = 0) const {
        auto* slot = map(d, proto).find(key(d, spi, ref));
        return slot != nullptr ? slot->get() : nullptr;
    }
    // Inbound ESP/AH lookup that counts misses (RFC 4301 §5.2: audit and drop).
    Sa* find_inbound(Protocol proto, std::uint32_t spi) {
        Sa* sa = find(Direction::inbound, proto, spi);
        if (sa == nullptr) ++unknown_spi_;
        return sa;
    }
    bool remove(Direction d, Protocol proto, std::uint32_t spi, std::uint32_t ref = 0) {
        return map(d, proto).erase(key(d, spi, ref));
    }
    std::size_t size() const;
    std::uint64_t unknown_spi_drops() const { return unknown_spi_; }

    // Visits every SA (control path: lifetimes polling, listing).
    template <typename F>
    void for_each(F&& f) {
        for (auto& by_proto : maps_)
            for (Map& m : by_proto)
                m.for_each([&](std::uint64_t, std::unique_ptr<Sa>& sa) { f(*sa); });
    }

private:
    struct KeyHash {
        std::size_t operator()(std::uint64_t k) const { return static_cast<std::size_t>(mix64(k)); }
    };
    using Map = FlatMap<std::uint64_t, std::unique_ptr<Sa>, KeyHash>;

    static std::uint64_t key(Direction d, std::uint32_t spi, std::uint32_t ref) {
        return d == Direction::inbound ? spi : std::uint64_t{ref} << 32 | spi;
    }
    // One map per direction and protocol, so a key is one 64-bit word.
    const Map& map(Direction d, Protocol proto) const {
        return maps_[d == Direction::outbound][proto == Protocol::ah];
    }
    Map& map(Direction d, Protocol proto) {
        return maps_[d == Direction::outbound][proto == Protocol::ah];
    }

    Map maps_[2][2];
    std::uint64_t unknown_spi_ = 0;
};

}  // namespace mobiked::ipsec
