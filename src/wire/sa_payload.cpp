// SA payload (RFC 7296 §3.3): proposals, each holding transforms, each
// holding attributes. Every count and length is checked against what is
// actually present before anything is interpreted.
//
// Proposal substructure:
// | Last Substruc |   RESERVED    |         Proposal Length       |
// | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
// ~                        SPI (variable)                         ~
// ~                        <Transforms>                           ~
//
// Transform substructure:
// | Last Substruc |   RESERVED    |        Transform Length       |
// |Transform Type |   RESERVED    |          Transform ID         |
// ~                      Transform Attributes                     ~
//
// Attribute: |A|  Attribute Type (15)  |  Value (TV) or Length (TLV) |
#include "wire/codec.hpp"

namespace mobiked::wire::detail {
namespace {

constexpr std::uint8_t kLastProposal = 0, kMoreProposals = 2;
constexpr std::uint8_t kLastTransform = 0, kMoreTransforms = 3;
constexpr std::size_t kProposalHeaderSize = 8, kTransformHeaderSize = 8;
constexpr std::uint16_t kAttrFormatTv = 0x8000;

// The Last Substruc value must say whether another substructure follows.
Problem check_last_flag(std::uint8_t flag, std::uint8_t more_value, bool more_follow) {
    if (flag != 0 && flag != more_value)
        return "bad last-substructure value " + std::to_string(flag);
    if ((flag == more_value) != more_follow)
        return "last-substructure value inconsistent with position";
    return std::nullopt;
}

// IKEv2 defines one attribute, Key Length, always in TV format; anything
// else cannot be understood and so cannot be negotiated safely.
Problem decode_attributes(ByteView data, Transform& t) {
    Reader r(data);
    while (r.remaining() > 0) {
        std::uint16_t type = 0, value = 0;
        if (!r.u16(type) || !r.u16(value)) return "truncated transform attribute";
        if ((type & kAttrFormatTv) == 0) return "TLV transform attribute";
        if ((type & ~kAttrFormatTv) != kAttrKeyLength) return "unknown transform attribute";
        if (t.key_length) return "duplicate key length attribute";
        t.key_length = value;
    }
    return std::nullopt;
}

Problem decode_transform(Reader& r, bool last_expected, Transform& t) {
    std::uint8_t last = 0, reserved = 0, type = 0;
    std::uint16_t length = 0;
    if (!r.u8(last) || !r.u8(reserved) || !r.u16(length)) return "truncated transform";
    if (auto p = check_last_flag(last, kMoreTransforms, !last_expected)) return p;
    if (length < kTransformHeaderSize || length - 4u > r.remaining()) return "bad transform length";
    r.u8(type);
    r.u8(reserved);
    r.u16(t.id);
    if (type == 0) return "transform type 0";
    t.type = static_cast<TransformType>(type);
    ByteView attrs;
    r.bytes(length - kTransformHeaderSize, attrs);
    return decode_attributes(attrs, t);
}

Problem check_spi_size(ProtocolId protocol, std::size_t spi_size) {
    switch (protocol) {
        case ProtocolId::ike:
            if (spi_size == 0 || spi_size == 8) return std::nullopt;
            break;
        case ProtocolId::ah:
        case ProtocolId::esp:
            if (spi_size == 4) return std::nullopt;
            break;
        default:
            return "bad proposal protocol " + std::to_string(static_cast<int>(protocol));
    }
    return "SPI size " + std::to_string(spi_size) + " does not fit the protocol";
}

// `body` is the proposal after its Last Substruc/RESERVED/Length fields.
Problem decode_proposal_body(ByteView body, Proposal& p) {
    Reader r(body);
    std::uint8_t protocol = 0, spi_size = 0, count = 0;
    if (!r.u8(p.number) || !r.u8(protocol) || !r.u8(spi_size) || !r.u8(count))
        return "truncated proposal";
    p.protocol = static_cast<ProtocolId>(protocol);
    if (auto problem = check_spi_size(p.protocol, spi_size)) return problem;
    if (!r.bytes(spi_size, p.spi)) return "proposal SPI exceeds proposal";
    if (count == 0) return "proposal without transforms";
    p.transforms.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
        if (r.remaining() == 0) return "fewer transforms than announced";
        if (auto problem = decode_transform(r, i + 1 == count, p.transforms[i])) return problem;
    }
    if (r.remaining() != 0) return "more transforms than announced";
    return std::nullopt;
}

// Proposal numbers start anywhere (a response echoes the chosen one) but
// then go up by one (§3.3.1).
Problem check_proposal_number(const std::vector<Proposal>& before, std::uint8_t number) {
    if (number == 0) return "proposal number 0";
    if (!before.empty() && number != before.back().number + 1)
        return "proposal numbers not consecutive";
    return std::nullopt;
}

}  // namespace

Problem decode_sa(ByteView body, SaPayload& out) {
    Reader r(body);
    if (r.remaining() == 0) return "SA without proposals";
    while (r.remaining() > 0) {
        if (out.proposals.size() == kMaxProposals) return "too many proposals";
        std::uint8_t last = 0, reserved = 0;
        std::uint16_t length = 0;
        if (!r.u8(last) || !r.u8(reserved) || !r.u16(length)) return "truncated proposal header";
        if (length < kProposalHeaderSize || length - 4u > r.remaining())
            return "bad proposal length";
        if (auto p = check_last_flag(last, kMoreProposals, r.remaining() > length - 4u)) return p;
        ByteView proposal_body;
        r.bytes(length - 4u, proposal_body);
        Proposal proposal;
        if (auto p = decode_proposal_body(proposal_body, proposal)) return p;
        if (auto p = check_proposal_number(out.proposals, proposal.number)) return p;
        out.proposals.push_back(std::move(proposal));
    }
    return std::nullopt;
}

namespace {

void encode_transform(const Transform& t, bool last, Writer& w) {
    w.u8(last ? kLastTransform : kMoreTransforms);
    w.u8(0);
    w.u16(static_cast<std::uint16_t>(kTransformHeaderSize + (t.key_length ? 4 : 0)));
    w.u8(static_cast<std::uint8_t>(t.type));
    w.u8(0);
    w.u16(t.id);
    if (t.key_length) {
        w.u16(kAttrFormatTv | kAttrKeyLength);
        w.u16(*t.key_length);
    }
}

void encode_proposal(const Proposal& p, bool last, Writer& w) {
    const std::size_t start = w.size();
    w.u8(last ? kLastProposal : kMoreProposals);
    w.u8(0);
    w.u16(0);  // length, patched below
    w.u8(p.number);
    w.u8(static_cast<std::uint8_t>(p.protocol));
    w.u8(checked_u8(p.spi.size()));
    w.u8(checked_u8(p.transforms.size()));
    w.bytes(p.spi);
    for (std::size_t i = 0; i < p.transforms.size(); ++i) {
        encode_transform(p.transforms[i], i + 1 == p.transforms.size(), w);
    }
    w.patch_u16(start + 2, checked_u16(w.size() - start));
}

}  // namespace

void encode_body(const SaPayload& p, Writer& w) {
    for (std::size_t i = 0; i < p.proposals.size(); ++i) {
        encode_proposal(p.proposals[i], i + 1 == p.proposals.size(), w);
    }
}

}  // namespace mobiked::wire::detail
