#include "crypto/key_exchange.hpp"

#include <openssl/core_names.h>
#include <openssl/dh.h>

#include <string>

#include "crypto/ke_internal.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {

bool key_exchange_supported(std::uint16_t group) { return key_exchange_public_size(group) != 0; }

std::size_t key_exchange_public_size(std::uint16_t group) {
    switch (group) {
        case wire::ke::modp2048:
            return 256;
        case wire::ke::modp3072:
            return 384;
        case wire::ke::ecp256:
            return 64;
        case wire::ke::ecp384:
            return 96;
        case wire::ke::ecp521:
            return 132;
        case wire::ke::curve25519:
            return 32;
        default:
            return 0;
    }
}

std::unique_ptr<KeyExchange> make_key_exchange(std::uint16_t group) {
    switch (group) {
        case wire::ke::modp2048:
        case wire::ke::modp3072:
            return detail::make_modp(group);
        case wire::ke::ecp256:
        case wire::ke::ecp384:
        case wire::ke::ecp521:
            return detail::make_ecp(group, {});
        case wire::ke::curve25519:
            return detail::make_x25519({});
        default:
            return nullptr;
    }
}

std::unique_ptr<KeyExchange> make_key_exchange_for_test(std::uint16_t group, ByteView private_key) {
    if (private_key.empty()) return nullptr;
    switch (group) {
        case wire::ke::ecp256:
        case wire::ke::ecp384:
        case wire::ke::ecp521:
            return detail::make_ecp(group, private_key);
        case wire::ke::curve25519:
            return detail::make_x25519(private_key);
        default:
            return nullptr;
    }
}

namespace detail {

Error wrong_length(std::size_t got, std::size_t expected) {
    return Error{"key exchange data is " + std::to_string(got) + " bytes, expected " +
                 std::to_string(expected)};
}

Result<Bytes> derive_shared(EVP_PKEY* own, EVP_PKEY* peer, bool dh_pad, std::size_t expected_size) {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) return Error{ossl::last_error("derive init")};
    if (dh_pad && EVP_PKEY_CTX_set_dh_pad(ctx.get(), 1) != 1)
        return Error{ossl::last_error("DH padding")};
    if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer, 0) != 1)
        return Error{ossl::last_error("peer public key rejected")};
    std::size_t len = 0;
    if (EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) return Error{ossl::last_error("derive")};
    Bytes secret(len);
    if (EVP_PKEY_derive(ctx.get(), secret.data(), &len) != 1) {
        wipe(secret);
        return Error{ossl::last_error("derive")};
    }
    if (len != expected_size) {
        wipe(secret);
        return Error{"derived secret has unexpected length " + std::to_string(len)};
    }
    return secret;
}

}  // namespace detail
}  // namespace mobiked::crypto
