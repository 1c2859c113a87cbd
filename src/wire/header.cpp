// IKE header (RFC 7296 §3.1) and generic payload header (§3.2).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Initiator's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Responder's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                          Message ID                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                            Length                             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
#include <stdexcept>
#include <utility>

#include "wire/codec.hpp"

namespace mobiked::wire {
namespace {

// Only I, V and R are defined; the rest must be ignored on receipt (§3.1).
constexpr std::uint8_t kKnownFlags = flags::initiator | flags::version | flags::response;

DecodeError header_error(std::string reason) {
    return DecodeError{DecodeError::Kind::invalid_syntax, 0, std::move(reason)};
}

}  // namespace

Decoded<Header> decode_header(ByteView datagram) {
    if (datagram.size() < kHeaderSize) return header_error("datagram shorter than IKE header");
    Reader r(datagram);
    Header h;
    std::uint8_t next = 0, version = 0, exchange = 0;
    r.u64(h.spi_i);
    r.u64(h.spi_r);
    r.u8(next);
    r.u8(version);
    r.u8(exchange);
    r.u8(h.flags);
    r.u32(h.message_id);
    r.u32(h.length);
    h.next_payload = static_cast<PayloadType>(next);
    h.major_version = version >> 4;
    h.minor_version = version & 0x0f;
    h.exchange = static_cast<ExchangeType>(exchange);
    h.flags &= kKnownFlags;
    // The version is judged before the rest: a future major version may lay
    // out its message differently, and the peer deserves INVALID_MAJOR_VERSION.
    if (h.major_version != 2) {
        return DecodeError{DecodeError::Kind::invalid_major_version, 0,
                           "major version " + std::to_string(h.major_version)};
    }
    if (h.length < kHeaderSize || h.length > kMaxMessageSize)
        return header_error("header length out of range");
    if (h.length != datagram.size())
        return header_error("header length differs from datagram size");
    return h;
}

namespace detail {

std::uint16_t checked_u16(std::size_t n) {
    if (n > 0xffff) throw std::length_error("IKE structure longer than 65535 bytes");
    return static_cast<std::uint16_t>(n);
}

std::uint8_t checked_u8(std::size_t n) {
    if (n > 0xff) throw std::length_error("IKE count or size field above 255");
    return static_cast<std::uint8_t>(n);
}

void encode_header(const Header& h, PayloadType next, std::size_t total_length, Writer& w) {
    if (total_length > kMaxMessageSize)
        throw std::length_error("IKE message longer than 65535 bytes");
    w.u64(h.spi_i);
    w.u64(h.spi_r);
    w.u8(static_cast<std::uint8_t>(next));
    w.u8(static_cast<std::uint8_t>(h.major_version << 4 | (h.minor_version & 0x0f)));
    w.u8(static_cast<std::uint8_t>(h.exchange));
    w.u8(h.flags & kKnownFlags);
    w.u32(h.message_id);
    w.u32(static_cast<std::uint32_t>(total_length));
}

//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// | Next Payload  |C|  RESERVED   |         Payload Length        |
void encode_generic_header(PayloadType next, bool critical, std::size_t payload_length, Writer& w) {
    w.u8(static_cast<std::uint8_t>(next));
    w.u8(critical ? kCriticalBit : 0);
    w.u16(checked_u16(payload_length));
}

}  // namespace detail
}  // namespace mobiked::wire
