// Test PKI built with OpenSSL at test time (no key material in the tree):
// an RSA root, an ECDSA P-256 intermediate under it, and RSA / P-256 / Ed25519
// leaves with subjectAltNames; plus an unrelated root and an expired leaf.
#pragma once

#include <string>
#include <vector>

namespace mobiked::crypto::test {

struct Issued {
    std::string key_pem;  // PKCS#8
    std::string cert_pem;
};

struct TestPki {
    Issued root, intermediate, leaf_rsa, leaf_ecdsa, leaf_ed25519, expired_leaf, other_root,
        other_leaf;
    std::string leaf_rsa_traditional_key_pem;  // "BEGIN RSA PRIVATE KEY"
    std::string encrypted_key_pem;
};

// Built on first use (RSA key generation is slow under the sanitizers).
const TestPki& test_pki();

}  // namespace mobiked::crypto::test
