// PRFs and key derivation of RFC 7296 §2.13, §2.14, §2.17 and §2.18.
#pragma once

#include <cstdint>
#include <memory>

#include "common/bytes.hpp"

namespace mobiked::crypto {

class Prf {
public:
    virtual ~Prf() = default;
    virtual std::uint16_t id() const = 0;
    virtual std::size_t output_size() const = 0;  // also its preferred key size
    virtual Bytes compute(ByteView key, ByteView data) const = 0;

    // prf+ (§2.13): T1 | T2 | ... truncated to `length`; length <= 255 * output_size().
    // A longer request is a caller bug (the counter is one octet): returns empty.
    Bytes plus(ByteView key, ByteView seed, std::size_t length) const;
};

// HMAC-SHA2-256/384/512 (IANA PRF 5, 6, 7). nullptr if unsupported.
std::unique_ptr<Prf> make_prf(std::uint16_t prf_id);
bool prf_supported(std::uint16_t prf_id);

struct IkeKeys {
    Bytes sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr;
    void wipe_all();
};

// Sizes of the keys to cut from prf+ output: integrity key length (0 for AEAD)
// and encryption key length including any salt.
struct IkeKeySizes {
    std::size_t integ = 0;
    std::size_t encr = 0;
};

// Fresh IKE SA (§2.14): SKEYSEED = prf(Ni | Nr, g^ir), then
// {SK_d|SK_ai|SK_ar|SK_ei|SK_er|SK_pi|SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
// For HMAC PRFs the key is Ni | Nr as is (no truncation: §2.14 fixed-key rule
// applies only to PRFs with fixed key size).
IkeKeys derive_ike_keys(const Prf& prf, ByteView ni, ByteView nr, ByteView shared_secret,
                        std::uint64_t spi_i, std::uint64_t spi_r, IkeKeySizes sizes);

// Rekeyed IKE SA (§2.18): SKEYSEED = prf_old(SK_d_old, g^ir(new) | Ni | Nr), the rest as above
// with the new SA's PRF.
IkeKeys derive_rekeyed_ike_keys(const Prf& old_prf, ByteView old_sk_d, const Prf& new_prf,
                                ByteView shared_secret, ByteView ni, ByteView nr,
                                std::uint64_t spi_i, std::uint64_t spi_r, IkeKeySizes sizes);

// CHILD_SA keying material (§2.17): prf+(SK_d, [g^ir(new) |] Ni | Nr).
// Pass an empty shared secret without PFS.
Bytes derive_child_keymat(const Prf& prf, ByteView sk_d, ByteView shared_secret, ByteView ni,
                          ByteView nr, std::size_t length);

}  // namespace mobiked::crypto
