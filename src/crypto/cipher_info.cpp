// Sizes of the ENCR and INTEG transforms we implement (RFC 3602, RFC 4106,
// RFC 7634, RFC 4868).
#include "crypto/cipher.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {

std::optional<EncrInfo> encr_info(std::uint16_t encr_id, std::uint16_t key_bits) {
    switch (encr_id) {
        case wire::encr::aes_cbc:
            if (key_bits != 128 && key_bits != 192 && key_bits != 256) return std::nullopt;
            return EncrInfo{.aead = false,
                            .key_size = key_bits / 8u,
                            .salt_size = 0,
                            .iv_size = 16,
                            .block_size = 16,
                            .icv_size = 0};
        case wire::encr::aes_gcm_16:
            if (key_bits != 128 && key_bits != 256) return std::nullopt;
            return EncrInfo{.aead = true,
                            .key_size = key_bits / 8u,
                            .salt_size = 4,
                            .iv_size = 8,
                            .block_size = 1,
                            .icv_size = 16};
        case wire::encr::chacha20_poly1305:
            // RFC 7634 §2: the transform has no Key Length attribute; tolerate an explicit 256.
            if (key_bits != 0 && key_bits != 256) return std::nullopt;
            return EncrInfo{.aead = true,
                            .key_size = 32,
                            .salt_size = 4,
                            .iv_size = 8,
                            .block_size = 1,
                            .icv_size = 16};
        default:
            return std::nullopt;
    }
}

std::optional<IntegInfo> integ_info(std::uint16_t integ_id) {
    switch (integ_id) {
        case wire::integ::hmac_sha2_256_128:
            return IntegInfo{.key_size = 32, .icv_size = 16};
        case wire::integ::hmac_sha2_384_192:
            return IntegInfo{.key_size = 48, .icv_size = 24};
        case wire::integ::hmac_sha2_512_256:
            return IntegInfo{.key_size = 64, .icv_size = 32};
        default:
            return std::nullopt;
    }
}

}  // namespace mobiked::crypto
