// RFC 3526 MODP groups 14 and 15 (generator 2), via OpenSSL's built-in named
// groups "modp_2048" / "modp_3072", which carry exactly the RFC 3526 primes.
#include <openssl/core_names.h>

#include <cstdlib>

#include "crypto/ke_internal.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto::detail {
namespace {

// A short exponent makes generation and derivation ~8x cheaper than a full
// 2048-bit one; 256 bits is at least twice the groups' 112/128-bit strength
// (RFC 3526 §8, SP 800-56A). Set explicitly rather than relying on OpenSSL's
// named-group default (224 bits for MODP-2048 in 3.0), so both groups use one
// documented length.
constexpr int kPrivateExponentBits = 256;

struct ModpDomain {
    std::size_t size;  // prime length in bytes
    EVP_PKEY* params;  // domain parameters, shared by every key of the group
    BIGNUM* p_minus_1;
};

ModpDomain build_domain(const char* name, std::size_t size) {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(name), 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY* pkey = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_KEY_PARAMETERS, params) != 1)
        std::abort();  // the default provider always knows the RFC 3526 groups
    BIGNUM* p = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_FFC_P, &p) != 1 || !BN_sub_word(p, 1))
        std::abort();
    return ModpDomain{size, pkey, p};
}

// Built on first use and kept for the process lifetime: rebuilding the
// parameters per key generation would dominate the cost of IKE_SA_INIT.
const ModpDomain* domain(std::uint16_t group) {
    if (group == wire::ke::modp2048) {
        static const ModpDomain d = build_domain("modp_2048", 256);
        return &d;
    }
    if (group == wire::ke::modp3072) {
        static const ModpDomain d = build_domain("modp_3072", 384);
        return &d;
    }
    return nullptr;
}

// 1 < y < p-1 (RFC 7296 §3.4 points to the small-subgroup discussion of §5;
// y = 1 and y = p-1 force the shared secret into a subgroup of order <= 2).
bool in_range(const BIGNUM* y, const ModpDomain& d) {
    return BN_cmp(y, BN_value_one()) > 0 && BN_cmp(y, d.p_minus_1) < 0;
}

class ModpKeyExchange final : public KeyExchange {
public:
    ModpKeyExchange(std::uint16_t group, const ModpDomain& d, ossl::Pkey key, Bytes pub)
        : group_(group), domain_(d), key_(std::move(key)), public_(std::move(pub)) {}

    std::uint16_t group() const override { return group_; }
    const Bytes& public_value() const override { return public_; }

    Result<Bytes> shared_secret(ByteView peer_public) override {
        if (peer_public.size() != domain_.size)
            return wrong_length(peer_public.size(), domain_.size);
        ossl::Bignum y(
            BN_bin2bn(peer_public.data(), static_cast<int>(peer_public.size()), nullptr));
        if (!y) return Error{ossl::last_error("peer public value")};
        if (!in_range(y.get(), domain_))
            return Error{"peer DH public value out of range (1 < y < p-1)"};
        ossl::Pkey peer(EVP_PKEY_dup(domain_.params));
        if (!peer || EVP_PKEY_set1_encoded_public_key(peer.get(), peer_public.data(),
                                                      peer_public.size()) != 1)
            return Error{ossl::last_error("peer DH public value")};
        return derive_shared(key_.get(), peer.get(), true, domain_.size);
    }

private:
    std::uint16_t group_;
    const ModpDomain& domain_;
    ossl::Pkey key_;
    Bytes public_;
};

ossl::Pkey generate(const ModpDomain& d) {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, d.params, nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return nullptr;
    int priv_len = kPrivateExponentBits;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_DH_PRIV_LEN, &priv_len),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_PKEY_CTX_set_params(ctx.get(), params) != 1) return nullptr;
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_generate(ctx.get(), &key) != 1) return nullptr;
    return ossl::Pkey(key);
}

}  // namespace

std::unique_ptr<KeyExchange> make_modp(std::uint16_t group) {
    const ModpDomain* d = domain(group);
    if (d == nullptr) return nullptr;
    ossl::Pkey key = generate(*d);
    if (!key) return nullptr;
    BIGNUM* y = nullptr;
    if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, &y) != 1) return nullptr;
    ossl::Bignum owned(y);
    Bytes pub(d->size);
    if (BN_bn2binpad(y, pub.data(), static_cast<int>(pub.size())) != static_cast<int>(pub.size()))
        return nullptr;
    return std::make_unique<ModpKeyExchange>(group, *d, std::move(key), std::move(pub));
}

}  // namespace mobiked::crypto::detail
