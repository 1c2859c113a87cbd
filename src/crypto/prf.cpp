// HMAC-SHA2 PRFs (RFC 4868) and prf+ (RFC 7296 §2.13).
#include "crypto/prf.hpp"

#include <openssl/core_names.h>

#include <algorithm>
#include <cstdlib>

#include "crypto/ossl.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

class HmacPrf final : public Prf {
public:
    HmacPrf(std::uint16_t id, const char* digest, std::size_t size)
        : id_(id), digest_(digest), size_(size) {}

    std::uint16_t id() const override { return id_; }
    std::size_t output_size() const override { return size_; }

    Bytes compute(ByteView key, ByteView data) const override {
        ossl::MacCtx ctx(EVP_MAC_CTX_new(ossl::mac_hmac()));
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_), 0),
            OSSL_PARAM_construct_end(),
        };
        // A NULL key means "keep the previous key" to EVP_MAC_init; an empty
        // HMAC key is legal, so pass a valid pointer with length 0 instead.
        static const std::uint8_t empty_key = 0;
        const std::uint8_t* k = key.empty() ? &empty_key : key.data();
        Bytes out(size_);
        std::size_t len = 0;
        if (!ctx || EVP_MAC_init(ctx.get(), k, key.size(), params) != 1 ||
            EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
            EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != size_)
            std::abort();  // cannot fail with a fetched HMAC and SHA-2; never continue with a bad
                           // key
        return out;
    }

private:
    std::uint16_t id_;
    const char* digest_;
    std::size_t size_;
};

}  // namespace

Bytes Prf::plus(ByteView key, ByteView seed, std::size_t length) const {
    const std::size_t n = output_size();
    if (length > 255 * n) return {};
    Bytes out;
    out.reserve(length + n);
    Bytes input;  // T(i-1) | S | i
    for (std::uint8_t counter = 1; out.size() < length; ++counter) {
        input.clear();
        if (counter > 1)
            input.insert(input.end(), out.end() - static_cast<std::ptrdiff_t>(n), out.end());
        append(input, seed);
        input.push_back(counter);
        Bytes t = compute(key, input);
        append(out, t);
        wipe(t);
    }
    wipe(input);
    // Shrinking in place keeps the key bytes inside this allocation, which the caller wipes.
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(length), out.end(), 0);
    out.resize(length);
    return out;
}

bool prf_supported(std::uint16_t prf_id) {
    return prf_id == wire::prf::hmac_sha2_256 || prf_id == wire::prf::hmac_sha2_384 ||
           prf_id == wire::prf::hmac_sha2_512;
}

std::unique_ptr<Prf> make_prf(std::uint16_t prf_id) {
    switch (prf_id) {
        case wire::prf::hmac_sha2_256:
            return std::make_unique<HmacPrf>(prf_id, "SHA2-256", 32);
        case wire::prf::hmac_sha2_384:
            return std::make_unique<HmacPrf>(prf_id, "SHA2-384", 48);
        case wire::prf::hmac_sha2_512:
            return std::make_unique<HmacPrf>(prf_id, "SHA2-512", 64);
        default:
            return nullptr;
    }
}

}  // namespace mobiked::crypto
