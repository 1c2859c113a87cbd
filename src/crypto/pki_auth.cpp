// AUTH payload signatures: RFC 7296 §2.15 methods 1 (RSA), 9/10/11 (ECDSA,
// RFC 4754) and RFC 7427 method 14 (Digital Signature).
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <algorithm>

#include "crypto/pki_internal.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

using detail::SigAlgorithm;
using Kind = SigAlgorithm::Kind;
using EcdsaSig = ossl::Handle<ECDSA_SIG, ECDSA_SIG_free>;
namespace am = wire::auth_method;

// RFC 4754 §7: the classic ECDSA methods fix both curve and hash.
struct ClassicEcdsa {
    std::uint8_t method;
    KeyType key;
    const EVP_MD* (*md)();
    std::size_t coord;
};
constexpr ClassicEcdsa kClassicEcdsa[] = {
    {am::ecdsa_sha256_p256, KeyType::ecdsa_p256, ossl::md_sha256, 32},
    {am::ecdsa_sha384_p384, KeyType::ecdsa_p384, ossl::md_sha384, 48},
    {am::ecdsa_sha512_p521, KeyType::ecdsa_p521, ossl::md_sha512, 66},
};

const ClassicEcdsa* classic_ecdsa(std::uint8_t method) {
    for (const auto& c : kClassicEcdsa)
        if (c.method == method) return &c;
    return nullptr;
}

bool is_ecdsa(KeyType t) {
    return t == KeyType::ecdsa_p256 || t == KeyType::ecdsa_p384 || t == KeyType::ecdsa_p521;
}

bool key_fits(KeyType t, Kind k) {
    switch (k) {
        case Kind::rsa_pkcs1:
        case Kind::rsa_pss:
            return t == KeyType::rsa;
        case Kind::ecdsa:
            return is_ecdsa(t);
        case Kind::ed25519:
            return t == KeyType::ed25519;
    }
    return false;
}

bool configure_pss(EVP_PKEY_CTX* pctx, const SigAlgorithm& alg) {
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, alg.mgf1_md) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, alg.salt_length) == 1;
}

Result<Bytes> sign_raw(EVP_PKEY* key, const SigAlgorithm& alg, ByteView data) {
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    const char* md = alg.md ? EVP_MD_get0_name(alg.md) : nullptr;
    if (!ctx || EVP_DigestSignInit_ex(ctx.get(), &pctx, md, nullptr, nullptr, key, nullptr) != 1)
        return Error{ossl::last_error("signature setup")};
    if (alg.kind == Kind::rsa_pss && !configure_pss(pctx, alg))
        return Error{ossl::last_error("RSASSA-PSS setup")};
    std::size_t len = 0;
    if (EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1)
        return Error{ossl::last_error("signing")};
    Bytes sig(len);
    if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1)
        return Error{ossl::last_error("signing")};
    sig.resize(len);
    return sig;
}

bool verify_raw(EVP_PKEY* key, const SigAlgorithm& alg, ByteView sig, ByteView data) {
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    const char* md = alg.md ? EVP_MD_get0_name(alg.md) : nullptr;
    bool ok = ctx &&
              EVP_DigestVerifyInit_ex(ctx.get(), &pctx, md, nullptr, nullptr, key, nullptr) == 1 &&
              (alg.kind != Kind::rsa_pss || configure_pss(pctx, alg)) &&
              EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
    ERR_clear_error();
    return ok;
}

// RFC 4754 §7: the AUTH value is r || s, each left-padded to the field size.
Result<Bytes> der_to_fixed(ByteView der, std::size_t coord) {
    const unsigned char* p = der.data();
    EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!sig) return Error{ossl::last_error("ECDSA signature")};
    Bytes out(2 * coord);
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), static_cast<int>(coord)) < 0 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + coord, static_cast<int>(coord)) < 0)
        return Error{"ECDSA signature does not fit the curve size"};
    return out;
}

Bytes fixed_to_der(ByteView rs) {
    const std::size_t coord = rs.size() / 2;
    EcdsaSig sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(rs.data(), static_cast<int>(coord), nullptr);
    BIGNUM* s = BN_bin2bn(rs.data() + coord, static_cast<int>(coord), nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return {};
    }
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(sig.get(), &der);
    Bytes out;
    if (len > 0) out.assign(der, der + len);
    OPENSSL_free(der);
    return out;
}

// The algorithm method 14 uses for this key and hash.
std::optional<SigAlgorithm> method14_algorithm(KeyType key, SignatureScheme scheme) {
    if (key == KeyType::ed25519) return SigAlgorithm{Kind::ed25519, nullptr};
    const EVP_MD* md = detail::md_for_hash(scheme.hash_algorithm);
    if (md == nullptr) return std::nullopt;
    if (is_ecdsa(key)) return SigAlgorithm{Kind::ecdsa, md};
    if (!scheme.rsa_pss) return SigAlgorithm{Kind::rsa_pkcs1, md};
    return SigAlgorithm{Kind::rsa_pss, md, md, EVP_MD_get_size(md)};
}

Result<Bytes> sign_method14(const PrivateKey& key, SignatureScheme scheme, ByteView data) {
    auto alg = method14_algorithm(key.type(), scheme);
    if (!alg)
        return Error{"unsupported hash algorithm " + std::to_string(scheme.hash_algorithm) +
                     " for method 14"};
    Bytes algid = detail::encode_algorithm_identifier(*alg);
    if (algid.empty() || algid.size() > 255) return Error{"cannot encode AlgorithmIdentifier"};
    auto sig = sign_raw(key.impl()->pkey.get(), *alg, data);
    if (!sig) return sig;
    Bytes out;
    out.reserve(1 + algid.size() + sig->size());
    out.push_back(static_cast<std::uint8_t>(algid.size()));
    append(out, algid);
    append(out, *sig);
    return out;
}

Status verify_method14(const PublicKey& key, ByteView auth, ByteView data,
                       const std::vector<std::uint16_t>& accepted) {
    if (auth.empty() || auth[0] == 0 || auth.size() <= 1u + auth[0])
        return Error{"malformed method 14 AUTH data"};
    auto alg = detail::decode_algorithm_identifier(auth.subspan(1, auth[0]));
    if (!alg) return Error{"unsupported signature AlgorithmIdentifier in AUTH"};
    if (!key_fits(key.type(), alg->kind))
        return Error{"AUTH signature algorithm does not match the key type"};
    std::uint16_t hash = detail::hash_for_md(alg->md);
    if (hash != wire::hash_alg::identity &&
        std::find(accepted.begin(), accepted.end(), hash) == accepted.end())
        return Error{"AUTH uses hash algorithm " + std::to_string(hash) +
                     ", which we did not accept"};
    if (!verify_raw(key.impl()->pkey.get(), *alg, auth.subspan(1u + auth[0]), data))
        return Error{"AUTH signature verification failed"};
    return Status::success();
}

}  // namespace

std::vector<std::uint16_t> supported_signature_hashes() {
    return {wire::hash_alg::sha2_256, wire::hash_alg::sha2_384, wire::hash_alg::sha2_512,
            wire::hash_alg::identity};
}

std::optional<SignatureScheme> choose_signature_scheme(
    KeyType key, const std::vector<std::uint16_t>& peer_hashes) {
    auto announced = [&](std::uint16_t h) {
        return std::find(peer_hashes.begin(), peer_hashes.end(), h) != peer_hashes.end();
    };
    if (key == KeyType::ed25519) {
        // RFC 8420 §2: Ed25519 exists only as method 14 with the identity "hash".
        if (!announced(wire::hash_alg::identity)) return std::nullopt;
        return SignatureScheme{am::digital_signature, wire::hash_alg::identity};
    }
    // Prefer the hash matching the key's strength, then any SHA-2 the peer takes.
    std::uint16_t preferred = key == KeyType::ecdsa_p384   ? wire::hash_alg::sha2_384
                              : key == KeyType::ecdsa_p521 ? wire::hash_alg::sha2_512
                                                           : wire::hash_alg::sha2_256;
    for (std::uint16_t h :
         {preferred, wire::hash_alg::sha2_256, wire::hash_alg::sha2_384, wire::hash_alg::sha2_512})
        if (announced(h)) return SignatureScheme{am::digital_signature, h};
    // The peer announced nothing usable: fall back to the classic methods of RFC 7296.
    switch (key) {
        case KeyType::rsa:
            return SignatureScheme{am::rsa_signature, 0};
        case KeyType::ecdsa_p256:
            return SignatureScheme{am::ecdsa_sha256_p256, 0};
        case KeyType::ecdsa_p384:
            return SignatureScheme{am::ecdsa_sha384_p384, 0};
        case KeyType::ecdsa_p521:
            return SignatureScheme{am::ecdsa_sha512_p521, 0};
        case KeyType::ed25519:
            break;
    }
    return std::nullopt;
}

Result<Bytes> sign_auth(const PrivateKey& key, SignatureScheme scheme, ByteView signed_octets) {
    EVP_PKEY* pkey = key.impl()->pkey.get();
    if (scheme.auth_method == am::digital_signature)
        return sign_method14(key, scheme, signed_octets);
    if (scheme.auth_method == am::rsa_signature) {
        if (key.type() != KeyType::rsa) return Error{"method 1 needs an RSA key"};
        return sign_raw(pkey, SigAlgorithm{Kind::rsa_pkcs1, ossl::md_sha1()}, signed_octets);
    }
    if (const ClassicEcdsa* c = classic_ecdsa(scheme.auth_method)) {
        if (key.type() != c->key)
            return Error{"AUTH method " + std::to_string(c->method) +
                         " needs a matching ECDSA key"};
        auto der = sign_raw(pkey, SigAlgorithm{Kind::ecdsa, c->md()}, signed_octets);
        if (!der) return der;
        return der_to_fixed(*der, c->coord);
    }
    return Error{"unsupported AUTH method " + std::to_string(scheme.auth_method)};
}

Status verify_auth(const PublicKey& key, std::uint8_t auth_method, ByteView auth_data,
                   ByteView signed_octets, const std::vector<std::uint16_t>& accepted_hashes) {
    EVP_PKEY* pkey = key.impl() ? key.impl()->pkey.get() : nullptr;
    if (pkey == nullptr || !detail::key_type_of(pkey))
        return Error{"public key type cannot verify AUTH"};
    if (auth_method == am::digital_signature)
        return verify_method14(key, auth_data, signed_octets, accepted_hashes);
    if (auth_method == am::rsa_signature) {
        if (key.type() != KeyType::rsa) return Error{"method 1 needs an RSA key"};
        if (!verify_raw(pkey, SigAlgorithm{Kind::rsa_pkcs1, ossl::md_sha1()}, auth_data,
                        signed_octets))
            return Error{"AUTH signature verification failed"};
        return Status::success();
    }
    if (const ClassicEcdsa* c = classic_ecdsa(auth_method)) {
        if (key.type() != c->key)
            return Error{"AUTH method " + std::to_string(c->method) + " does not match the key"};
        if (auth_data.size() != 2 * c->coord) return Error{"ECDSA AUTH value has the wrong length"};
        Bytes der = fixed_to_der(auth_data);
        if (der.empty() ||
            !verify_raw(pkey, SigAlgorithm{Kind::ecdsa, c->md()}, der, signed_octets))
            return Error{"AUTH signature verification failed"};
        return Status::success();
    }
    return Error{"unsupported AUTH method " + std::to_string(auth_method)};
}

}  // namespace mobiked::crypto
