// Diffie-Hellman / ECDH key exchange for the IANA groups mobiked offers:
// 14 (MODP-2048), 15 (MODP-3072), 19 (ECP-256), 20 (ECP-384), 31 (Curve25519).
#pragma once

#include <cstdint>
#include <memory>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace mobiked::crypto {

class KeyExchange {
public:
    virtual ~KeyExchange() = default;
    virtual std::uint16_t group() const = 0;
    // The KE payload's Key Exchange Data in RFC 7296 §3.4 encoding (MODP:
    // zero-padded big-endian to the prime length; ECP: x || y, each padded to
    // the field size, no point-format octet; Curve25519: 32 bytes u-coordinate).
    virtual const Bytes& public_value() const = 0;
    // Validates the peer's value cheaply (exact length; MODP: 1 < y < p-1;
    // ECP: point on curve; X25519: result not all-zero) and returns g^ir.
    // The error names the problem; it never contains key material.
    virtual Result<Bytes> shared_secret(ByteView peer_public) = 0;
};

bool key_exchange_supported(std::uint16_t group);
// Expected length of the KE data for a group, 0 if unsupported.
std::size_t key_exchange_public_size(std::uint16_t group);

// Generates a fresh private key for the group. nullptr if the group is not supported.
std::unique_ptr<KeyExchange> make_key_exchange(std::uint16_t group);

// For known-answer tests only: a key exchange with a fixed private key
// (Curve25519: the 32-byte scalar; ECP: the big-endian scalar, field-size bytes).
// nullptr for MODP groups, unsupported groups or an invalid key.
std::unique_ptr<KeyExchange> make_key_exchange_for_test(std::uint16_t group, ByteView private_key);

}  // namespace mobiked::crypto
