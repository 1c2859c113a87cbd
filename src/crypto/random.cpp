#include "crypto/random.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "crypto/ossl.hpp"

namespace mobiked::crypto {

Bytes Random::bytes(std::size_t n) {
    Bytes out(n);
    fill(out);
    return out;
}

std::uint32_t Random::u32() {
    std::uint8_t b[4];
    fill(b);
    return load_be32(b);
}

std::uint64_t Random::u64() {
    std::uint8_t b[8];
    fill(b);
    return load_be64(b);
}

namespace {

class SystemRandom final : public Random {
public:
    void fill(std::span<std::uint8_t> out) override {
        // A DRBG failure leaves no safe way to continue: nonces and keys would
        // be predictable. Crash rather than run with bad randomness.
        if (!out.empty() && RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) std::abort();
    }
};

// Block i is SHA-256(seed || i), both big-endian 64-bit: deterministic across
// platforms, so a simulation seed reproduces the same SPIs and nonces everywhere.
class SeededRandom final : public Random {
public:
    explicit SeededRandom(std::uint64_t seed) : seed_(seed) {}

    void fill(std::span<std::uint8_t> out) override {
        std::size_t done = 0;
        while (done < out.size()) {
            if (used_ == sizeof block_) refill();
            std::size_t n = std::min(out.size() - done, sizeof block_ - used_);
            std::memcpy(out.data() + done, block_ + used_, n);
            used_ += n;
            done += n;
        }
    }

private:
    void refill() {
        std::uint8_t input[16];
        store_be64(input, seed_);
        store_be64(input + 8, counter_++);
        unsigned int len = 0;
        if (EVP_Digest(input, sizeof input, block_, &len, ossl::md_sha256(), nullptr) != 1)
            std::abort();
        used_ = 0;
    }

    std::uint64_t seed_;
    std::uint64_t counter_ = 0;
    std::uint8_t block_[32] = {};
    std::size_t used_ = sizeof block_;
};

}  // namespace

std::unique_ptr<Random> make_system_random() { return std::make_unique<SystemRandom>(); }

std::unique_ptr<Random> make_seeded_random(std::uint64_t seed) {
    return std::make_unique<SeededRandom>(seed);
}

}  // namespace mobiked::crypto
