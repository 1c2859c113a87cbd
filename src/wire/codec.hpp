// Internal to the wire module: the per-payload body codecs that chain.cpp
// dispatches to, and the limits that bound decoding of hostile input.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "wire/message.hpp"

namespace mobiked::wire::detail {

// No legitimate IKE message comes near these; they exist so that a crafted
// datagram full of tiny structures cannot make the decoder allocate wildly.
inline constexpr std::size_t kMaxPayloads = 256;
inline constexpr std::size_t kMaxProposals = 64;
inline constexpr std::size_t kMaxCpAttributes = 256;
inline constexpr std::size_t kMaxDeleteSpis = 4096;

inline constexpr std::uint8_t kCriticalBit = 0x80;

// Why a payload body is malformed; nullopt when it is well formed. The chain
// decoder turns it into a DecodeError naming the payload.
using Problem = std::optional<std::string>;

Problem decode_sa(ByteView body, SaPayload& out);
Problem decode_ke(ByteView body, KePayload& out);
Problem decode_id(ByteView body, IdPayload& out);
Problem decode_cert(ByteView body, CertPayload& out);
Problem decode_auth(ByteView body, AuthPayload& out);
Problem decode_nonce(ByteView body, NoncePayload& out);
Problem decode_notify(ByteView body, NotifyPayload& out);
Problem decode_delete(ByteView body, DeletePayload& out);
Problem decode_vendor_id(ByteView body, VendorIdPayload& out);
Problem decode_ts(ByteView body, TsPayload& out);
Problem decode_cp(ByteView body, CpPayload& out);
Problem decode_eap(ByteView body, EapPayload& out);
Problem decode_sk(PayloadType inner_first, ByteView body, EncryptedPayload& out);
Problem decode_skf(PayloadType inner_first, ByteView body, EncryptedFragmentPayload& out);

// Body encoders write only what follows the generic payload header.
void encode_body(const SaPayload& p, Writer& w);
void encode_body(const KePayload& p, Writer& w);
void encode_body(const IdPayload& p, Writer& w);
void encode_body(const CertPayload& p, Writer& w);
void encode_body(const AuthPayload& p, Writer& w);
void encode_body(const NoncePayload& p, Writer& w);
void encode_body(const NotifyPayload& p, Writer& w);
void encode_body(const DeletePayload& p, Writer& w);
void encode_body(const VendorIdPayload& p, Writer& w);
void encode_body(const TsPayload& p, Writer& w);
void encode_body(const CpPayload& p, Writer& w);
void encode_body(const EapPayload& p, Writer& w);
void encode_body(const EncryptedPayload& p, Writer& w);
void encode_body(const EncryptedFragmentPayload& p, Writer& w);
void encode_body(const UnknownPayload& p, Writer& w);

// The Next Payload value an SK/SKF payload carries (its inner first type);
// nullopt for every other body.
std::optional<PayloadType> inner_first_of(const PayloadBody& body);

void encode_header(const Header& h, PayloadType next, std::size_t total_length, Writer& w);
void encode_generic_header(PayloadType next, bool critical, std::size_t payload_length, Writer& w);

// Lengths on the wire are 16 bits; a structure built larger is a bug in the
// caller (never a consequence of received data), so it throws std::length_error.
std::uint16_t checked_u16(std::size_t n);
std::uint8_t checked_u8(std::size_t n);

}  // namespace mobiked::wire::detail
