// NIST curves, groups 19/20/21 (RFC 5903): KE data and shared secret as in
// RFC 5903 §7 — x || y without the point-format octet, and only x of the result.
#include <openssl/core_names.h>
#include <openssl/ec.h>

#include <cstdlib>

#include "crypto/ke_internal.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto::detail {
namespace {

struct EcDomain {
    const char* name;
    std::size_t coord_size;
    EVP_PKEY* params;
};

EcDomain build_domain(const char* name, std::size_t coord_size) {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(name), 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY* pkey = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_KEY_PARAMETERS, params) != 1)
        std::abort();  // the default provider always has the NIST prime curves
    return EcDomain{name, coord_size, pkey};
}

// Cached for the process lifetime so key generation reuses the curve setup.
const EcDomain* domain(std::uint16_t group) {
    switch (group) {
        case wire::ke::ecp256: {
            static const EcDomain d = build_domain("P-256", 32);
            return &d;
        }
        case wire::ke::ecp384: {
            static const EcDomain d = build_domain("P-384", 48);
            return &d;
        }
        case wire::ke::ecp521: {
            static const EcDomain d = build_domain("P-521", 66);
            return &d;
        }
        default:
            return nullptr;
    }
}

// OpenSSL's uncompressed SEC1 encoding is 0x04 || x || y; IKE drops the 0x04.
Bytes sec1_uncompressed(ByteView xy) {
    Bytes out;
    out.reserve(xy.size() + 1);
    out.push_back(0x04);
    append(out, xy);
    return out;
}

class EcpKeyExchange final : public KeyExchange {
public:
    EcpKeyExchange(std::uint16_t group, const EcDomain& d, ossl::Pkey key, Bytes pub)
        : group_(group), domain_(d), key_(std::move(key)), public_(std::move(pub)) {}

    std::uint16_t group() const override { return group_; }
    const Bytes& public_value() const override { return public_; }

    Result<Bytes> shared_secret(ByteView peer_public) override {
        std::size_t want = 2 * domain_.coord_size;
        if (peer_public.size() != want) return wrong_length(peer_public.size(), want);
        // Decoding the point checks that it is on the curve; x||y cannot encode
        // the point at infinity, so no further check is needed for these
        // prime-order curves (cofactor 1).
        Bytes encoded = sec1_uncompressed(peer_public);
        ossl::Pkey peer(EVP_PKEY_dup(domain_.params));
        if (!peer ||
            EVP_PKEY_set1_encoded_public_key(peer.get(), encoded.data(), encoded.size()) != 1)
            return Error{ossl::last_error("peer ECP point is not on the curve")};
        return derive_shared(key_.get(), peer.get(), false, domain_.coord_size);
    }

private:
    std::uint16_t group_;
    const EcDomain& domain_;
    ossl::Pkey key_;
    Bytes public_;
};

ossl::Pkey generate(const EcDomain& d) {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, d.params, nullptr));
    EVP_PKEY* key = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_generate(ctx.get(), &key) != 1)
        return nullptr;
    return ossl::Pkey(key);
}

// Test-only: OpenSSL 3.0 does not derive the public point on import, so compute it.
ossl::Pkey import_private(const EcDomain& d, ByteView scalar) {
    if (scalar.size() != d.coord_size) return nullptr;
    using Group = ossl::Handle<EC_GROUP, EC_GROUP_free>;
    using Point = ossl::Handle<EC_POINT, EC_POINT_free>;
    Group group(EC_GROUP_new_by_curve_name_ex(nullptr, nullptr, EC_curve_nist2nid(d.name)));
    ossl::SecretBignum priv(BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), nullptr));
    if (!group || !priv) return nullptr;
    Point pub(EC_POINT_new(group.get()));
    if (!pub || EC_POINT_mul(group.get(), pub.get(), priv.get(), nullptr, nullptr, nullptr) != 1)
        return nullptr;
    unsigned char pub_buf[1 + 2 * 66];
    std::size_t pub_len = EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED,
                                             pub_buf, sizeof pub_buf, nullptr);
    Bytes priv_native(scalar.size());
    BN_bn2nativepad(priv.get(), priv_native.data(), static_cast<int>(priv_native.size()));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(d.name), 0),
        OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, priv_native.data(), priv_native.size()),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub_buf, pub_len),
        OSSL_PARAM_construct_end(),
    };
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* key = nullptr;
    bool ok = ctx && pub_len != 0 && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
              EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEYPAIR, params) == 1;
    wipe(priv_native);
    return ok ? ossl::Pkey(key) : nullptr;
}

}  // namespace

std::unique_ptr<KeyExchange> make_ecp(std::uint16_t group, ByteView fixed_private) {
    const EcDomain* d = domain(group);
    if (d == nullptr) return nullptr;
    ossl::Pkey key = fixed_private.empty() ? generate(*d) : import_private(*d, fixed_private);
    if (!key) return nullptr;
    unsigned char buf[1 + 2 * 66];
    std::size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf,
                                        sizeof buf, &len) != 1 ||
        len != 1 + 2 * d->coord_size || buf[0] != 0x04)
        return nullptr;
    Bytes pub(buf + 1, buf + len);
    return std::make_unique<EcpKeyExchange>(group, *d, std::move(key), std::move(pub));
}

}  // namespace mobiked::crypto::detail
