// Curve25519, group 31 (RFC 8031): 32-byte u-coordinates both ways.
#include <algorithm>

#include "crypto/ke_internal.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto::detail {
namespace {

constexpr std::size_t kSize = 32;

class X25519KeyExchange final : public KeyExchange {
public:
    X25519KeyExchange(ossl::Pkey key, Bytes pub) : key_(std::move(key)), public_(std::move(pub)) {}

    std::uint16_t group() const override { return wire::ke::curve25519; }
    const Bytes& public_value() const override { return public_; }

    Result<Bytes> shared_secret(ByteView peer_public) override {
        if (peer_public.size() != kSize) return wrong_length(peer_public.size(), kSize);
        ossl::Pkey peer(
            EVP_PKEY_new_raw_public_key_ex(nullptr, "X25519", nullptr, peer_public.data(), kSize));
        if (!peer) return Error{ossl::last_error("peer X25519 public value")};
        auto secret = derive_shared(key_.get(), peer.get(), false, kSize);
        // RFC 8031 §2.3 / RFC 7748 §6.1: an all-zero result means a low-order
        // peer point; OpenSSL already refuses it, this keeps the rule explicit.
        if (!secret) return Error{"X25519 shared secret is all zero (low-order peer point)"};
        if (std::all_of(secret->begin(), secret->end(), [](std::uint8_t b) { return b == 0; }))
            return Error{"X25519 shared secret is all zero (low-order peer point)"};
        return secret;
    }

private:
    ossl::Pkey key_;
    Bytes public_;
};

ossl::Pkey generate() {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr));
    EVP_PKEY* key = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_generate(ctx.get(), &key) != 1)
        return nullptr;
    return ossl::Pkey(key);
}

}  // namespace

std::unique_ptr<KeyExchange> make_x25519(ByteView fixed_private) {
    ossl::Pkey key;
    if (fixed_private.empty())
        key = generate();
    else if (fixed_private.size() == kSize)
        key.reset(EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", nullptr, fixed_private.data(),
                                                  kSize));
    if (!key) return nullptr;
    Bytes pub(kSize);
    std::size_t len = kSize;
    if (EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != kSize)
        return nullptr;
    return std::make_unique<X25519KeyExchange>(std::move(key), std::move(pub));
}

}  // namespace mobiked::crypto::detail
