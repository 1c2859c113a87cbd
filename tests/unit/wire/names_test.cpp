#include "wire_test_util.hpp"

namespace mobiked::wire::test {
namespace {

TEST(WireNames, Exchanges) {
    EXPECT_EQ(exchange_name(ExchangeType::ike_sa_init), "IKE_SA_INIT");
    EXPECT_EQ(exchange_name(ExchangeType::informational), "INFORMATIONAL");
    EXPECT_EQ(exchange_name(static_cast<ExchangeType>(43)), "EXCHANGE(43)");
}

TEST(WireNames, Payloads) {
    EXPECT_EQ(payload_name(PayloadType::nonce), "No");
    EXPECT_EQ(payload_name(PayloadType::ts_r), "TSr");
    EXPECT_EQ(payload_name(PayloadType::skf), "SKF");
    EXPECT_EQ(payload_name(static_cast<PayloadType>(49)), "PAYLOAD(49)");
}

TEST(WireNames, Notifies) {
    EXPECT_EQ(notify_name(notify::nat_detection_source_ip), "NAT_DETECTION_SOURCE_IP");
    EXPECT_EQ(notify_name(notify::mobike_supported), "MOBIKE_SUPPORTED");
    EXPECT_EQ(notify_name(notify::update_sa_addresses), "UPDATE_SA_ADDRESSES");
    EXPECT_EQ(notify_name(notify::invalid_ke_payload), "INVALID_KE_PAYLOAD");
    EXPECT_EQ(notify_name(12345), "NOTIFY(12345)");
}

TEST(WireNames, Transforms) {
    EXPECT_EQ(transform_name(TransformType::encr, encr::aes_gcm_16), "AES_GCM_16");
    EXPECT_EQ(transform_name(TransformType::prf, prf::hmac_sha2_256), "PRF_HMAC_SHA2_256");
    EXPECT_EQ(transform_name(TransformType::integ, integ::hmac_sha2_256_128), "HMAC_SHA2_256_128");
    EXPECT_EQ(transform_name(TransformType::ke, ke::curve25519), "CURVE_25519");
    EXPECT_EQ(transform_name(TransformType::ke, ke::modp2048), "MODP_2048");
    EXPECT_EQ(transform_name(TransformType::esn, esn::no), "NO_ESN");
    EXPECT_EQ(transform_name(TransformType::esn, esn::yes), "ESN");
    EXPECT_EQ(transform_name(TransformType::encr, 999), "ENCR(999)");
    EXPECT_EQ(transform_name(static_cast<TransformType>(9), 1), "TRANSFORM_TYPE_9(1)");
}

TEST(WireDescribe, SummaryLine) {
    Header h = sample_header(ExchangeType::ike_auth, 1, flags::initiator);
    EXPECT_EQ(describe(h, sample_ike_auth_inner()),
              "IKE_AUTH request 1 [ IDi CERT CERTREQ IDr AUTH CP SA TSi TSr N(MOBIKE_SUP) "
              "N(REKEY_SA) V EAP D ]");
    h.flags = flags::response;
    EXPECT_EQ(describe(h, {make(PayloadType::skf,
                                EncryptedFragmentPayload{PayloadType::none, 2, 5, hex("00")}),
                           make(static_cast<PayloadType>(50), UnknownPayload{50, {}}),
                           make(PayloadType::notify, notify_of(40000))}),
              "IKE_AUTH response 1 [ SKF(2/5) PAYLOAD(50) N(NOTIFY(40000)) ]");
    EXPECT_EQ(describe(Message{h, {}}), "IKE_AUTH response 1 [ ]");
}

}  // namespace
}  // namespace mobiked::wire::test
