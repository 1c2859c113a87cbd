// Keys, X.509 certificates, trust anchors and the AUTH signatures of
// RFC 7296 §2.15 (methods 1, 9, 10, 11) and RFC 7427 (method 14).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace mobiked::crypto {

enum class KeyType { rsa, ecdsa_p256, ecdsa_p384, ecdsa_p521, ed25519 };
std::string_view key_type_name(KeyType t);

class PublicKey {
public:
    struct Impl;
    explicit PublicKey(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    KeyType type() const;
    std::shared_ptr<Impl> impl() const { return impl_; }

private:
    std::shared_ptr<Impl> impl_;
};

class PrivateKey {
public:
    struct Impl;
    explicit PrivateKey(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    static Result<PrivateKey> from_pem(ByteView pem);  // unencrypted PKCS#8 or traditional
    static Result<PrivateKey> load_file(const std::string& path);
    KeyType type() const;
    PublicKey public_key() const;
    std::shared_ptr<Impl> impl() const { return impl_; }

private:
    std::shared_ptr<Impl> impl_;
};

class Certificate {
public:
    struct Impl;
    explicit Certificate(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    static Result<Certificate> from_der(ByteView der);
    // All certificates in a PEM file (a chain file holds several).
    static Result<std::vector<Certificate>> load_pem_file(const std::string& path);
    static Result<std::vector<Certificate>> from_pem(ByteView pem);

    Bytes der() const;
    PublicKey public_key() const;
    std::string subject() const;  // RFC 2253 style, for logs and the CLI
    Bytes subject_der() const;    // DER of the subject Name, compared with ID_DER_ASN1_DN
    // RFC 4945 §3.1: an ID of type FQDN / RFC822 / IPv4 / IPv6 must appear as a
    // subjectAltName of the same kind; DER_ASN1_DN must equal the subject.
    bool matches_identity(std::uint8_t id_type, ByteView id_data) const;
    // SHA-1 of the SubjectPublicKeyInfo, as CERTREQ lists CA keys (§3.7).
    Bytes spki_sha1() const;
    std::shared_ptr<Impl> impl() const { return impl_; }

private:
    std::shared_ptr<Impl> impl_;
};

// Verifies leaf → intermediates → one of the anchors, at the current system
// time, with OpenSSL's X509 verification (signature, validity, CA flags).
Status verify_chain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                    const std::vector<Certificate>& anchors);

// Signature schemes for AUTH. For method 14 the AUTH data is
// 1-byte length || AlgorithmIdentifier DER || signature (RFC 7427 §3).
struct SignatureScheme {
    std::uint8_t auth_method = 0;     // 1, 9, 10, 11 or 14
    std::uint16_t hash_algorithm = 0; // RFC 7427 hash id for method 14 (ignored for Ed25519: identity)
    // Method 14 with an RSA key: RSASSA-PSS (MGF1 with the same hash, salt = hash
    // length, RFC 7427 Appendix A.4.3 style parameters) instead of PKCS#1 v1.5.
    bool rsa_pss = false;
};

// The scheme we use with this key, given the hash algorithms the peer announced
// in SIGNATURE_HASH_ALGORITHMS (empty: the peer sent none, use the classic method:
// RSA → 1 (SHA-1 PKCS#1 v1.5 is what method 1 means; we refuse it and use 14 if the
// peer announced any hash), ECDSA → 9/10/11, Ed25519 → needs 14 with identity).
std::optional<SignatureScheme> choose_signature_scheme(KeyType key,
                                                       const std::vector<std::uint16_t>& peer_hashes);

// Produces the AUTH payload data for `signed_octets` (RFC 7296 §2.15).
Result<Bytes> sign_auth(const PrivateKey& key, SignatureScheme scheme, ByteView signed_octets);

// Verifies AUTH payload data produced with `auth_method` over `signed_octets`.
// For method 14, parses the AlgorithmIdentifier and accepts only hashes in
// `accepted_hashes` (identity for Ed25519 always accepted).
Status verify_auth(const PublicKey& key, std::uint8_t auth_method, ByteView auth_data,
                   ByteView signed_octets, const std::vector<std::uint16_t>& accepted_hashes);

// Hash algorithms we announce in SIGNATURE_HASH_ALGORITHMS.
std::vector<std::uint16_t> supported_signature_hashes();

}  // namespace mobiked::crypto
