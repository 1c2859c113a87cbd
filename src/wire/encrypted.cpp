// Encrypted (SK, RFC 7296 §3.14) and Encrypted Fragment (SKF, RFC 7383 §2.5)
// payloads, and the prefixes an AEAD cipher authenticates as associated data.
//
// SK:  | Next Payload  |C|  RESERVED   |         Payload Length        |
//      ~            IV || encrypted payloads || padding || ICV         ~
//
// SKF: | Next Payload  |C|  RESERVED   |         Payload Length        |
//      |        Fragment Number        |        Total Fragments        |
//      ~            IV || encrypted content || padding || ICV          ~
#include "wire/codec.hpp"

namespace mobiked::wire {
namespace detail {

// The body is only checked for presence: its inner structure is not
// visible until the IKE SA's keys have decrypted it.
Problem decode_sk(PayloadType inner_first, ByteView body, EncryptedPayload& out) {
    if (body.empty()) return "empty encrypted payload";
    out.inner_first = inner_first;
    out.body = to_bytes(body);
    return std::nullopt;
}

void encode_body(const EncryptedPayload& p, Writer& w) { w.bytes(p.body); }

Problem decode_skf(PayloadType inner_first, ByteView body, EncryptedFragmentPayload& out) {
    Reader r(body);
    if (!r.u16(out.fragment_number) || !r.u16(out.total_fragments))
        return "truncated encrypted fragment";
    if (out.fragment_number == 0 || out.total_fragments == 0)
        return "fragment number or total is 0";
    if (out.fragment_number > out.total_fragments) return "fragment number above total";
    if (r.remaining() == 0) return "empty encrypted fragment";
    out.inner_first = inner_first;
    r.bytes(r.remaining(), out.body);
    return std::nullopt;
}

void encode_body(const EncryptedFragmentPayload& p, Writer& w) {
    w.u16(p.fragment_number);
    w.u16(p.total_fragments);
    w.bytes(p.body);
}

std::optional<PayloadType> inner_first_of(const PayloadBody& body) {
    if (auto* sk = std::get_if<EncryptedPayload>(&body)) return sk->inner_first;
    if (auto* skf = std::get_if<EncryptedFragmentPayload>(&body)) return skf->inner_first;
    return std::nullopt;
}

}  // namespace detail

namespace {
constexpr std::size_t kSkfFixedSize = 4;  // Fragment Number + Total Fragments
}

Bytes encode_sk_prefix(const Header& header, PayloadType inner_first, std::size_t sk_body_length) {
    const std::size_t payload_length = kGenericHeaderSize + sk_body_length;
    Bytes out;
    Writer w(out);
    detail::encode_header(header, PayloadType::sk, kHeaderSize + payload_length, w);
    detail::encode_generic_header(inner_first, false, payload_length, w);
    return out;
}

Bytes encode_skf_prefix(const Header& header, PayloadType inner_first,
                        std::uint16_t fragment_number, std::uint16_t total_fragments,
                        std::size_t skf_body_length) {
    const std::size_t payload_length = kGenericHeaderSize + kSkfFixedSize + skf_body_length;
    Bytes out;
    Writer w(out);
    detail::encode_header(header, PayloadType::skf, kHeaderSize + payload_length, w);
    detail::encode_generic_header(inner_first, false, payload_length, w);
    w.u16(fragment_number);
    w.u16(total_fragments);
    return out;
}

}  // namespace mobiked::wire
