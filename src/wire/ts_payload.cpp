// Traffic Selector payload (RFC 7296 §3.13).
//
// | Number of TSs |                 RESERVED                      |
// ~                       <Traffic Selectors>                     ~
//
// Each selector:
// |   TS Type     |IP Protocol ID*|       Selector Length         |
// |           Start Port*         |           End Port*           |
// ~                         Starting Address*                     ~
// ~                         Ending Address*                       ~
#include "wire/codec.hpp"

namespace mobiked::wire::detail {
namespace {

constexpr std::size_t kSelectorFixedSize = 8;

std::optional<std::size_t> address_size(std::uint8_t type) {
    if (type == ts_type::ipv4_addr_range) return 4;
    if (type == ts_type::ipv6_addr_range) return 16;
    return std::nullopt;
}

// Start port > end port is legal ("OPAQUE" ports, §3.13.1), so ports are
// not compared here; that is the policy's business.
Problem decode_selector(Reader& r, TrafficSelector& ts) {
    std::uint16_t length = 0;
    if (!r.u8(ts.type) || !r.u8(ts.ip_protocol) || !r.u16(length))
        return "truncated traffic selector";
    auto addr = address_size(ts.type);
    if (!addr) return "unknown traffic selector type " + std::to_string(ts.type);
    if (length != kSelectorFixedSize + 2 * *addr) return "selector length does not fit its type";
    if (!r.u16(ts.start_port) || !r.u16(ts.end_port) || !r.bytes(*addr, ts.start_address) ||
        !r.bytes(*addr, ts.end_address)) {
        return "traffic selector exceeds payload";
    }
    return std::nullopt;
}

}  // namespace

Problem decode_ts(ByteView body, TsPayload& out) {
    Reader r(body);
    std::uint8_t count = 0;
    if (!r.u8(count) || !r.skip(3)) return "truncated TS";
    if (count == 0) return "TS without selectors";
    out.selectors.resize(count);
    for (auto& ts : out.selectors) {
        if (auto p = decode_selector(r, ts)) return p;
    }
    if (r.remaining() != 0) return "data after the announced selectors";
    return std::nullopt;
}

void encode_body(const TsPayload& p, Writer& w) {
    w.u8(checked_u8(p.selectors.size()));
    w.zeros(3);
    for (const auto& ts : p.selectors) {
        w.u8(ts.type);
        w.u8(ts.ip_protocol);
        w.u16(checked_u16(kSelectorFixedSize + ts.start_address.size() + ts.end_address.size()));
        w.u16(ts.start_port);
        w.u16(ts.end_port);
        w.bytes(ts.start_address);
        w.bytes(ts.end_address);
    }
}

}  // namespace mobiked::wire::detail
