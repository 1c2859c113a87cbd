// Structure rules of the fixed-layout payloads (RFC 7296 §3.4–§3.16).
#include "wire_test_util.hpp"

namespace mobiked::wire::test {
namespace {

bool accepted(PayloadType type, const Bytes& body) {
    return std::holds_alternative<std::vector<Payload>>(decode_single(type, body));
}

template <typename T>
T only(PayloadType type, const Bytes& body) {
    auto payloads = ok_value(decode_single(type, body));
    if (payloads.size() != 1 || !std::holds_alternative<T>(payloads[0].body)) {
        ADD_FAILURE() << "expected one payload of the right kind";
        return T{};
    }
    return std::get<T>(payloads[0].body);
}

TEST(WirePayloads, KeNeedsGroupReservedAndData) {
    EXPECT_EQ(only<KePayload>(PayloadType::ke, hex("0013ffff0102")),
              (KePayload{ke::ecp256, hex("0102")}));
    expect_syntax_error(decode_single(PayloadType::ke, hex("0013ffff")), PayloadType::ke);
    expect_syntax_error(decode_single(PayloadType::ke, hex("0013ff")), PayloadType::ke);
}

TEST(WirePayloads, IdChecksAddressLengths) {
    EXPECT_EQ(only<IdPayload>(PayloadType::id_i, hex("01000000c0000201")).data, hex("c0000201"));
    expect_syntax_error(decode_single(PayloadType::id_i, hex("01000000c000020101")),
                        PayloadType::id_i);
    expect_syntax_error(decode_single(PayloadType::id_r, hex("05000000c0000201")),
                        PayloadType::id_r);
    expect_syntax_error(decode_single(PayloadType::id_r, hex("02000000")), PayloadType::id_r);
    expect_syntax_error(decode_single(PayloadType::id_r, hex("0200")), PayloadType::id_r);
    EXPECT_TRUE(accepted(PayloadType::id_r, cat({hex("05000000"), filled(1, 16)})));
}

TEST(WirePayloads, CertAndCertReq) {
    EXPECT_EQ(only<CertPayload>(PayloadType::cert, hex("04aabb")), (CertPayload{4, hex("aabb")}));
    EXPECT_EQ(only<CertPayload>(PayloadType::certreq, hex("04")), (CertPayload{4, {}}));
    expect_syntax_error(decode_single(PayloadType::cert, {}), PayloadType::cert);
}

TEST(WirePayloads, AuthNeedsData) {
    EXPECT_EQ(only<AuthPayload>(PayloadType::auth, hex("02000000ab")), (AuthPayload{2, hex("ab")}));
    expect_syntax_error(decode_single(PayloadType::auth, hex("02000000")), PayloadType::auth);
}

TEST(WirePayloads, NonceLengthBounds) {
    EXPECT_TRUE(accepted(PayloadType::nonce, filled(1, 16)));
    EXPECT_TRUE(accepted(PayloadType::nonce, filled(1, 256)));
    expect_syntax_error(decode_single(PayloadType::nonce, filled(1, 15)), PayloadType::nonce);
    expect_syntax_error(decode_single(PayloadType::nonce, filled(1, 257)), PayloadType::nonce);
    expect_syntax_error(decode_single(PayloadType::nonce, {}), PayloadType::nonce);
}

TEST(WirePayloads, NotifySpiSizes) {
    auto n = only<NotifyPayload>(PayloadType::notify, hex("03044009 01020304 ee"));
    EXPECT_EQ(n, (NotifyPayload{ProtocolId::esp, hex("01020304"), notify::rekey_sa, hex("ee")}));
    EXPECT_TRUE(accepted(PayloadType::notify, hex("01084009 0102030405060708")));
    expect_syntax_error(decode_single(PayloadType::notify, hex("03034009 010203")),
                        PayloadType::notify);
    expect_syntax_error(decode_single(PayloadType::notify, hex("03044009 010203")),
                        PayloadType::notify);
    expect_syntax_error(decode_single(PayloadType::notify, hex("000040")), PayloadType::notify);
    // Without an SPI the protocol byte carries no meaning and is normalised.
    EXPECT_EQ(only<NotifyPayload>(PayloadType::notify, hex("0300400c")).protocol, ProtocolId::none);
}

TEST(WirePayloads, DeleteSizes) {
    auto d = only<DeletePayload>(PayloadType::del, hex("03040002 aabbccdd 01020304"));
    EXPECT_EQ(d, (DeletePayload{ProtocolId::esp, {hex("aabbccdd"), hex("01020304")}}));
    EXPECT_EQ(only<DeletePayload>(PayloadType::del, hex("01000000")),
              (DeletePayload{ProtocolId::ike, {}}));
    expect_syntax_error(decode_single(PayloadType::del, hex("03040003 aabbccdd 01020304")),
                        PayloadType::del);
    expect_syntax_error(decode_single(PayloadType::del, hex("03040001 aabbccdd 01")),
                        PayloadType::del);
    expect_syntax_error(decode_single(PayloadType::del, hex("03080001 aabbccdd01020304")),
                        PayloadType::del);
    expect_syntax_error(decode_single(PayloadType::del, hex("01040001 aabbccdd")),
                        PayloadType::del);
    expect_syntax_error(decode_single(PayloadType::del, hex("01000000 aa")), PayloadType::del);
    expect_syntax_error(decode_single(PayloadType::del, hex("02000000")), PayloadType::del);
    expect_syntax_error(decode_single(PayloadType::del, hex("00000000")), PayloadType::del);
    expect_syntax_error(decode_single(PayloadType::del, hex("030400")), PayloadType::del);
}

TEST(WirePayloads, DeleteSpiCountIsCapped) {
    auto esp_delete = [](std::uint16_t n) {
        Bytes body = hex("03040000");
        store_be16(body.data() + 2, n);
        append(body, filled(0xab, std::size_t{n} * 4));
        return body;
    };
    EXPECT_EQ(only<DeletePayload>(PayloadType::del, esp_delete(4096)).spis.size(), 4096u);
    expect_syntax_error(decode_single(PayloadType::del, esp_delete(4097)), PayloadType::del);
}

const char* kV4Selector = "07 00 0010 0000 ffff 0a000000 0affffff";

TEST(WirePayloads, TsSelectors) {
    auto ts = only<TsPayload>(PayloadType::ts_i, cat({hex("01000000"), hex(kV4Selector)}));
    ASSERT_EQ(ts.selectors.size(), 1u);
    EXPECT_EQ(ts.selectors[0].end_address, hex("0affffff"));
    Bytes v6 = cat({hex("08 06 0028 0050 0050"), filled(0, 16), filled(0xff, 16)});
    EXPECT_EQ(only<TsPayload>(PayloadType::ts_r, cat({hex("02000000"), hex(kV4Selector), v6}))
                  .selectors.size(),
              2u);
    // start port above end port is "OPAQUE", not malformed.
    EXPECT_TRUE(
        accepted(PayloadType::ts_i, hex("01000000 07 00 0010 ffff 0000 0a000000 0affffff")));
}

TEST(WirePayloads, TsRejections) {
    auto rejected = [](const Bytes& body) {
        expect_syntax_error(decode_single(PayloadType::ts_i, body), PayloadType::ts_i);
    };
    Bytes v6_as_v4 = cat({hex("07 00 0028 0000 ffff"), filled(0, 16), filled(0xff, 16)});
    rejected(cat({hex("01000000"), v6_as_v4}));                                // type 7, 40 bytes
    rejected(hex("01000000 08 00 0010 0000 ffff 0a000000 0affffff"));          // type 8, 16 bytes
    rejected(hex("01000000 07 00 0014 0000 ffff 0a000000 0affffff00000000"));  // length field 20
    rejected(hex("01000000 09 00 0010 0000 ffff 0a000000 0affffff"));          // unknown type
    rejected(cat({hex("02000000"), hex(kV4Selector)}));                    // fewer than announced
    rejected(cat({hex("01000000"), hex(kV4Selector), hex(kV4Selector)}));  // more than announced
    rejected(hex("00000000"));                                             // none at all
    rejected(hex("01000000 07 00 0010 0000 ffff 0a000000 0affff"));        // truncated address
}

TEST(WirePayloads, CpAttributes) {
    auto cp = only<CpPayload>(PayloadType::cp, hex("02000000 0001 0004 0a000001 8003 0000"));
    ASSERT_EQ(cp.attributes.size(), 2u);
    EXPECT_EQ(cp.attributes[0], (CpAttribute{cfg_attr::internal_ip4_address, hex("0a000001")}));
    EXPECT_EQ(cp.attributes[1].type, cfg_attr::internal_ip4_dns);  // reserved bit dropped
    expect_syntax_error(decode_single(PayloadType::cp, hex("02000000 0001 0005 0a000001")),
                        PayloadType::cp);
    expect_syntax_error(decode_single(PayloadType::cp, hex("02000000 0001 00")), PayloadType::cp);
    expect_syntax_error(decode_single(PayloadType::cp, hex("0200")), PayloadType::cp);
}

TEST(WirePayloads, EapLengthMustMatch) {
    EXPECT_TRUE(accepted(PayloadType::eap, hex("03010004")));
    EXPECT_TRUE(accepted(PayloadType::eap, hex("0201000601ab")));
    expect_syntax_error(decode_single(PayloadType::eap, hex("0201000701ab")), PayloadType::eap);
    expect_syntax_error(decode_single(PayloadType::eap, hex("0201000501ab")), PayloadType::eap);
    expect_syntax_error(decode_single(PayloadType::eap, hex("030100")), PayloadType::eap);
}

TEST(WirePayloads, VendorIdIsOpaque) {
    EXPECT_EQ(only<VendorIdPayload>(PayloadType::vendor_id, hex("882fe56d6fd20dbc")).data,
              hex("882fe56d6fd20dbc"));
}

TEST(WireLookup, FindsPayloadsAndNotifies) {
    auto payloads = sample_ike_sa_init_payloads();
    payloads.push_back(
        make(PayloadType::notify, notify_of(notify::nat_detection_source_ip, filled(0x99, 20))));
    ASSERT_NE(find_payload(payloads, PayloadType::ke), nullptr);
    EXPECT_EQ(std::get<KePayload>(find_payload(payloads, PayloadType::ke)->body).group,
              ke::curve25519);
    EXPECT_EQ(find_payload(payloads, PayloadType::auth), nullptr);
    ASSERT_NE(find_notify(payloads, notify::nat_detection_source_ip), nullptr);
    EXPECT_EQ(find_notify(payloads, notify::nat_detection_source_ip)->data, filled(0x33, 20));
    EXPECT_EQ(find_notify(payloads, notify::cookie), nullptr);
    auto all = find_notifies(payloads, notify::nat_detection_source_ip);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1]->data, filled(0x99, 20));
}

}  // namespace
}  // namespace mobiked::wire::test
