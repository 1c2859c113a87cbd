// Internal to crypto/: owning handles for OpenSSL objects and the error text
// helper. Never include this from outside src/crypto (OpenSSL stays private).
#pragma once

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace mobiked::crypto::ossl {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;

using Pkey = Handle<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtx = Handle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtx = Handle<EVP_MD_CTX, EVP_MD_CTX_free>;
using CipherCtx = Handle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using MacCtx = Handle<EVP_MAC_CTX, EVP_MAC_CTX_free>;
using Bignum = Handle<BIGNUM, BN_free>;
using SecretBignum = Handle<BIGNUM, BN_clear_free>;
using X509Ptr = Handle<X509, X509_free>;
using X509Name = Handle<X509_NAME, X509_NAME_free>;
using Algor = Handle<X509_ALGOR, X509_ALGOR_free>;

// Shares ownership of a refcounted EVP_PKEY (Certificate::public_key, PrivateKey::public_key).
inline Pkey up_ref(EVP_PKEY* k) {
    EVP_PKEY_up_ref(k);
    return Pkey(k);
}

// Describes the last OpenSSL error and clears the queue, so a stale error is
// never reported for a later, unrelated failure. OpenSSL error strings name
// the failing check, not key material.
std::string last_error(const char* what);

// Algorithm objects fetched once per process: fetching is a provider lookup
// under a lock, far too slow for the per-packet path.
const EVP_MD* md_sha1();
const EVP_MD* md_sha256();
const EVP_MD* md_sha384();
const EVP_MD* md_sha512();
EVP_MAC* mac_hmac();

}  // namespace mobiked::crypto::ossl
