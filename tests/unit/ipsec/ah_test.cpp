// AH (RFC 4302): round trips for every integrity algorithm, mode and family;
// mutable header fields excluded from the ICV, immutable ones covered; the
// ICV cross-checked against crypto's HMAC over the zeroed header.
#include <gtest/gtest.h>

#include <tuple>

#include "crypto/cipher.hpp"
#include "ipsec/ah.hpp"
#include "ipsec/ip.hpp"
#include "test_util.hpp"

namespace mobiked::ipsec {
namespace {

using test::Algo;
using test::Buf;
using test::make_packet;
using test::make_params;
using test::make_sa;

constexpr Time kNow{0};

struct AhPair {
    std::unique_ptr<Sa> out, in;
    AhPair(const Algo& a, Mode m, bool esn, bool v6) {
        out = make_sa(make_params(a, Protocol::ah, m, Direction::outbound, esn, v6));
        in = make_sa(make_params(a, Protocol::ah, m, Direction::inbound, esn, v6));
    }
};

Bytes host_packet(bool v6, std::size_t len) {
    return v6 ? make_packet("2001:db8::1", "2001:db8::2", ipproto::udp, 7, 9, len)
              : make_packet("192.0.2.1", "192.0.2.2", ipproto::udp, 7, 9, len);
}

using AhParam = std::tuple<int, Mode, bool, bool>;  // algo, mode, v6, esn

class AhRoundTrip : public ::testing::TestWithParam<AhParam> {};

TEST_P(AhRoundTrip, SealThenOpenRestoresThePacket) {
    const auto [ai, mode, v6, esn] = GetParam();
    AhPair p(test::ah_algorithms()[static_cast<std::size_t>(ai)], mode, esn, v6);
    for (std::size_t len : {0, 1, 100, 1400}) {
        const Bytes inner = mode == Mode::tunnel
                                ? make_packet(v6 ? "fd00::1" : "10.1.0.1", v6 ? "fd00::2" : "10.2.0.2",
                                              ipproto::tcp, 5, 6, len)
                                : host_packet(v6, len);
        Buf b(inner);
        const PacketResult s = ah::seal(*p.out, b.pkt, kNow);
        ASSERT_TRUE(s.ok()) << status_name(s.status);
        auto h = parse_ip_header(b.pkt.view());
        ASSERT_TRUE(h);
        EXPECT_EQ(h->protocol, ipproto::ah);
        EXPECT_EQ(h->total_len, b.pkt.size());
        const std::uint8_t* ah = b.pkt.data() + h->header_len;
        EXPECT_EQ((ah[1] + 2u) * 4, 12 + p.out->icv_size());
        EXPECT_EQ(load_be32(ah + 4), 0x11223344u);
        const PacketResult o = ah::open(*p.in, b.pkt, kNow);
        ASSERT_TRUE(o.ok()) << status_name(o.status);
        EXPECT_EQ(b.bytes(), inner);
    }
    EXPECT_EQ(p.in->counters().packets, 4u);
}

std::vector<AhParam> ah_params() {
    std::vector<AhParam> v;
    for (int a = 0; a < 3; ++a)
        for (Mode m : {Mode::tunnel, Mode::transport})
            for (bool v6 : {false, true})
                for (bool esn : {false, true}) v.emplace_back(a, m, v6, esn);
    return v;
}

std::string ah_name(const ::testing::TestParamInfo<AhParam>& param_info) {
    const auto& [ai, mode, v6, esn] = param_info.param;
    return test::ah_algorithms()[static_cast<std::size_t>(ai)].name +
           (mode == Mode::tunnel ? "_Tunnel" : "_Transport") + (v6 ? "_V6" : "_V4") +
           (esn ? "_Esn" : "_Seq32");
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, AhRoundTrip, ::testing::ValuesIn(ah_params()), ah_name);

TEST(AhMutableFields, Ipv4RouterChangesDoNotBreakTheIcv) {
    AhPair p(test::ah_algorithms()[0], Mode::transport, false, false);
    Buf b(host_packet(false, 50));
    ASSERT_TRUE(ah::seal(*p.out, b.pkt, kNow).ok());
    std::uint8_t* h = b.pkt.data();
    h[1] = 0x2e;  // DSCP/ECN rewritten
    h[6] = 0x40;  // DF set on the way
    h[8] = 12;    // TTL decremented
    set_ipv4_checksum(h);
    const PacketResult o = ah::open(*p.in, b.pkt, kNow);
    ASSERT_TRUE(o.ok()) << status_name(o.status);
    EXPECT_EQ(b.pkt.data()[8], 12);  // delivered as received
}

TEST(AhMutableFields, Ipv6TrafficClassFlowLabelHopLimitAreMutable) {
    AhPair p(test::ah_algorithms()[1], Mode::tunnel, false, true);
    Buf b(make_packet("fd00::1", "fd00::2", ipproto::udp, 1, 2, 10));
    ASSERT_TRUE(ah::seal(*p.out, b.pkt, kNow).ok());
    std::uint8_t* h = b.pkt.data();
    h[0] = 0x6f;
    h[1] = 0xf1;
    h[2] = 0x23;
    h[3] = 0x45;
    h[7] = 3;
    EXPECT_TRUE(ah::open(*p.in, b.pkt, kNow).ok());
}

TEST(AhImmutableFields, AddressesPayloadAndSeqAreCovered) {
    AhPair p(test::ah_algorithms()[2], Mode::transport, true, false);
    const Bytes inner = host_packet(false, 50);
    Buf ref(inner);
    ASSERT_TRUE(ah::seal(*p.out, ref.pkt, kNow).ok());
    const Bytes sealed = ref.bytes();
    for (std::size_t at : {std::size_t{12}, std::size_t{19}, std::size_t{28}, sealed.size() - 1}) {
        Bytes bad = sealed;
        bad[at] ^= 0x04;
        if (at < 20) set_ipv4_checksum(bad.data());
        Buf b(bad);
        EXPECT_EQ(ah::open(*p.in, b.pkt, kNow).status, Status::auth_failed) << at;
    }
    Buf ok(sealed);
    EXPECT_TRUE(ah::open(*p.in, ok.pkt, kNow).ok());
    Buf again(sealed);
    EXPECT_EQ(ah::open(*p.in, again.pkt, kNow).status, Status::replay);
}

// IPv4 with options: NOP + Router Alert (148, immutable) + Record Route (7, mutable).
Bytes packet_with_options() {
    Bytes base = host_packet(false, 20);
    const Bytes opts = {1, 148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0};  // 12 bytes
    Bytes p(base.begin(), base.begin() + 20);
    p.insert(p.end(), opts.begin(), opts.end());
    p.insert(p.end(), base.begin() + 20, base.end());
    p[0] = 0x48;  // IHL 8 = 32 bytes
    store_be16(p.data() + 2, static_cast<std::uint16_t>(p.size()));
    set_ipv4_checksum(p.data());
    return p;
}

TEST(AhOptions, MutableOptionsAreZeroedImmutableOnesCovered) {
    AhPair p(test::ah_algorithms()[0], Mode::transport, false, false);
    const Bytes inner = packet_with_options();
    Buf b(inner);
    ASSERT_TRUE(ah::seal(*p.out, b.pkt, kNow).ok());
    const Bytes sealed = b.bytes();
    Bytes ra_changed = sealed;
    ra_changed[20 + 3] = 0x01;  // Router Alert value
    set_ipv4_checksum(ra_changed.data());
    Buf b2(ra_changed);
    EXPECT_EQ(ah::open(*p.in, b2.pkt, kNow).status, Status::auth_failed);
    Bytes rr_changed = sealed;
    rr_changed[20 + 9] = 0x99;  // inside Record Route data
    set_ipv4_checksum(rr_changed.data());
    Buf b1(rr_changed);
    EXPECT_TRUE(ah::open(*p.in, b1.pkt, kNow).ok());
    Buf b3(inner);
    ASSERT_TRUE(ah::seal(*p.out, b3.pkt, kNow).ok());
    ASSERT_TRUE(ah::open(*p.in, b3.pkt, kNow).ok());
    EXPECT_EQ(b3.bytes(), inner);
}

TEST(AhKnownAnswer, IcvIsHmacOverTheZeroedHeaderAndPayload) {
    const Algo a = test::ah_algorithms()[0];
    AhPair p(a, Mode::transport, false, false);
    Buf b(host_packet(false, 10));
    ASSERT_TRUE(ah::seal(*p.out, b.pkt, kNow).ok());
    const Bytes w = b.bytes();
    ASSERT_EQ(w.size(), 20u + 28 + 18);
    Bytes z = w;
    z[1] = 0;
    z[6] = z[7] = z[8] = 0;
    z[10] = z[11] = 0;
    std::fill(z.begin() + 32, z.begin() + 48, 0);
    auto mac = crypto::make_mac(a.integ_id, test::pattern_key(32, 0x80));
    std::uint8_t icv[16];
    mac->compute(z, icv);
    EXPECT_EQ(to_hex(ByteView(icv, 16)), to_hex(ByteView(w).subspan(32, 16)));
    EXPECT_EQ(w[9], ipproto::ah);
    EXPECT_EQ(w[20], ipproto::udp);  // AH next header
    EXPECT_EQ(load_be32(w.data() + 28), 1u);
}

TEST(AhErrors, EsnNeedsTailroomAndSelectorsAreEnforced) {
    const Algo a = test::ah_algorithms()[0];
    AhPair p(a, Mode::tunnel, true, false);
    Buf tight(make_packet("10.1.0.1", "10.2.0.2", ipproto::udp, 1, 2, 10), 128, 0);
    EXPECT_EQ(ah::seal(*p.out, tight.pkt, kNow).status, Status::no_room);
    auto in_params = make_params(a, Protocol::ah, Mode::tunnel, Direction::inbound, true);
    in_params.remote_ts = {TrafficSelector{*AddressRange::from_prefix(test::ip("10.1.0.0"), 24)}};
    auto in = make_sa(in_params);
    Buf good(make_packet("10.1.0.1", "10.2.0.2", ipproto::udp, 1, 2, 10));
    ASSERT_TRUE(ah::seal(*p.out, good.pkt, kNow).ok());
    EXPECT_TRUE(ah::open(*in, good.pkt, kNow).ok());
    Buf spoof(make_packet("10.7.0.1", "10.2.0.2", ipproto::udp, 1, 2, 10));
    ASSERT_TRUE(ah::seal(*p.out, spoof.pkt, kNow).ok());
    EXPECT_EQ(ah::open(*in, spoof.pkt, kNow).status, Status::selector_mismatch);
    EXPECT_EQ(in->counters().drop(Status::selector_mismatch), 1u);
}

TEST(AhErrors, CreateRejectsEncryptionAndMissingIntegrity) {
    auto params = make_params(test::ah_algorithms()[0], Protocol::ah, Mode::tunnel, Direction::inbound, false);
    params.encr_id = wire::encr::aes_cbc;
    EXPECT_FALSE(Sa::create(params, kNow));
    params = make_params(test::ah_algorithms()[0], Protocol::ah, Mode::tunnel, Direction::inbound, false);
    params.integ_id = 0;
    params.integ_key.clear();
    EXPECT_FALSE(Sa::create(params, kNow));
}

}  // namespace
}  // namespace mobiked::ipsec
