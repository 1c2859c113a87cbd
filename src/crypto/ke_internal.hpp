// Internal to crypto/: the per-family key exchange factories behind
// make_key_exchange and the derive step they share.
#pragma once

#include <memory>

#include "crypto/key_exchange.hpp"
#include "crypto/ossl.hpp"

namespace mobiked::crypto::detail {

// fixed_private empty: generate a fresh key.
std::unique_ptr<KeyExchange> make_modp(std::uint16_t group);
std::unique_ptr<KeyExchange> make_ecp(std::uint16_t group, ByteView fixed_private);
std::unique_ptr<KeyExchange> make_x25519(ByteView fixed_private);

// EVP_PKEY_derive with the peer's key taken as already validated by the caller
// (OpenSSL's default peer validation costs a full modular exponentiation for MODP).
// dh_pad: left-pad the DH output to the prime length (RFC 7296 §2.14 g^ir).
Result<Bytes> derive_shared(EVP_PKEY* own, EVP_PKEY* peer, bool dh_pad, std::size_t expected_size);

// Length error shared by the families; only sizes, never the value.
Error wrong_length(std::size_t got, std::size_t expected);

}  // namespace mobiked::crypto::detail
