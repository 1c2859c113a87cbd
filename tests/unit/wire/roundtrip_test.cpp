// Encode -> decode must give back exactly what was encoded, for every
// payload type and for whole messages.
#include <stdexcept>

#include "wire_test_util.hpp"

namespace mobiked::wire::test {
namespace {

std::vector<Payload> every_plain_payload() {
    auto payloads = sample_ike_auth_inner();
    auto init = sample_ike_sa_init_payloads();
    payloads.insert(payloads.end(), init.begin(), init.end());
    payloads.push_back(make(PayloadType::del, DeletePayload{ProtocolId::ike, {}}));
    payloads.push_back(make(PayloadType::del, DeletePayload{ProtocolId::ah, {hex("00000001")}}));
    payloads.push_back(make(PayloadType::notify,
                            NotifyPayload{ProtocolId::ike, filled(7, 8), notify::rekey_sa, {}}));
    payloads.push_back(make(static_cast<PayloadType>(49), UnknownPayload{49, hex("deadbeef")}));
    payloads.push_back(make(PayloadType::sa, sample_esp_sa(), /*critical=*/true));
    return payloads;
}

TEST(WireRoundTrip, EveryPayloadTypeAlone) {
    for (const auto& p : every_plain_payload()) {
        SCOPED_TRACE(std::string(payload_name(p.type)));
        Bytes bytes = encode_payload_chain({p});
        auto decoded = ok_value(decode_payload_chain(p.type, bytes));
        ASSERT_EQ(decoded.size(), 1u);
        EXPECT_EQ(decoded[0], p);
    }
}

TEST(WireRoundTrip, LongChainKeepsOrderAndTypes) {
    auto payloads = every_plain_payload();
    Bytes bytes = encode_payload_chain(payloads);
    EXPECT_EQ(ok_value(decode_payload_chain(payloads.front().type, bytes)), payloads);
}

TEST(WireRoundTrip, IkeSaInitMessage) {
    Header h = sample_header(ExchangeType::ike_sa_init, 0, flags::initiator);
    auto payloads = sample_ike_sa_init_payloads();
    Bytes bytes = encode_message(h, payloads);
    auto m = ok_value(decode_message(bytes));
    EXPECT_EQ(m.header.spi_i, h.spi_i);
    EXPECT_EQ(m.header.next_payload, PayloadType::sa);
    EXPECT_EQ(m.header.length, bytes.size());
    EXPECT_EQ(m.header.flags, flags::initiator);
    EXPECT_EQ(m.payloads, payloads);
}

TEST(WireRoundTrip, ProtectedMessageWithSk) {
    Header h = sample_header(ExchangeType::ike_auth, 1, flags::initiator);
    std::vector<Payload> payloads{
        make(PayloadType::sk, EncryptedPayload{PayloadType::id_i, filled(0xee, 80)})};
    Bytes bytes = encode_message(h, payloads);
    auto m = ok_value(decode_message(bytes));
    ASSERT_EQ(m.payloads.size(), 1u);
    EXPECT_EQ(m.payloads, payloads);
    // The SK generic header carries the inner first type, not 0.
    EXPECT_EQ(bytes[kHeaderSize], static_cast<std::uint8_t>(PayloadType::id_i));
}

TEST(WireRoundTrip, ProtectedMessageWithSkf) {
    Header h = sample_header(ExchangeType::ike_auth, 1, flags::response);
    for (auto skf : {EncryptedFragmentPayload{PayloadType::id_r, 1, 3, filled(1, 50)},
                     EncryptedFragmentPayload{PayloadType::none, 3, 3, filled(2, 17)}}) {
        std::vector<Payload> payloads{make(PayloadType::skf, skf)};
        Bytes bytes = encode_message(h, payloads);
        EXPECT_EQ(bytes.size(), kHeaderSize + 8 + skf.body.size());
        EXPECT_EQ(ok_value(decode_message(bytes)).payloads, payloads);
    }
}

TEST(WireRoundTrip, PlainPayloadsMayPrecedeSk) {
    Header h = sample_header(ExchangeType::informational, 7, 0);
    std::vector<Payload> payloads{
        make(PayloadType::vendor_id, VendorIdPayload{hex("01")}),
        make(PayloadType::sk, EncryptedPayload{PayloadType::none, filled(9, 32)})};
    auto m = ok_value(decode_message(encode_message(h, payloads)));
    EXPECT_EQ(m.payloads, payloads);
}

TEST(WireRoundTrip, MessageWithoutPayloads) {
    Header h = sample_header(ExchangeType::informational, 3, flags::response);
    Bytes bytes = encode_message(h, {});
    ASSERT_EQ(bytes.size(), kHeaderSize);
    auto m = ok_value(decode_message(bytes));
    EXPECT_TRUE(m.payloads.empty());
    EXPECT_EQ(m.header.next_payload, PayloadType::none);
}

TEST(WireRoundTrip, SkPrefixMatchesEncodedMessage) {
    Header h = sample_header(ExchangeType::create_child_sa, 5, flags::initiator | flags::response);
    Bytes body = filled(0x5a, 61);
    Bytes full =
        encode_message(h, {make(PayloadType::sk, EncryptedPayload{PayloadType::sa, body})});
    Bytes prefix = encode_sk_prefix(h, PayloadType::sa, body.size());
    ASSERT_EQ(prefix.size(), kHeaderSize + kGenericHeaderSize);
    EXPECT_EQ(Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(prefix.size())),
              prefix);
    append(prefix, body);
    EXPECT_EQ(prefix, full);
}

TEST(WireRoundTrip, SkfPrefixMatchesEncodedMessage) {
    Header h = sample_header(ExchangeType::ike_auth, 1, flags::initiator);
    Bytes body = filled(0x77, 100);
    Bytes full = encode_message(
        h, {make(PayloadType::skf, EncryptedFragmentPayload{PayloadType::id_i, 1, 4, body})});
    Bytes prefix = encode_skf_prefix(h, PayloadType::id_i, 1, 4, body.size());
    ASSERT_EQ(prefix.size(), kHeaderSize + kGenericHeaderSize + 4);
    append(prefix, body);
    EXPECT_EQ(prefix, full);
}

TEST(WireRoundTrip, HeaderFieldsSurvive) {
    Header h = sample_header(ExchangeType::create_child_sa, 0xfedcba98, flags::response);
    h.minor_version = 3;
    auto m = ok_value(decode_message(encode_message(h, sample_ike_sa_init_payloads())));
    EXPECT_EQ(m.header.exchange, ExchangeType::create_child_sa);
    EXPECT_EQ(m.header.message_id, 0xfedcba98u);
    EXPECT_EQ(m.header.minor_version, 3);
    EXPECT_EQ(m.header.spi_r, h.spi_r);
    EXPECT_TRUE(m.header.is_response());
    EXPECT_FALSE(m.header.from_initiator());
}

}  // namespace
}  // namespace mobiked::wire::test

namespace mobiked::wire::test {
namespace {

TEST(WireEncode, UnrepresentableStructuresThrow) {
    EXPECT_THROW(
        encode_payload_chain({make(PayloadType::vendor_id, VendorIdPayload{filled(0, 65532)})}),
        std::length_error);
    EXPECT_NO_THROW(
        encode_payload_chain({make(PayloadType::vendor_id, VendorIdPayload{filled(0, 65531)})}));
    TsPayload many;
    many.selectors.resize(256, sample_ts().selectors[0]);
    EXPECT_THROW(encode_payload_chain({make(PayloadType::ts_i, many)}), std::length_error);
    Header h = sample_header(ExchangeType::informational, 1, 0);
    std::vector<Payload> big{make(PayloadType::vendor_id, VendorIdPayload{filled(0, 40000)}),
                             make(PayloadType::vendor_id, VendorIdPayload{filled(0, 40000)})};
    EXPECT_THROW(encode_message(h, big), std::length_error);
}

}  // namespace
}  // namespace mobiked::wire::test
