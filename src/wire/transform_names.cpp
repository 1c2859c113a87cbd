// Transform ID names from the IANA "Transform Type Values" registries.
#include <array>
#include <string>

#include "wire/constants.hpp"

namespace mobiked::wire {
namespace {

struct TransformName {
    TransformType type;
    std::uint16_t id;
    std::string_view name;
};

constexpr std::array<TransformName, 28> kTransforms{{
    {TransformType::encr, 3, "3DES"},
    {TransformType::encr, encr::aes_cbc, "AES_CBC"},
    {TransformType::encr, encr::aes_ctr, "AES_CTR"},
    {TransformType::encr, encr::aes_gcm_8, "AES_GCM_8"},
    {TransformType::encr, encr::aes_gcm_12, "AES_GCM_12"},
    {TransformType::encr, encr::aes_gcm_16, "AES_GCM_16"},
    {TransformType::encr, encr::null_auth_aes_gmac, "NULL_AUTH_AES_GMAC"},
    {TransformType::encr, encr::chacha20_poly1305, "CHACHA20_POLY1305"},
    {TransformType::prf, prf::hmac_sha1, "PRF_HMAC_SHA1"},
    {TransformType::prf, prf::hmac_sha2_256, "PRF_HMAC_SHA2_256"},
    {TransformType::prf, prf::hmac_sha2_384, "PRF_HMAC_SHA2_384"},
    {TransformType::prf, prf::hmac_sha2_512, "PRF_HMAC_SHA2_512"},
    {TransformType::integ, integ::none, "NONE"},
    {TransformType::integ, integ::hmac_sha1_96, "HMAC_SHA1_96"},
    {TransformType::integ, integ::hmac_sha2_256_128, "HMAC_SHA2_256_128"},
    {TransformType::integ, integ::hmac_sha2_384_192, "HMAC_SHA2_384_192"},
    {TransformType::integ, integ::hmac_sha2_512_256, "HMAC_SHA2_512_256"},
    {TransformType::ke, ke::none, "NONE"},
    {TransformType::ke, 2, "MODP_1024"},
    {TransformType::ke, ke::modp2048, "MODP_2048"},
    {TransformType::ke, ke::modp3072, "MODP_3072"},
    {TransformType::ke, ke::ecp256, "ECP_256"},
    {TransformType::ke, ke::ecp384, "ECP_384"},
    {TransformType::ke, ke::ecp521, "ECP_521"},
    {TransformType::ke, ke::curve25519, "CURVE_25519"},
    {TransformType::ke, ke::curve448, "CURVE_448"},
    {TransformType::esn, esn::no, "NO_ESN"},
    {TransformType::esn, esn::yes, "ESN"},
}};

std::string type_prefix(TransformType type) {
    switch (type) {
        case TransformType::encr:
            return "ENCR";
        case TransformType::prf:
            return "PRF";
        case TransformType::integ:
            return "INTEG";
        case TransformType::ke:
            return "KE";
        case TransformType::esn:
            return "ESN";
    }
    return "TRANSFORM_TYPE_" + std::to_string(static_cast<int>(type));
}

}  // namespace

std::string transform_name(TransformType type, std::uint16_t id) {
    for (const auto& t : kTransforms) {
        if (t.type == type && t.id == id) return std::string(t.name);
    }
    return type_prefix(type) + "(" + std::to_string(id) + ")";
}

}  // namespace mobiked::wire
