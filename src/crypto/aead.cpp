// AES-GCM-16 (RFC 4106 / RFC 5282) and ChaCha20-Poly1305 (RFC 7634).
// Each direction owns an EVP_CIPHER_CTX keyed once; a packet only sets the
// nonce, so the AES key schedule / GHASH tables are computed once per SA.
#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>

#include "crypto/aead_internal.hpp"
#include "crypto/cipher.hpp"
#include "crypto/ossl.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;

const EVP_CIPHER* fetch_cipher(const char* name) {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
    if (c == nullptr) std::abort();  // present in every default provider build we support
    return c;
}

const EVP_CIPHER* aead_cipher(std::uint16_t encr_id, std::size_t key_size) {
    if (encr_id == wire::encr::aes_gcm_16 && key_size == 16) {
        static const EVP_CIPHER* c = fetch_cipher("AES-128-GCM");
        return c;
    }
    if (encr_id == wire::encr::aes_gcm_16 && key_size == 32) {
        static const EVP_CIPHER* c = fetch_cipher("AES-256-GCM");
        return c;
    }
    if (encr_id == wire::encr::chacha20_poly1305 && key_size == 32) {
        static const EVP_CIPHER* c = fetch_cipher("ChaCha20-Poly1305");
        return c;
    }
    return nullptr;
}

int as_int(std::size_t n) { return static_cast<int>(n); }

class EvpAead final : public Aead {
public:
    bool init(const EVP_CIPHER* cipher, ByteView key) {
        enc_.reset(EVP_CIPHER_CTX_new());
        dec_.reset(EVP_CIPHER_CTX_new());
        return enc_ && dec_ &&
               EVP_EncryptInit_ex(enc_.get(), cipher, nullptr, key.data(), nullptr) == 1 &&
               EVP_DecryptInit_ex(dec_.get(), cipher, nullptr, key.data(), nullptr) == 1;
    }

    std::size_t tag_size() const override { return kTagSize; }

    bool seal(ByteView nonce, ByteView aad, ByteView plaintext, std::uint8_t* out) override {
        EVP_CIPHER_CTX* c = enc_.get();
        int len = 0;
        if (nonce.size() != kNonceSize ||
            EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) != 1)
            return false;
        if (!aad.empty() &&
            EVP_EncryptUpdate(c, nullptr, &len, aad.data(), as_int(aad.size())) != 1)
            return false;
        if (!plaintext.empty() &&
            EVP_EncryptUpdate(c, out, &len, plaintext.data(), as_int(plaintext.size())) != 1)
            return false;
        return EVP_EncryptFinal_ex(c, out + plaintext.size(), &len) == 1 &&
               EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, kTagSize, out + plaintext.size()) == 1;
    }

    bool open(ByteView nonce, ByteView aad, ByteView input, std::uint8_t* out) override {
        if (nonce.size() != kNonceSize || input.size() < kTagSize) return false;
        EVP_CIPHER_CTX* c = dec_.get();
        const std::size_t n = input.size() - kTagSize;
        std::uint8_t tag[kTagSize];
        std::memcpy(tag, input.data() + n, kTagSize);
        int len = 0;
        if (EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag) != 1)
            return false;
        if (!aad.empty() &&
            EVP_DecryptUpdate(c, nullptr, &len, aad.data(), as_int(aad.size())) != 1)
            return false;
        bool ok = (n == 0 || EVP_DecryptUpdate(c, out, &len, input.data(), as_int(n)) == 1) &&
                  EVP_DecryptFinal_ex(c, out + n, &len) == 1;
        // Never hand back unauthenticated plaintext, even by accident.
        if (!ok && n != 0) OPENSSL_cleanse(out, n);
        return ok;
    }

private:
    ossl::CipherCtx enc_, dec_;
};

}  // namespace

std::unique_ptr<Aead> detail::make_evp_aead(std::uint16_t encr_id, ByteView key) {
    const EVP_CIPHER* cipher = aead_cipher(encr_id, key.size());
    if (cipher == nullptr) return nullptr;
    auto aead = std::make_unique<EvpAead>();
    if (!aead->init(cipher, key)) return nullptr;
    return aead;
}

}  // namespace mobiked::crypto
