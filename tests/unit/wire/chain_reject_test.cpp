// Payload chain rules: generic header lengths, critical bit, SK/SKF placement,
// payload count cap.
#include "wire_test_util.hpp"

namespace mobiked::wire::test {
namespace {

const Bytes kNonce = filled(0x22, 16);

TEST(WireChain, RejectsPayloadLengthBelowGenericHeader) {
    for (std::uint16_t length : {0, 1, 3}) {
        Bytes chain = raw_payload(PayloadType::none, kNonce);
        store_be16(chain.data() + 2, length);
        expect_syntax_error(decode_payload_chain(PayloadType::nonce, chain), PayloadType::nonce);
    }
}

TEST(WireChain, RejectsPayloadLengthBeyondData) {
    Bytes chain = raw_payload(PayloadType::none, kNonce);
    store_be16(chain.data() + 2, static_cast<std::uint16_t>(chain.size() + 1));
    expect_syntax_error(decode_payload_chain(PayloadType::nonce, chain), PayloadType::nonce);
}

TEST(WireChain, RejectsDataAfterLastPayload) {
    Bytes chain = cat({raw_payload(PayloadType::none, kNonce), hex("00")});
    expect_syntax_error(decode_payload_chain(PayloadType::nonce, chain), PayloadType::nonce);
    Bytes message = raw_message(PayloadType::nonce, chain);
    EXPECT_EQ(error_of(decode_message(message)).payload_type,
              static_cast<std::uint8_t>(PayloadType::nonce));
}

TEST(WireChain, RejectsChainAnnouncingMissingPayload) {
    Bytes chain = raw_payload(PayloadType::notify, kNonce);
    expect_syntax_error(decode_payload_chain(PayloadType::nonce, chain), PayloadType::notify);
}

TEST(WireChain, EmptyChainWithNoFirstPayload) {
    EXPECT_TRUE(ok_value(decode_payload_chain(PayloadType::none, {})).empty());
    expect_syntax_error(decode_payload_chain(PayloadType::none, hex("00")), PayloadType::none);
}

TEST(WireChain, CriticalUnknownPayloadIsUnsupported) {
    Bytes chain = cat({raw_payload(static_cast<PayloadType>(200), kNonce),
                       raw_payload(PayloadType::none, hex("ab"), 0x80)});
    auto e = error_of(decode_payload_chain(PayloadType::nonce, chain));
    EXPECT_EQ(e.kind, DecodeError::Kind::unsupported_critical_payload);
    EXPECT_EQ(e.payload_type, 200);
    auto m = error_of(decode_message(raw_message(PayloadType::nonce, chain)));
    EXPECT_EQ(m.kind, DecodeError::Kind::unsupported_critical_payload);
    EXPECT_EQ(m.payload_type, 200);
}

TEST(WireChain, NonCriticalUnknownPayloadIsKeptAndSkipped) {
    Bytes chain = cat({raw_payload(static_cast<PayloadType>(49), kNonce),
                       raw_payload(PayloadType::vendor_id, hex("abcd"), 0x7f),  // reserved bits set
                       raw_payload(PayloadType::none, hex("01"))});
    auto payloads = ok_value(decode_payload_chain(PayloadType::nonce, chain));
    ASSERT_EQ(payloads.size(), 3u);
    EXPECT_EQ(payloads[1].type, static_cast<PayloadType>(49));
    EXPECT_FALSE(payloads[1].critical);
    EXPECT_EQ(std::get<UnknownPayload>(payloads[1].body), (UnknownPayload{49, hex("abcd")}));
    EXPECT_EQ(std::get<VendorIdPayload>(payloads[2].body).data, hex("01"));
    // Reserved bits are not echoed back.
    Bytes again = encode_payload_chain(payloads);
    EXPECT_EQ(again, cat({raw_payload(static_cast<PayloadType>(49), kNonce),
                          raw_payload(PayloadType::vendor_id, hex("abcd")),
                          raw_payload(PayloadType::none, hex("01"))}));
}

TEST(WireChain, CriticalKnownPayloadIsAccepted) {
    auto payloads = ok_value(decode_single(PayloadType::nonce, kNonce, 0x80));
    ASSERT_EQ(payloads.size(), 1u);
    EXPECT_TRUE(payloads[0].critical);
}

TEST(WireChain, SkMustBeLast) {
    Bytes sk = raw_payload(PayloadType::id_i, filled(5, 32));
    Bytes after = raw_payload(PayloadType::none, hex("01"));
    // SK followed by another payload: the SK length leaves data behind it.
    auto e = error_of(decode_message(raw_message(PayloadType::sk, cat({sk, after}))));
    EXPECT_EQ(e.kind, DecodeError::Kind::invalid_syntax);
    EXPECT_EQ(e.payload_type, static_cast<std::uint8_t>(PayloadType::sk));
    // SK followed by a single junk byte.
    auto j = error_of(decode_message(raw_message(PayloadType::sk, cat({sk, hex("00")}))));
    EXPECT_EQ(j.payload_type, static_cast<std::uint8_t>(PayloadType::sk));
    auto f = error_of(decode_message(raw_message(
        PayloadType::skf, cat({raw_payload(PayloadType::id_i, hex("00010001ff")), after}))));
    EXPECT_EQ(f.payload_type, static_cast<std::uint8_t>(PayloadType::skf));
}

TEST(WireChain, SkInsideDecryptedChainIsRejected) {
    expect_syntax_error(decode_single(PayloadType::sk, filled(5, 32)), PayloadType::sk);
    expect_syntax_error(decode_single(PayloadType::skf, hex("00010001ff")), PayloadType::skf);
}

TEST(WireChain, SkNeedsBody) {
    auto e =
        error_of(decode_message(raw_message(PayloadType::sk, raw_payload(PayloadType::id_i, {}))));
    EXPECT_EQ(e.payload_type, static_cast<std::uint8_t>(PayloadType::sk));
}

TEST(WireChain, SkfFieldRules) {
    auto decode_skf = [](const char* fields) {
        return decode_message(
            raw_message(PayloadType::skf, raw_payload(PayloadType::none, hex(fields))));
    };
    EXPECT_TRUE(std::holds_alternative<Message>(decode_skf("00020002ab")));
    EXPECT_EQ(error_of(decode_skf("00000002ab")).payload_type,
              static_cast<std::uint8_t>(PayloadType::skf));
    EXPECT_EQ(error_of(decode_skf("00030002ab")).payload_type,
              static_cast<std::uint8_t>(PayloadType::skf));
    EXPECT_EQ(error_of(decode_skf("00000000ab")).payload_type,
              static_cast<std::uint8_t>(PayloadType::skf));
    EXPECT_EQ(error_of(decode_skf("00010001")).payload_type,
              static_cast<std::uint8_t>(PayloadType::skf));
    EXPECT_EQ(error_of(decode_skf("000100")).payload_type,
              static_cast<std::uint8_t>(PayloadType::skf));
}

Bytes vendor_ids(std::size_t n) {
    Bytes chain;
    for (std::size_t i = 0; i < n; ++i) {
        append(chain,
               raw_payload(i + 1 < n ? PayloadType::vendor_id : PayloadType::none, hex("00")));
    }
    return chain;
}

TEST(WireChain, PayloadCountIsCapped) {
    EXPECT_EQ(ok_value(decode_payload_chain(PayloadType::vendor_id, vendor_ids(256))).size(), 256u);
    expect_syntax_error(decode_payload_chain(PayloadType::vendor_id, vendor_ids(257)),
                        PayloadType::vendor_id);
}

}  // namespace
}  // namespace mobiked::wire::test
