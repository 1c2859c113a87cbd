// Payload chains and whole messages: walks the Next Payload links, checks
// each generic header, and hands each body to its own decoder.
#include <stdexcept>
#include <utility>

#include "wire/codec.hpp"

namespace mobiked::wire {
namespace {

using namespace detail;

DecodeError syntax_error(PayloadType where, std::string reason) {
    return DecodeError{DecodeError::Kind::invalid_syntax, static_cast<std::uint8_t>(where),
                       std::move(reason)};
}

template <typename T>
Problem decode_into(Problem (*decode)(ByteView, T&), ByteView body, PayloadBody& out) {
    T value;
    if (auto problem = decode(body, value)) return problem;
    out = std::move(value);
    return std::nullopt;
}

// nullopt: `type` is not one this codec understands.
std::optional<Problem> decode_known(PayloadType type, ByteView body, PayloadBody& out) {
    switch (type) {
        case PayloadType::sa:
            return decode_into(decode_sa, body, out);
        case PayloadType::ke:
            return decode_into(decode_ke, body, out);
        case PayloadType::id_i:
        case PayloadType::id_r:
            return decode_into(decode_id, body, out);
        case PayloadType::cert:
        case PayloadType::certreq:
            return decode_into(decode_cert, body, out);
        case PayloadType::auth:
            return decode_into(decode_auth, body, out);
        case PayloadType::nonce:
            return decode_into(decode_nonce, body, out);
        case PayloadType::notify:
            return decode_into(decode_notify, body, out);
        case PayloadType::del:
            return decode_into(decode_delete, body, out);
        case PayloadType::vendor_id:
            return decode_into(decode_vendor_id, body, out);
        case PayloadType::ts_i:
        case PayloadType::ts_r:
            return decode_into(decode_ts, body, out);
        case PayloadType::cp:
            return decode_into(decode_cp, body, out);
        case PayloadType::eap:
            return decode_into(decode_eap, body, out);
        default:
            return std::nullopt;
    }
}

Problem decode_encrypted(PayloadType type, PayloadType inner_first, ByteView body,
                         PayloadBody& out) {
    if (type == PayloadType::sk) {
        EncryptedPayload sk;
        if (auto problem = decode_sk(inner_first, body, sk)) return problem;
        out = std::move(sk);
    } else {
        EncryptedFragmentPayload skf;
        if (auto problem = decode_skf(inner_first, body, skf)) return problem;
        out = std::move(skf);
    }
    return std::nullopt;
}

// §2.5: an unknown payload is skipped unless its sender marked it critical.
std::optional<DecodeError> decode_plain(Payload& p, ByteView body) {
    auto known = decode_known(p.type, body, p.body);
    if (known) {
        if (*known) return syntax_error(p.type, std::move(**known));
        return std::nullopt;
    }
    const auto raw = static_cast<std::uint8_t>(p.type);
    if (p.critical) {
        return DecodeError{DecodeError::Kind::unsupported_critical_payload, raw,
                           "unknown critical payload " + std::to_string(raw)};
    }
    p.body = UnknownPayload{raw, to_bytes(body)};
    return std::nullopt;
}

bool is_encrypted(PayloadType t) { return t == PayloadType::sk || t == PayloadType::skf; }

struct GenericHeader {
    PayloadType next = PayloadType::none;
    bool critical = false;
    ByteView body;
};

// Reserved flag bits are ignored; the length must cover the header and fit.
std::optional<GenericHeader> read_generic_header(Reader& r) {
    std::uint8_t next = 0, flag_bits = 0;
    std::uint16_t length = 0;
    if (!r.u8(next) || !r.u8(flag_bits) || !r.u16(length)) return std::nullopt;
    if (length < kGenericHeaderSize || length - kGenericHeaderSize > r.remaining())
        return std::nullopt;
    GenericHeader g{static_cast<PayloadType>(next), (flag_bits & kCriticalBit) != 0, {}};
    r.bytes(length - kGenericHeaderSize, g.body);
    return g;
}

Decoded<std::vector<Payload>> decode_chain(PayloadType first, ByteView data, bool outer) {
    std::vector<Payload> out;
    Reader r(data);
    for (PayloadType type = first; type != PayloadType::none;) {
        if (out.size() == kMaxPayloads) return syntax_error(type, "too many payloads");
        auto g = read_generic_header(r);
        if (!g) return syntax_error(type, "bad generic payload header or length");
        Payload& p = out.emplace_back(Payload{type, g->critical, UnknownPayload{}});
        if (is_encrypted(type)) {
            // Its Next Payload names the first inner payload, so nothing may follow it.
            if (!outer) return syntax_error(type, "encrypted payload inside encrypted payload");
            if (r.remaining() != 0) return syntax_error(type, "encrypted payload is not the last");
            if (auto problem = decode_encrypted(type, g->next, g->body, p.body)) {
                return syntax_error(type, std::move(*problem));
            }
            return out;
        }
        if (auto error = decode_plain(p, g->body)) return std::move(*error);
        type = g->next;
    }
    if (r.remaining() != 0) {
        return syntax_error(out.empty() ? PayloadType::none : out.back().type,
                            "data after the last payload");
    }
    return out;
}

void encode_chain(const std::vector<Payload>& payloads, Writer& w) {
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        const Payload& p = payloads[i];
        PayloadType next = i + 1 < payloads.size() ? payloads[i + 1].type : PayloadType::none;
        if (auto inner = inner_first_of(p.body)) next = *inner;
        const std::size_t start = w.size();
        encode_generic_header(next, p.critical, kGenericHeaderSize, w);
        std::visit([&w](const auto& body) { encode_body(body, w); }, p.body);
        w.patch_u16(start + 2, checked_u16(w.size() - start));
    }
}

}  // namespace

Decoded<std::vector<Payload>> decode_payload_chain(PayloadType first, ByteView data) {
    return decode_chain(first, data, false);
}

Decoded<Message> decode_message(ByteView datagram) {
    auto header = decode_header(datagram);
    if (auto* error = std::get_if<DecodeError>(&header)) return std::move(*error);
    Message m{std::get<Header>(header), {}};
    auto chain = decode_chain(m.header.next_payload, datagram.subspan(kHeaderSize), true);
    if (auto* error = std::get_if<DecodeError>(&chain)) return std::move(*error);
    m.payloads = std::move(std::get<std::vector<Payload>>(chain));
    return m;
}

Bytes encode_payload_chain(const std::vector<Payload>& payloads) {
    Bytes out;
    Writer w(out);
    encode_chain(payloads, w);
    return out;
}

Bytes encode_message(const Header& header, const std::vector<Payload>& payloads) {
    Bytes out;
    Writer w(out);
    const PayloadType first = payloads.empty() ? PayloadType::none : payloads.front().type;
    encode_header(header, first, kHeaderSize, w);
    encode_chain(payloads, w);
    if (out.size() > kMaxMessageSize)
        throw std::length_error("IKE message longer than 65535 bytes");
    w.patch_u32(kHeaderSize - 4, static_cast<std::uint32_t>(out.size()));
    return out;
}

}  // namespace mobiked::wire
