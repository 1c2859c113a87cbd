// SA payload structure rules (RFC 7296 §3.3): substructure flags, lengths,
// numbering, SPI sizes, counts and attributes.
#include "wire_test_util.hpp"

namespace mobiked::wire::test {
namespace {

constexpr std::uint8_t kMore = 3, kMoreP = 2, kLast = 0;

Bytes transform(std::uint8_t last, std::uint8_t type, std::uint16_t id, const Bytes& attrs = {}) {
    Bytes t{last, 0, 0, 0, type, 0, 0, 0};
    store_be16(t.data() + 2, static_cast<std::uint16_t>(8 + attrs.size()));
    store_be16(t.data() + 6, id);
    append(t, attrs);
    return t;
}

Bytes proposal(std::uint8_t last, std::uint8_t number, std::uint8_t protocol, const Bytes& spi,
               std::uint8_t count, const Bytes& transforms) {
    Bytes p{last, 0, 0, 0, number, protocol, static_cast<std::uint8_t>(spi.size()), count};
    append(p, spi);
    append(p, transforms);
    store_be16(p.data() + 2, static_cast<std::uint16_t>(p.size()));
    return p;
}

// ENCR AES_GCM_16/128 + ESN for ESP, or + PRF for IKE: two valid transforms.
Bytes two_transforms() {
    return cat(
        {transform(kMore, 1, encr::aes_gcm_16, hex("800e0080")), transform(kLast, 5, esn::no)});
}

Bytes esp_proposal(std::uint8_t last, std::uint8_t number) {
    return proposal(last, number, 3, hex("01020304"), 2, two_transforms());
}

void expect_sa_rejected(const Bytes& body) {
    expect_syntax_error(decode_single(PayloadType::sa, body), PayloadType::sa);
}

TEST(WireSa, ValidHandBuiltProposalsDecode) {
    auto payloads = ok_value(
        decode_single(PayloadType::sa, cat({esp_proposal(kMoreP, 1), esp_proposal(kLast, 2)})));
    ASSERT_EQ(payloads.size(), 1u);
    const auto& sa = std::get<SaPayload>(payloads[0].body);
    ASSERT_EQ(sa.proposals.size(), 2u);
    EXPECT_EQ(sa.proposals[1].number, 2);
    EXPECT_EQ(sa.proposals[0].spi, hex("01020304"));
    EXPECT_EQ(sa.proposals[0].transforms[0],
              (Transform{TransformType::encr, encr::aes_gcm_16, 128}));
    EXPECT_EQ(sa.proposals[0].transforms[1],
              (Transform{TransformType::esn, esn::no, std::nullopt}));
}

TEST(WireSa, EncoderSetsSubstructureFields) {
    Proposal p{1,
               ProtocolId::esp,
               hex("01020304"),
               {{TransformType::encr, encr::aes_gcm_16, 128},
                {TransformType::esn, esn::no, std::nullopt}}};
    Bytes bytes = encode_payload_chain({make(PayloadType::sa, SaPayload{{p}})});
    EXPECT_EQ(to_hex(bytes), to_hex(raw_payload(PayloadType::none, esp_proposal(kLast, 1))));
}

TEST(WireSa, ResponseMayEchoAnyProposalNumber) {
    EXPECT_TRUE(std::holds_alternative<std::vector<Payload>>(
        decode_single(PayloadType::sa, esp_proposal(kLast, 7))));
}

TEST(WireSa, RejectsEmptySa) { expect_sa_rejected({}); }

TEST(WireSa, RejectsLastFlagInconsistentWithPosition) {
    expect_sa_rejected(esp_proposal(kMoreP, 1));  // "more" but nothing follows
    expect_sa_rejected(
        cat({esp_proposal(kLast, 1), esp_proposal(kLast, 2)}));  // "last" but another follows
    expect_sa_rejected(esp_proposal(1, 1));                      // neither 0 nor 2
    expect_sa_rejected(esp_proposal(kMore, 1));                  // transform's "more" value
}

TEST(WireSa, RejectsBadProposalLength) {
    for (std::uint16_t length : {0, 7, 100}) {
        Bytes p = esp_proposal(kLast, 1);
        store_be16(p.data() + 2, length);
        expect_sa_rejected(p);
    }
    Bytes shorter = esp_proposal(kLast, 1);
    store_be16(shorter.data() + 2, static_cast<std::uint16_t>(shorter.size() - 1));
    expect_sa_rejected(shorter);
}

TEST(WireSa, RejectsBadProposalNumbers) {
    expect_sa_rejected(esp_proposal(kLast, 0));
    expect_sa_rejected(cat({esp_proposal(kMoreP, 1), esp_proposal(kLast, 3)}));
    expect_sa_rejected(cat({esp_proposal(kMoreP, 2), esp_proposal(kLast, 2)}));
}

TEST(WireSa, RejectsSpiSizeNotMatchingProtocol) {
    expect_sa_rejected(proposal(kLast, 1, 1, hex("01020304"), 2, two_transforms()));  // IKE, 4
    expect_sa_rejected(proposal(kLast, 1, 3, {}, 2, two_transforms()));               // ESP, 0
    expect_sa_rejected(proposal(kLast, 1, 2, filled(1, 8), 2, two_transforms()));     // AH, 8
    expect_sa_rejected(proposal(kLast, 1, 0, {}, 2, two_transforms()));               // protocol 0
    expect_sa_rejected(proposal(kLast, 1, 4, hex("01020304"), 2, two_transforms()));  // protocol 4
    EXPECT_TRUE(std::holds_alternative<std::vector<Payload>>(
        decode_single(PayloadType::sa, proposal(kLast, 1, 1, filled(9, 8), 2, two_transforms()))));
}

TEST(WireSa, RejectsTransformCountMismatch) {
    expect_sa_rejected(proposal(kLast, 1, 3, hex("01020304"), 3, two_transforms()));
    expect_sa_rejected(proposal(kLast, 1, 3, hex("01020304"), 1, two_transforms()));
    expect_sa_rejected(proposal(kLast, 1, 3, hex("01020304"), 0, {}));
    // Each transform's own flags consistent, but one more than announced.
    expect_sa_rejected(proposal(kLast, 1, 3, hex("01020304"), 1,
                                cat({transform(kLast, 1, 20), transform(kLast, 5, 0)})));
}

TEST(WireSa, RejectsBadTransforms) {
    auto with = [](const Bytes& transforms) {
        return proposal(kLast, 1, 3, hex("01020304"), 2, transforms);
    };
    Bytes t = transform(kMore, 1, encr::aes_gcm_16);
    expect_sa_rejected(
        with(cat({transform(kLast, 1, 20), transform(kLast, 5, 0)})));  // first says last
    expect_sa_rejected(with(cat({t, transform(kMore, 5, 0)})));         // last says more
    expect_sa_rejected(with(cat({t, transform(kLast, 0, 0)})));         // type 0
    Bytes short_len = cat({t, transform(kLast, 5, 0)});
    store_be16(short_len.data() + 2, 7);
    expect_sa_rejected(with(short_len));
    Bytes long_len = cat({t, transform(kLast, 5, 0)});
    store_be16(long_len.data() + 10, 9);
    expect_sa_rejected(with(long_len));
}

TEST(WireSa, OnlyTvKeyLengthAttributeIsAccepted) {
    auto with_attrs = [](const Bytes& attrs) {
        return proposal(kLast, 1, 3, hex("01020304"), 1, transform(kLast, 1, encr::aes_cbc, attrs));
    };
    EXPECT_TRUE(std::holds_alternative<std::vector<Payload>>(
        decode_single(PayloadType::sa, with_attrs(hex("800e0100")))));
    expect_sa_rejected(with_attrs(hex("000e00020100")));      // Key Length as TLV
    expect_sa_rejected(with_attrs(hex("800f0100")));          // unknown TV attribute
    expect_sa_rejected(with_attrs(hex("800e0100800e0080")));  // duplicate
    expect_sa_rejected(with_attrs(hex("800e01")));            // truncated
}

TEST(WireSa, ProposalCountIsCapped) {
    auto many = [](std::size_t n) {
        Bytes body;
        for (std::size_t i = 1; i <= n; ++i)
            append(body, esp_proposal(i < n ? kMoreP : kLast, static_cast<std::uint8_t>(i)));
        return body;
    };
    EXPECT_TRUE(
        std::holds_alternative<std::vector<Payload>>(decode_single(PayloadType::sa, many(64))));
    expect_sa_rejected(many(65));
}

}  // namespace
}  // namespace mobiked::wire::test
