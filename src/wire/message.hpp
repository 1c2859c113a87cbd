// IKEv2 message codec (RFC 7296 §3): pure functions over byte spans.
//
// Decoding is strict and bounded: every length field is checked against its
// enclosing structure, nothing is read past the input, and the first problem
// found is reported with the payload it was found in. Decoding needs no SA
// state; the SK payload is returned still encrypted, and its decrypted body is
// parsed later with decode_payload_chain().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.hpp"
#include "wire/constants.hpp"

namespace mobiked::wire {

struct Header {
    std::uint64_t spi_i = 0;
    std::uint64_t spi_r = 0;
    PayloadType next_payload = PayloadType::none;
    std::uint8_t major_version = 2;
    std::uint8_t minor_version = 0;
    ExchangeType exchange = ExchangeType::ike_sa_init;
    std::uint8_t flags = 0;
    std::uint32_t message_id = 0;
    std::uint32_t length = 0;  // filled in by the encoder

    bool is_response() const { return (flags & flags::response) != 0; }
    bool from_initiator() const { return (flags & flags::initiator) != 0; }
    bool operator==(const Header&) const = default;
};

struct Transform {
    TransformType type = TransformType::encr;
    std::uint16_t id = 0;
    std::optional<std::uint16_t> key_length;  // bits; only attribute IKEv2 defines
    bool operator==(const Transform&) const = default;
};

struct Proposal {
    std::uint8_t number = 1;
    ProtocolId protocol = ProtocolId::ike;
    Bytes spi;  // 0 bytes (IKE_SA_INIT), 4 (ESP/AH) or 8 (IKE rekey)
    std::vector<Transform> transforms;
    bool operator==(const Proposal&) const = default;
};

struct SaPayload {
    std::vector<Proposal> proposals;
    bool operator==(const SaPayload&) const = default;
};

struct KePayload {
    std::uint16_t group = 0;
    Bytes data;
    bool operator==(const KePayload&) const = default;
};

// IDi and IDr share this layout (RFC 7296 §3.5).
struct IdPayload {
    IdType type = IdType::fqdn;
    Bytes data;
    bool operator==(const IdPayload&) const = default;
};

// CERT and CERTREQ share this layout (§3.6, §3.7).
struct CertPayload {
    std::uint8_t encoding = cert_encoding::x509_signature;
    Bytes data;
    bool operator==(const CertPayload&) const = default;
};

struct AuthPayload {
    std::uint8_t method = auth_method::shared_key_mic;
    Bytes data;
    bool operator==(const AuthPayload&) const = default;
};

struct NoncePayload {
    Bytes data;  // 16..256 bytes, enforced by the decoder
    bool operator==(const NoncePayload&) const = default;
};

struct NotifyPayload {
    ProtocolId protocol = ProtocolId::none;
    Bytes spi;
    std::uint16_t type = 0;
    Bytes data;
    bool operator==(const NotifyPayload&) const = default;
};

struct DeletePayload {
    ProtocolId protocol = ProtocolId::esp;
    std::vector<Bytes> spis;  // all of the size the protocol implies (0 for IKE, 4 for ESP/AH)
    bool operator==(const DeletePayload&) const = default;
};

struct VendorIdPayload {
    Bytes data;
    bool operator==(const VendorIdPayload&) const = default;
};

struct TrafficSelector {
    std::uint8_t type = ts_type::ipv4_addr_range;
    std::uint8_t ip_protocol = 0;  // 0 = any
    std::uint16_t start_port = 0;
    std::uint16_t end_port = 65535;
    Bytes start_address;  // 4 or 16 bytes, matching type
    Bytes end_address;
    bool operator==(const TrafficSelector&) const = default;
};

// TSi and TSr share this layout (§3.13).
struct TsPayload {
    std::vector<TrafficSelector> selectors;
    bool operator==(const TsPayload&) const = default;
};

struct CpAttribute {
    std::uint16_t type = 0;  // 15 bits
    Bytes value;
    bool operator==(const CpAttribute&) const = default;
};

struct CpPayload {
    std::uint8_t cfg_type = cfg_type::request;
    std::vector<CpAttribute> attributes;
    bool operator==(const CpPayload&) const = default;
};

// The whole EAP message (RFC 3748 framing is checked: its length equals the body).
struct EapPayload {
    Bytes message;
    bool operator==(const EapPayload&) const = default;
};

// SK payload as received: still encrypted. `inner_first` is the type of the
// first payload inside it (the generic header's Next Payload field).
struct EncryptedPayload {
    PayloadType inner_first = PayloadType::none;
    Bytes body;  // IV || ciphertext || ICV
    bool operator==(const EncryptedPayload&) const = default;
};

// SKF (RFC 7383 §2.5): one fragment of an encrypted message.
struct EncryptedFragmentPayload {
    PayloadType inner_first = PayloadType::none;  // non-zero only in fragment 1
    std::uint16_t fragment_number = 1;
    std::uint16_t total_fragments = 1;
    Bytes body;  // IV || ciphertext || ICV
    bool operator==(const EncryptedFragmentPayload&) const = default;
};

// A non-critical payload type we do not know; skipped as RFC 7296 §2.5 says.
struct UnknownPayload {
    std::uint8_t type = 0;
    Bytes body;
    bool operator==(const UnknownPayload&) const = default;
};

using PayloadBody =
    std::variant<SaPayload, KePayload, IdPayload, CertPayload, AuthPayload, NoncePayload,
                 NotifyPayload, DeletePayload, VendorIdPayload, TsPayload, CpPayload, EapPayload,
                 EncryptedPayload, EncryptedFragmentPayload, UnknownPayload>;

struct Payload {
    PayloadType type = PayloadType::none;
    bool critical = false;
    PayloadBody body;
    bool operator==(const Payload&) const = default;
};

struct DecodeError {
    enum class Kind {
        invalid_syntax,                // answer with INVALID_SYNTAX (if authenticated)
        unsupported_critical_payload,  // answer with UNSUPPORTED_CRITICAL_PAYLOAD(payload_type)
        invalid_major_version,         // answer with INVALID_MAJOR_VERSION
    };
    Kind kind = Kind::invalid_syntax;
    std::uint8_t payload_type = 0;  // where the problem was found (0: header)
    std::string reason;             // for logs; never contains key material
};

struct Message {
    Header header;
    std::vector<Payload> payloads;  // for a received protected message: up to and including SK/SKF
    bool operator==(const Message&) const = default;
};

template <typename T>
using Decoded = std::variant<T, DecodeError>;

// Decodes header + payload chain. An SK or SKF payload must be last (its Next
// Payload names the first inner payload). Fails if header.length differs
// from the datagram size.
Decoded<Message> decode_message(ByteView datagram);

// Decodes only the 28-byte header (for SPI lookup before full parsing). It
// still checks the major version and that header.length equals the datagram
// size, so a header it returns belongs to a plausibly complete message.
// Unknown flag bits are cleared; the exchange type is not restricted.
Decoded<Header> decode_header(ByteView datagram);

// Decodes a chain of payloads starting with type `first` (the decrypted body of SK).
// SK/SKF inside it are invalid_syntax; so is data after the last payload.
Decoded<std::vector<Payload>> decode_payload_chain(PayloadType first, ByteView data);

// Encodes payloads as a chain; returns bytes. Next Payload fields are set from
// the list order; the last one's is 0 unless it is SK/SKF (which carry their
// inner_first there). Reserved bits are sent as zero. A structure that cannot
// be represented (a payload over 65535 bytes, more than 255 selectors) is a
// caller bug and throws std::length_error; anything decode produced fits.
Bytes encode_payload_chain(const std::vector<Payload>& payloads);

// Encodes a whole message; header.next_payload and header.length are computed
// (the values in `header` are ignored). Throws std::length_error past kMaxMessageSize.
Bytes encode_message(const Header& header, const std::vector<Payload>& payloads);

// Helpers for building protected messages: the bytes of the IKE header and
// the SK generic payload header for a message whose SK body (IV || ciphertext
// || ICV) will be `sk_body_length` bytes. The result is what AEAD ciphers take
// as associated data (RFC 5282 §5.1), and the caller appends the body.
Bytes encode_sk_prefix(const Header& header, PayloadType inner_first, std::size_t sk_body_length);

// Same for an SKF fragment (RFC 7383 §2.5): IKE header + SKF header incl.
// Fragment Number and Total Fragments.
Bytes encode_skf_prefix(const Header& header, PayloadType inner_first, std::uint16_t fragment_number,
                        std::uint16_t total_fragments, std::size_t skf_body_length);

// Convenience lookups over a decoded payload list.
const Payload* find_payload(const std::vector<Payload>& payloads, PayloadType type);
const NotifyPayload* find_notify(const std::vector<Payload>& payloads, std::uint16_t type);
std::vector<const NotifyPayload*> find_notifies(const std::vector<Payload>& payloads, std::uint16_t type);

// Human-readable one-line summary: "IKE_AUTH request 1 [ IDi AUTH SA TSi TSr N(MOBIKE_SUP) ]".
// Notify types are abbreviated as strongSwan logs them; unknown numbers show as PAYLOAD(n) etc.
std::string describe(const Message& m);
std::string describe(const Header& h, const std::vector<Payload>& payloads);

}  // namespace mobiked::wire
