// Byte-exact encoding of a small IKE_SA_INIT request, laid out by hand from
// the diagrams of RFC 7296 §3.1–§3.10 (not produced by this encoder).
#include "wire_test_util.hpp"

namespace mobiked::wire::test {
namespace {

// clang-format off
Bytes golden_ike_sa_init() {
    return cat({
        // IKE header: SPIi, SPIr, next=SA(33), version 2.0, IKE_SA_INIT(34), I, MID 0, length 200
        hex("0102030405060708 0000000000000000 21 20 22 08 00000000 000000c8"),
        // SA: next=KE(34), length 40
        hex("22 00 0028"),
        //   proposal: last, length 36, #1, IKE, SPI size 0, 3 transforms
        hex("00 00 0024 01 01 00 03"),
        //     ENCR AES_GCM_16 with TV Key Length 256 (more follow)
        hex("03 00 000c 01 00 0014 800e 0100"),
        //     PRF_HMAC_SHA2_256
        hex("03 00 0008 02 00 0005"),
        //     KE CURVE_25519 (last)
        hex("00 00 0008 04 00 001f"),
        // KE: next=Nonce(40), length 40, group 31, reserved, 32 bytes
        hex("28 00 0028 001f 0000"), filled(0x11, 32),
        // Nonce: next=Notify(41), length 36
        hex("29 00 0024"), filled(0x22, 32),
        // N(NAT_DETECTION_SOURCE_IP): next=Notify, length 28, no protocol/SPI
        hex("29 00 001c 00 00 4004"), filled(0x33, 20),
        // N(NAT_DETECTION_DESTINATION_IP): last
        hex("00 00 001c 00 00 4005"), filled(0x44, 20),
    });
}
// clang-format on

std::vector<Payload> golden_payloads() {
    Proposal p{1,
               ProtocolId::ike,
               {},
               {{TransformType::encr, encr::aes_gcm_16, 256},
                {TransformType::prf, prf::hmac_sha2_256, std::nullopt},
                {TransformType::ke, ke::curve25519, std::nullopt}}};
    return {
        make(PayloadType::sa, SaPayload{{p}}),
        make(PayloadType::ke, KePayload{ke::curve25519, filled(0x11, 32)}),
        make(PayloadType::nonce, NoncePayload{filled(0x22, 32)}),
        make(PayloadType::notify, notify_of(notify::nat_detection_source_ip, filled(0x33, 20))),
        make(PayloadType::notify,
             notify_of(notify::nat_detection_destination_ip, filled(0x44, 20))),
    };
}

TEST(WireGolden, EncodeIkeSaInitRequest) {
    Header h = sample_header(ExchangeType::ike_sa_init, 0, flags::initiator);
    Bytes expected = golden_ike_sa_init();
    ASSERT_EQ(expected.size(), 200u);
    EXPECT_EQ(to_hex(encode_message(h, golden_payloads())), to_hex(expected));
}

TEST(WireGolden, DecodeIkeSaInitRequest) {
    auto m = ok_value(decode_message(golden_ike_sa_init()));
    EXPECT_EQ(m.header.spi_i, 0x0102030405060708ULL);
    EXPECT_EQ(m.header.spi_r, 0u);
    EXPECT_EQ(m.header.exchange, ExchangeType::ike_sa_init);
    EXPECT_TRUE(m.header.from_initiator());
    EXPECT_EQ(m.header.length, 200u);
    EXPECT_EQ(m.payloads, golden_payloads());
    EXPECT_EQ(describe(m), "IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]");
}

TEST(WireGolden, SkPrefixBytes) {
    Header h;
    h.spi_i = 0x0102030405060708ULL;
    h.spi_r = 0x090a0b0c0d0e0f10ULL;
    h.exchange = ExchangeType::informational;
    h.flags = flags::initiator;
    h.message_id = 2;
    // 28 + 4 + 40 = 72 bytes in total; SK length 44; inner first = Delete(42)
    Bytes expected =
        hex("0102030405060708 090a0b0c0d0e0f10 2e 20 25 08 00000002 00000048 2a 00 002c");
    EXPECT_EQ(to_hex(encode_sk_prefix(h, PayloadType::del, 40)), to_hex(expected));
}

TEST(WireGolden, SkfPrefixBytes) {
    Header h;
    h.spi_i = 1;
    h.spi_r = 2;
    h.exchange = ExchangeType::ike_auth;
    h.flags = flags::response;
    h.message_id = 1;
    // 28 + 8 + 100 = 136; SKF length 108; fragment 2 of 3 carries Next Payload 0
    Bytes expected =
        hex("0000000000000001 0000000000000002 35 20 23 20 00000001 00000088 00 00 006c 0002 0003");
    EXPECT_EQ(to_hex(encode_skf_prefix(h, PayloadType::none, 2, 3, 100)), to_hex(expected));
}

}  // namespace
}  // namespace mobiked::wire::test
