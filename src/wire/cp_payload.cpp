// Configuration payload (RFC 7296 §3.15).
//
// |   CFG Type    |                    RESERVED                   |
// ~                   Configuration Attributes                    ~
//
// Each attribute:
// |R|         Attribute Type      |            Length             |
// ~                             Value                             ~
#include "wire/codec.hpp"

namespace mobiked::wire::detail {
namespace {

// The top bit of the attribute type is reserved: ignored on receipt, zero on send.
constexpr std::uint16_t kAttrTypeMask = 0x7fff;

}  // namespace

Problem decode_cp(ByteView body, CpPayload& out) {
    Reader r(body);
    if (!r.u8(out.cfg_type) || !r.skip(3)) return "truncated CP";
    while (r.remaining() > 0) {
        if (out.attributes.size() == kMaxCpAttributes) return "too many configuration attributes";
        CpAttribute attr;
        std::uint16_t length = 0;
        if (!r.u16(attr.type) || !r.u16(length)) return "truncated configuration attribute";
        attr.type &= kAttrTypeMask;
        if (!r.bytes(length, attr.value)) return "configuration attribute exceeds payload";
        out.attributes.push_back(std::move(attr));
    }
    return std::nullopt;
}

void encode_body(const CpPayload& p, Writer& w) {
    w.u8(p.cfg_type);
    w.zeros(3);
    for (const auto& attr : p.attributes) {
        w.u16(attr.type & kAttrTypeMask);
        w.u16(checked_u16(attr.value.size()));
        w.bytes(attr.value);
    }
}

}  // namespace mobiked::wire::detail
