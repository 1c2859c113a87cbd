// Internal to crypto/: what the PKI pimpls hold, and the RFC 7427
// AlgorithmIdentifier codec shared by signing and verification.
#pragma once

#include <optional>

#include "crypto/ossl.hpp"
#include "crypto/pki.hpp"

namespace mobiked::crypto {

struct PublicKey::Impl {
    ossl::Pkey pkey;
    KeyType type;
};

struct PrivateKey::Impl {
    ossl::Pkey pkey;
    KeyType type;
};

struct Certificate::Impl {
    ossl::X509Ptr x509;
};

namespace detail {

// nullopt for key types AUTH cannot use (DSA, X25519, unknown curves...).
std::optional<KeyType> key_type_of(const EVP_PKEY* pkey);
PublicKey make_public_key(ossl::Pkey pkey, KeyType type);

// A signature algorithm as RFC 7427 names it in the AUTH payload.
struct SigAlgorithm {
    enum class Kind { rsa_pkcs1, rsa_pss, ecdsa, ed25519 } kind;
    const EVP_MD* md = nullptr;       // message digest; nullptr for Ed25519 (pure)
    const EVP_MD* mgf1_md = nullptr;  // PSS only
    int salt_length = 0;              // PSS only
};

// DER AlgorithmIdentifier for signing with `alg` (RFC 7427 §3, Appendix A).
Bytes encode_algorithm_identifier(const SigAlgorithm& alg);
// Parses a received AlgorithmIdentifier; nullopt for anything we do not implement.
std::optional<SigAlgorithm> decode_algorithm_identifier(ByteView der);

// RFC 7427 hash ids <-> digests.
const EVP_MD* md_for_hash(std::uint16_t hash_id);
std::uint16_t hash_for_md(const EVP_MD* md);

}  // namespace detail
}  // namespace mobiked::crypto
