// Randomness is injected so the protocol core is deterministic under test.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "common/bytes.hpp"

namespace mobiked::crypto {

class Random {
public:
    virtual ~Random() = default;
    virtual void fill(std::span<std::uint8_t> out) = 0;

    Bytes bytes(std::size_t n);
    std::uint32_t u32();
    std::uint64_t u64();
};

// OpenSSL's RAND_bytes (the system DRBG). Use in the daemon.
std::unique_ptr<Random> make_system_random();

// Reproducible stream from a seed (SHA-256 in counter mode via OpenSSL), for
// tests and simulations only: seeded nonces and SPIs make runs repeatable.
std::unique_ptr<Random> make_seeded_random(std::uint64_t seed);

}  // namespace mobiked::crypto
