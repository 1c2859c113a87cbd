// Truncated HMAC-SHA2 integrity (RFC 4868) and the protocol's plain digests.
#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>

#include "crypto/cipher.hpp"
#include "crypto/ossl.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

constexpr std::size_t kMaxDigest = 64;

struct HmacParams {
    const char* digest;
    std::size_t key_size;
    std::size_t icv_size;
};

std::optional<HmacParams> hmac_params(std::uint16_t integ_id) {
    auto info = integ_info(integ_id);
    if (!info) return std::nullopt;
    const char* digest = integ_id == wire::integ::hmac_sha2_256_128   ? "SHA2-256"
                         : integ_id == wire::integ::hmac_sha2_384_192 ? "SHA2-384"
                                                                      : "SHA2-512";
    return HmacParams{digest, info->key_size, info->icv_size};
}

// Keyed once. Per packet EVP_MAC_init with a NULL key rewinds to the stored
// ipad/opad state: no allocation and no re-hash of the key (measured faster
// than EVP_MAC_CTX_dup of a keyed template, see the crypto unit test log).
class Hmac final : public Mac {
public:
    explicit Hmac(std::size_t icv_size) : icv_size_(icv_size) {}

    bool init(const char* digest, ByteView key) {
        ctx_.reset(EVP_MAC_CTX_new(ossl::mac_hmac()));
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
            OSSL_PARAM_construct_end(),
        };
        return ctx_ && EVP_MAC_init(ctx_.get(), key.data(), key.size(), params) == 1;
    }

    std::size_t icv_size() const override { return icv_size_; }

    void compute(ByteView data, std::uint8_t* out) override {
        std::uint8_t full[kMaxDigest];
        full_mac(data, full);
        std::memcpy(out, full, icv_size_);
    }

    bool verify(ByteView data, ByteView icv) override {
        if (icv.size() != icv_size_) return false;
        std::uint8_t full[kMaxDigest];
        full_mac(data, full);
        return CRYPTO_memcmp(full, icv.data(), icv_size_) == 0;
    }

private:
    void full_mac(ByteView data, std::uint8_t* full) {
        std::size_t len = 0;
        if (EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr) != 1 ||
            EVP_MAC_update(ctx_.get(), data.data(), data.size()) != 1 ||
            EVP_MAC_final(ctx_.get(), full, &len, kMaxDigest) != 1)
            std::abort();  // cannot fail once keyed; an unkeyed MAC must never pass
    }

    ossl::MacCtx ctx_;
    std::size_t icv_size_;
};

Bytes digest(const EVP_MD* md, ByteView data) {
    Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md)));
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) std::abort();
    return out;
}

}  // namespace

std::unique_ptr<Mac> make_mac(std::uint16_t integ_id, ByteView key) {
    auto p = hmac_params(integ_id);
    if (!p || key.size() != p->key_size) return nullptr;
    auto mac = std::make_unique<Hmac>(p->icv_size);
    if (!mac->init(p->digest, key)) return nullptr;
    return mac;
}

Bytes sha1(ByteView data) { return digest(ossl::md_sha1(), data); }
Bytes sha256(ByteView data) { return digest(ossl::md_sha256(), data); }

}  // namespace mobiked::crypto
