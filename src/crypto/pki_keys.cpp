// Private and public keys: loading, type detection.
#include <openssl/core_names.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "crypto/pki_internal.hpp"

namespace mobiked::crypto {

std::string_view key_type_name(KeyType t) {
    switch (t) {
        case KeyType::rsa:
            return "RSA";
        case KeyType::ecdsa_p256:
            return "ECDSA-P256";
        case KeyType::ecdsa_p384:
            return "ECDSA-P384";
        case KeyType::ecdsa_p521:
            return "ECDSA-P521";
        case KeyType::ed25519:
            return "Ed25519";
    }
    return "unknown";
}

namespace detail {

std::optional<KeyType> key_type_of(const EVP_PKEY* pkey) {
    if (EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_is_a(pkey, "RSA-PSS")) return KeyType::rsa;
    if (EVP_PKEY_is_a(pkey, "ED25519")) return KeyType::ed25519;
    if (!EVP_PKEY_is_a(pkey, "EC")) return std::nullopt;
    char curve[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve,
                                       &len) != 1)
        return std::nullopt;
    std::string_view name(curve, len);
    if (name == "prime256v1" || name == "P-256") return KeyType::ecdsa_p256;
    if (name == "secp384r1" || name == "P-384") return KeyType::ecdsa_p384;
    if (name == "secp521r1" || name == "P-521") return KeyType::ecdsa_p521;
    return std::nullopt;
}

PublicKey make_public_key(ossl::Pkey pkey, KeyType type) {
    auto impl = std::make_shared<PublicKey::Impl>();
    impl->pkey = std::move(pkey);
    impl->type = type;
    return PublicKey(std::move(impl));
}

}  // namespace detail

KeyType PublicKey::type() const { return impl_->type; }
KeyType PrivateKey::type() const { return impl_->type; }

namespace {
// Encrypted keys are not supported: refuse instead of letting OpenSSL prompt on a terminal.
int no_passphrase(char*, int, int, void*) { return 0; }
}  // namespace

Result<PrivateKey> PrivateKey::from_pem(ByteView pem) {
    ossl::Handle<BIO, BIO_free_all> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return Error{ossl::last_error("private key")};
    EVP_PKEY* raw =
        PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, no_passphrase, nullptr, nullptr, nullptr);
    if (raw == nullptr)
        return Error{ossl::last_error("cannot parse private key (PEM, unencrypted)")};
    ossl::Pkey pkey(raw);
    auto type = detail::key_type_of(pkey.get());
    if (!type) return Error{"unsupported private key type"};
    auto impl = std::make_shared<Impl>();
    impl->pkey = std::move(pkey);
    impl->type = *type;
    return PrivateKey(std::move(impl));
}

Result<PrivateKey> PrivateKey::load_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr)
        return Error{"cannot open private key file " + path + ": " + std::strerror(errno)};
    Bytes data;
    std::uint8_t buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
        data.insert(data.end(), buf, buf + n);
    std::fclose(f);
    auto key = from_pem(data);
    wipe(data);
    if (!key) return Error{path + ": " + key.error()};
    return key;
}

// Only the public half leaves: a PublicKey is handed to code that never needs the secret.
PublicKey PrivateKey::public_key() const {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(impl_->pkey.get(), &der);
    const unsigned char* p = der;
    ossl::Pkey pub(len > 0 ? d2i_PUBKEY(nullptr, &p, len) : nullptr);
    OPENSSL_free(der);
    if (!pub) std::abort();  // re-encoding a key we already hold cannot fail
    return detail::make_public_key(std::move(pub), impl_->type);
}

}  // namespace mobiked::crypto
