// AES-CBC without padding (RFC 3602): ESP and SK payloads pad themselves.
#include <cstdlib>

#include "crypto/cipher.hpp"
#include "crypto/ossl.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

constexpr std::size_t kBlock = 16;

const EVP_CIPHER* cbc_cipher(std::size_t key_size) {
    auto fetch = [](const char* name) {
        EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
        if (c == nullptr) std::abort();
        return c;
    };
    switch (key_size) {
        case 16: {
            static const EVP_CIPHER* c = fetch("AES-128-CBC");
            return c;
        }
        case 24: {
            static const EVP_CIPHER* c = fetch("AES-192-CBC");
            return c;
        }
        case 32: {
            static const EVP_CIPHER* c = fetch("AES-256-CBC");
            return c;
        }
        default:
            return nullptr;
    }
}

class AesCbc final : public BlockCipher {
public:
    bool init(const EVP_CIPHER* cipher, ByteView key) {
        enc_.reset(EVP_CIPHER_CTX_new());
        dec_.reset(EVP_CIPHER_CTX_new());
        return enc_ && dec_ &&
               EVP_EncryptInit_ex(enc_.get(), cipher, nullptr, key.data(), nullptr) == 1 &&
               EVP_DecryptInit_ex(dec_.get(), cipher, nullptr, key.data(), nullptr) == 1 &&
               EVP_CIPHER_CTX_set_padding(enc_.get(), 0) == 1 &&
               EVP_CIPHER_CTX_set_padding(dec_.get(), 0) == 1;
    }

    std::size_t block_size() const override { return kBlock; }

    bool encrypt(ByteView iv, ByteView in, std::uint8_t* out) override {
        return run(enc_.get(), iv, in, out);
    }
    bool decrypt(ByteView iv, ByteView in, std::uint8_t* out) override {
        return run(dec_.get(), iv, in, out);
    }

private:
    // With whole blocks and padding off, Update consumes everything and Final
    // would add nothing; re-initialising with only the IV keeps the key schedule.
    static bool run(EVP_CIPHER_CTX* c, ByteView iv, ByteView in, std::uint8_t* out) {
        if (iv.size() != kBlock || in.size() % kBlock != 0) return false;
        if (EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, iv.data(), -1) != 1) return false;
        if (in.empty()) return true;
        int len = 0;
        return EVP_CipherUpdate(c, out, &len, in.data(), static_cast<int>(in.size())) == 1 &&
               static_cast<std::size_t>(len) == in.size();
    }

    ossl::CipherCtx enc_, dec_;
};

}  // namespace

std::unique_ptr<BlockCipher> make_block_cipher(std::uint16_t encr_id, ByteView key) {
    if (encr_id != wire::encr::aes_cbc) return nullptr;
    const EVP_CIPHER* cipher = cbc_cipher(key.size());
    if (cipher == nullptr) return nullptr;
    auto c = std::make_unique<AesCbc>();
    if (!c->init(cipher, key)) return nullptr;
    return c;
}

}  // namespace mobiked::crypto
