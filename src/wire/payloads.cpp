// The simple payloads: a few fixed fields followed by opaque data
// (RFC 7296 §3.4–§3.12, §3.16).
#include "wire/codec.hpp"

namespace mobiked::wire::detail {
namespace {

constexpr std::size_t kMinNonce = 16, kMaxNonce = 256;
constexpr std::size_t kEapHeaderSize = 4;

}  // namespace

// | Diffie-Hellman Group Num      |           RESERVED            |
// ~                       Key Exchange Data                       ~
Problem decode_ke(ByteView body, KePayload& out) {
    Reader r(body);
    if (!r.u16(out.group) || !r.skip(2)) return "truncated KE";
    if (r.remaining() == 0) return "KE without key exchange data";
    r.bytes(r.remaining(), out.data);
    return std::nullopt;
}

void encode_body(const KePayload& p, Writer& w) {
    w.u16(p.group);
    w.zeros(2);
    w.bytes(p.data);
}

// |   ID Type     |                 RESERVED                      |
// ~                   Identification Data                         ~
Problem decode_id(ByteView body, IdPayload& out) {
    Reader r(body);
    std::uint8_t type = 0;
    if (!r.u8(type) || !r.skip(3)) return "truncated ID";
    out.type = static_cast<IdType>(type);
    const std::size_t size = r.remaining();
    if (size == 0) return "empty identification data";
    if (out.type == IdType::ipv4_addr && size != 4) return "ID_IPV4_ADDR not 4 bytes";
    if (out.type == IdType::ipv6_addr && size != 16) return "ID_IPV6_ADDR not 16 bytes";
    r.bytes(size, out.data);
    return std::nullopt;
}

void encode_body(const IdPayload& p, Writer& w) {
    w.u8(static_cast<std::uint8_t>(p.type));
    w.zeros(3);
    w.bytes(p.data);
}

// | Cert Encoding |                                               |
// +-+-+-+-+-+-+-+-+   Certificate Data / Certification Authority  ~
// A CERTREQ may legitimately carry no CA hashes, so empty data is allowed.
Problem decode_cert(ByteView body, CertPayload& out) {
    Reader r(body);
    if (!r.u8(out.encoding)) return "truncated CERT/CERTREQ";
    r.bytes(r.remaining(), out.data);
    return std::nullopt;
}

void encode_body(const CertPayload& p, Writer& w) {
    w.u8(p.encoding);
    w.bytes(p.data);
}

// | Auth Method   |                RESERVED                       |
// ~                      Authentication Data                      ~
Problem decode_auth(ByteView body, AuthPayload& out) {
    Reader r(body);
    if (!r.u8(out.method) || !r.skip(3)) return "truncated AUTH";
    if (r.remaining() == 0) return "AUTH without authentication data";
    r.bytes(r.remaining(), out.data);
    return std::nullopt;
}

void encode_body(const AuthPayload& p, Writer& w) {
    w.u8(p.method);
    w.zeros(3);
    w.bytes(p.data);
}

// §2.10: nonces are at least 128 bits and at most 2048 bits.
Problem decode_nonce(ByteView body, NoncePayload& out) {
    if (body.size() < kMinNonce) return "nonce shorter than 16 bytes";
    if (body.size() > kMaxNonce) return "nonce longer than 256 bytes";
    out.data = to_bytes(body);
    return std::nullopt;
}

void encode_body(const NoncePayload& p, Writer& w) { w.bytes(p.data); }

// |  Protocol ID  |   SPI Size    |      Notify Message Type      |
// ~                Security Parameter Index (SPI)                 ~
// ~                       Notification Data                       ~
Problem decode_notify(ByteView body, NotifyPayload& out) {
    Reader r(body);
    std::uint8_t protocol = 0, spi_size = 0;
    if (!r.u8(protocol) || !r.u8(spi_size) || !r.u16(out.type)) return "truncated notify";
    if (spi_size != 0 && spi_size != 4 && spi_size != 8) return "bad notify SPI size";
    if (!r.bytes(spi_size, out.spi)) return "notify SPI exceeds payload";
    // §3.10: without an SPI the protocol field is to be ignored, so normalise it.
    out.protocol = spi_size == 0 ? ProtocolId::none : static_cast<ProtocolId>(protocol);
    r.bytes(r.remaining(), out.data);
    return std::nullopt;
}

void encode_body(const NotifyPayload& p, Writer& w) {
    w.u8(static_cast<std::uint8_t>(p.spi.empty() ? ProtocolId::none : p.protocol));
    w.u8(checked_u8(p.spi.size()));
    w.u16(p.type);
    w.bytes(p.spi);
    w.bytes(p.data);
}

// | Protocol ID   |   SPI Size    |          Num of SPIs          |
// ~               Security Parameter Index(es) (SPI)              ~
Problem decode_delete(ByteView body, DeletePayload& out) {
    Reader r(body);
    std::uint8_t protocol = 0, spi_size = 0;
    std::uint16_t count = 0;
    if (!r.u8(protocol) || !r.u8(spi_size) || !r.u16(count)) return "truncated delete";
    out.protocol = static_cast<ProtocolId>(protocol);
    const bool ike = out.protocol == ProtocolId::ike;
    if (!ike && out.protocol != ProtocolId::ah && out.protocol != ProtocolId::esp)
        return "bad delete protocol";
    if (spi_size != (ike ? 0 : 4)) return "delete SPI size does not fit the protocol";
    // An IKE SA is named by the header's SPIs; a count with zero-sized SPIs
    // carries nothing, so it is accepted and not materialised.
    if (ike) return r.remaining() == 0 ? Problem{} : Problem{"data after IKE delete"};
    if (std::size_t{count} * spi_size != r.remaining())
        return "delete SPI count does not match size";
    if (count > kMaxDeleteSpis) return "too many SPIs in delete";
    out.spis.resize(count);
    for (auto& spi : out.spis) r.bytes(spi_size, spi);
    return std::nullopt;
}

void encode_body(const DeletePayload& p, Writer& w) {
    const bool ike = p.protocol == ProtocolId::ike;
    w.u8(static_cast<std::uint8_t>(p.protocol));
    w.u8(ike ? 0 : 4);
    w.u16(ike ? 0 : checked_u16(p.spis.size()));
    if (ike) return;
    for (const auto& spi : p.spis) w.bytes(spi);
}

Problem decode_vendor_id(ByteView body, VendorIdPayload& out) {
    out.data = to_bytes(body);
    return std::nullopt;
}

void encode_body(const VendorIdPayload& p, Writer& w) { w.bytes(p.data); }

// RFC 3748 §4: |     Code      |  Identifier   |            Length             |
Problem decode_eap(ByteView body, EapPayload& out) {
    if (body.size() < kEapHeaderSize) return "EAP message shorter than its header";
    if (load_be16(body.data() + 2) != body.size()) return "EAP length differs from payload";
    out.message = to_bytes(body);
    return std::nullopt;
}

void encode_body(const EapPayload& p, Writer& w) { w.bytes(p.message); }

void encode_body(const UnknownPayload& p, Writer& w) { w.bytes(p.body); }

}  // namespace mobiked::wire::detail
