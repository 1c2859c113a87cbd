// MOBIKEv2 Version parameter (draft-mglt-ipsecme-mobikev2 §7.4.1, with the
// padding erratum of shared/specs §4): lengths, trailing octets, malformed
// parameters ignored with version 1 assumed.
#include "wire/mobike_version.hpp"

#include "wire_test_util.hpp"

namespace mobiked::wire::test {
namespace {

using mobike::decode_version_parameter;
using mobike::encode_version_parameter;
using Status = mobike::VersionParameter::Status;

TEST(MobikeVersion, PaddingFollowsTheProseNotTheFormula) {
    EXPECT_EQ(mobike::version_padding(1), 0u);
    EXPECT_EQ(mobike::version_padding(2), 3u);
    EXPECT_EQ(mobike::version_padding(3), 2u);
    EXPECT_EQ(mobike::version_padding(4), 1u);
    EXPECT_EQ(mobike::version_padding(5), 0u);
    for (std::size_t n = 1; n <= 255; ++n) EXPECT_EQ(mobike::version_parameter_length(n) % 4, 0u) << n;
}

TEST(MobikeVersion, EncodesNbr1To4As4888Octets) {
    EXPECT_EQ(encode_version_parameter(std::vector<std::uint8_t>{1}), hex("0001 01 01"));
    EXPECT_EQ(encode_version_parameter(std::vector<std::uint8_t>{1, 2}), hex("0001 02 0102 000000"));
    EXPECT_EQ(encode_version_parameter(std::vector<std::uint8_t>{1, 2, 3}), hex("0001 03 010203 0000"));
    EXPECT_EQ(encode_version_parameter(std::vector<std::uint8_t>{1, 2, 3, 255}), hex("0001 04 010203ff 00"));
    EXPECT_THROW(encode_version_parameter(std::vector<std::uint8_t>{}), std::length_error);
    EXPECT_THROW(encode_version_parameter(std::vector<std::uint8_t>(256, 2)), std::length_error);
}

TEST(MobikeVersion, RoundTripsEveryNbr) {
    for (std::size_t n = 1; n <= 255; ++n) {
        std::vector<std::uint8_t> v(n);
        for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i + 1);
        const Bytes b = encode_version_parameter(v);
        const auto d = decode_version_parameter(b);
        ASSERT_EQ(d.status, Status::ok) << n << ": " << d.problem;
        EXPECT_EQ(d.versions, v);
    }
}

TEST(MobikeVersion, EmptyDataMeansVersion1Only) {
    const auto d = decode_version_parameter({});
    EXPECT_EQ(d.status, Status::empty);
    EXPECT_FALSE(d.present());
    EXPECT_EQ(d.versions, (std::vector<std::uint8_t>{1}));
}

TEST(MobikeVersion, AcceptsZeroToThreeTrailingZeroOctets) {
    for (std::size_t pad = 0; pad <= 3; ++pad) {
        Bytes b = hex("0001 01 02");
        b.resize(b.size() + pad, 0);
        const auto d = decode_version_parameter(b);
        EXPECT_EQ(d.status, Status::ok) << pad;
        EXPECT_EQ(d.versions, (std::vector<std::uint8_t>{2})) << pad;
    }
    // The draft's literal formula: NBR=1 -> L=2 -> 6 octets.
    EXPECT_EQ(decode_version_parameter(hex("0001 01 02 0000")).versions, (std::vector<std::uint8_t>{2}));
    // NBR=2 with no padding at all (3+2 = 5 octets) is still accepted.
    EXPECT_EQ(decode_version_parameter(hex("0001 02 0102")).versions, (std::vector<std::uint8_t>{1, 2}));
}

void expect_malformed(const Bytes& b, const std::string& why) {
    const auto d = decode_version_parameter(b);
    EXPECT_EQ(d.status, Status::malformed) << to_hex(b);
    EXPECT_FALSE(d.present());
    EXPECT_EQ(d.versions, (std::vector<std::uint8_t>{1})) << "version 1 is assumed";
    EXPECT_NE(d.problem.find(why), std::string::npos) << d.problem;
}

TEST(MobikeVersion, MalformedParametersAreIgnoredWithVersion1Assumed) {
    expect_malformed(hex("0001 05 0102"), "NBR 5");            // NBR larger than the data
    expect_malformed(hex("0001 ff"), "NBR 255");
    expect_malformed(hex("0002 01 02"), "unknown parameter TYPE 2");
    expect_malformed(hex("0000 01 02"), "TYPE 0");
    expect_malformed(hex("0001 00 000000"), "NBR is 0");
    expect_malformed(hex("0001 00"), "NBR is 0");
    expect_malformed(hex("00"), "shorter");
    expect_malformed(hex("0001"), "shorter");
    expect_malformed(hex("0001 01 02 00000000"), "4 octets after");  // more than 3 trailing
    expect_malformed(hex("0001 01 02 0001"), "non-zero padding");
}

TEST(MobikeVersion, VersionsText) {
    EXPECT_EQ(mobike::versions_text(std::vector<std::uint8_t>{1, 2, 255}), "1,2,none");
    EXPECT_EQ(mobike::versions_text(std::vector<std::uint8_t>{}), "-");
}

}  // namespace
}  // namespace mobiked::wire::test
