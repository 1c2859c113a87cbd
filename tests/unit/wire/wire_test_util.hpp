// Shared builders for the wire codec tests: sample payloads and messages,
// and raw byte builders for crafting malformed input.
#pragma once

#include <gtest/gtest.h>

#include <string_view>
#include <variant>

#include "wire/message.hpp"

namespace mobiked::wire::test {

// Spaces are allowed between bytes so field boundaries stay visible.
inline Bytes hex(std::string_view spaced) {
    std::string h;
    for (char c : spaced) {
        if (c != ' ') h.push_back(c);
    }
    bool ok = false;
    Bytes b = from_hex(h, &ok);
    EXPECT_TRUE(ok) << "bad hex in test: " << h;
    return b;
}

inline Bytes filled(std::uint8_t value, std::size_t n) { return Bytes(n, value); }

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) append(out, p);
    return out;
}

// Generic payload header + body, length computed.
inline Bytes raw_payload(PayloadType next, const Bytes& body, std::uint8_t flag_bits = 0) {
    Bytes out{static_cast<std::uint8_t>(next), flag_bits, 0, 0};
    store_be16(out.data() + 2, static_cast<std::uint16_t>(body.size() + 4));
    append(out, body);
    return out;
}

// A 28-byte IKE_SA_INIT request header announcing `first` and a correct length.
inline Bytes raw_message(PayloadType first, const Bytes& chain) {
    Bytes out = hex("0102030405060708 0000000000000000");
    out.push_back(static_cast<std::uint8_t>(first));
    append(out, hex("2022 08 00000000 00000000"));
    append(out, chain);
    store_be32(out.data() + 24, static_cast<std::uint32_t>(out.size()));
    return out;
}

template <typename T>
const T& ok_value(const Decoded<T>& d) {
    if (auto* e = std::get_if<DecodeError>(&d)) {
        ADD_FAILURE() << "unexpected decode error: " << e->reason;
        static const T empty{};
        return empty;
    }
    return std::get<T>(d);
}

template <typename T>
DecodeError error_of(const Decoded<T>& d) {
    if (!std::holds_alternative<DecodeError>(d)) {
        ADD_FAILURE() << "decode unexpectedly succeeded";
        return DecodeError{DecodeError::Kind::invalid_syntax, 0xff, "<no error>"};
    }
    return std::get<DecodeError>(d);
}

// Decodes a one-payload chain of `type` with the given body.
inline Decoded<std::vector<Payload>> decode_single(PayloadType type, const Bytes& body,
                                                   std::uint8_t flag_bits = 0) {
    return decode_payload_chain(type, raw_payload(PayloadType::none, body, flag_bits));
}

inline void expect_syntax_error(const Decoded<std::vector<Payload>>& d, PayloadType where) {
    auto e = error_of(d);
    EXPECT_EQ(e.kind, DecodeError::Kind::invalid_syntax) << e.reason;
    EXPECT_EQ(e.payload_type, static_cast<std::uint8_t>(where)) << e.reason;
    EXPECT_FALSE(e.reason.empty());
}

inline Header sample_header(ExchangeType exchange, std::uint32_t message_id,
                            std::uint8_t flag_bits) {
    Header h;
    h.spi_i = 0x0102030405060708ULL;
    h.spi_r = exchange == ExchangeType::ike_sa_init && !(flag_bits & flags::response)
                  ? 0
                  : 0x1112131415161718ULL;
    h.exchange = exchange;
    h.flags = flag_bits;
    h.message_id = message_id;
    return h;
}

inline Payload make(PayloadType type, PayloadBody body, bool critical = false) {
    return Payload{type, critical, std::move(body)};
}

inline SaPayload sample_ike_sa() {
    Proposal p1{1,
                ProtocolId::ike,
                {},
                {{TransformType::encr, encr::aes_gcm_16, 256},
                 {TransformType::prf, prf::hmac_sha2_256, std::nullopt},
                 {TransformType::ke, ke::curve25519, std::nullopt}}};
    Proposal p2{2,
                ProtocolId::ike,
                {},
                {{TransformType::encr, encr::aes_cbc, 128},
                 {TransformType::integ, integ::hmac_sha2_256_128, std::nullopt},
                 {TransformType::prf, prf::hmac_sha2_256, std::nullopt},
                 {TransformType::ke, ke::modp2048, std::nullopt}}};
    return SaPayload{{p1, p2}};
}

inline SaPayload sample_esp_sa() {
    Proposal p{1,
               ProtocolId::esp,
               hex("c0ffee01"),
               {{TransformType::encr, encr::aes_gcm_16, 128},
                {TransformType::esn, esn::no, std::nullopt}}};
    return SaPayload{{p}};
}

inline NotifyPayload notify_of(std::uint16_t type, Bytes data = {}) {
    return NotifyPayload{ProtocolId::none, {}, type, std::move(data)};
}

inline std::vector<Payload> sample_ike_sa_init_payloads() {
    return {
        make(PayloadType::sa, sample_ike_sa()),
        make(PayloadType::ke, KePayload{ke::curve25519, filled(0x11, 32)}),
        make(PayloadType::nonce, NoncePayload{filled(0x22, 32)}),
        make(PayloadType::notify, notify_of(notify::nat_detection_source_ip, filled(0x33, 20))),
        make(PayloadType::notify,
             notify_of(notify::nat_detection_destination_ip, filled(0x44, 20))),
        make(PayloadType::notify, notify_of(notify::ikev2_fragmentation_supported)),
    };
}

inline TsPayload sample_ts() {
    TrafficSelector v4{ts_type::ipv4_addr_range, 0, 0, 65535, hex("0a000000"), hex("0affffff")};
    TrafficSelector v6{ts_type::ipv6_addr_range, 17, 500, 4500, filled(0x00, 16), filled(0xff, 16)};
    return TsPayload{{v4, v6}};
}

// The plaintext inside an IKE_AUTH request's SK payload.
inline std::vector<Payload> sample_ike_auth_inner() {
    return {
        make(PayloadType::id_i, IdPayload{IdType::fqdn, to_bytes("moon.example.org")}),
        make(PayloadType::cert, CertPayload{cert_encoding::x509_signature, filled(0x30, 40)}),
        make(PayloadType::certreq, CertPayload{cert_encoding::x509_signature, filled(0x55, 20)}),
        make(PayloadType::id_r, IdPayload{IdType::ipv4_addr, hex("c0000201")}),
        make(PayloadType::auth, AuthPayload{auth_method::digital_signature, filled(0x66, 64)}),
        make(PayloadType::cp,
             CpPayload{cfg_type::request,
                       {{cfg_attr::internal_ip4_address, {}}, {cfg_attr::internal_ip4_dns, {}}}}),
        make(PayloadType::sa, sample_esp_sa()),
        make(PayloadType::ts_i, sample_ts()),
        make(PayloadType::ts_r, sample_ts()),
        make(PayloadType::notify, notify_of(notify::mobike_supported)),
        make(PayloadType::notify,
             NotifyPayload{ProtocolId::esp, hex("01020304"), notify::rekey_sa, {}}),
        make(PayloadType::vendor_id, VendorIdPayload{to_bytes("mobiked")}),
        make(PayloadType::eap, EapPayload{hex("0201000501")}),
        make(PayloadType::del, DeletePayload{ProtocolId::esp, {hex("aabbccdd"), hex("01020304")}}),
    };
}

}  // namespace mobiked::wire::test
