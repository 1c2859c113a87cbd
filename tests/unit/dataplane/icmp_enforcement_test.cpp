// ICMP Fragmentation Needed / Packet Too Big builder (pure bytes), the DF
// policy verdict, the nftables enforcement script, and the data plane
// answering an inner packet too big for its SA's path.
#include <gtest/gtest.h>

#include "crypto/random.hpp"
#include "dataplane/dataplane.hpp"
#include "dataplane/enforcement.hpp"
#include "dataplane/icmp_too_big.hpp"
#include "ipsec/ip.hpp"
#include "test_support.hpp"

namespace mobiked::dataplane {
namespace {

using namespace test;

Bytes v4_packet(const char* src, const char* dst, std::size_t len, bool df, std::uint8_t proto = ipsec::ipproto::udp) {
    Bytes p(len, 0xab);
    ipsec::write_ipv4_header(p.data(), ip(src), ip(dst), proto, len, 0, df, 64, 7);
    return p;
}

Bytes v6_packet(const char* src, const char* dst, std::size_t len, std::uint8_t nh = ipsec::ipproto::udp) {
    Bytes p(len, 0xcd);
    ipsec::write_ipv6_header(p.data(), ip(src), ip(dst), nh, len, 0, 64);
    return p;
}

std::uint16_t be16(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]); }

TEST(IcmpTooBig, Ipv4FragmentationNeeded) {
    Bytes p = v4_packet("10.1.0.1", "10.2.0.1", 1500, true);
    Bytes out(kIcmpTooBigMax);
    const std::size_t n = build_too_big(p, 1438, out);
    ASSERT_EQ(n, 576u);  // 20 + 8 + 548 quoted
    out.resize(n);
    EXPECT_EQ(out[0], 0x45);
    EXPECT_EQ(be16(out, 2), 576);
    EXPECT_EQ(out[9], 1);
    EXPECT_EQ(Bytes(out.begin() + 12, out.begin() + 16), Bytes(p.begin() + 16, p.begin() + 20));  // from dst
    EXPECT_EQ(Bytes(out.begin() + 16, out.begin() + 20), Bytes(p.begin() + 12, p.begin() + 16));  // to src
    EXPECT_EQ(inet_checksum({out.data(), 20}), 0);  // header checksum verifies
    EXPECT_EQ(out[20], 3);
    EXPECT_EQ(out[21], 4);
    EXPECT_EQ(be16(out, 26), 1438);
    EXPECT_EQ(inet_checksum({out.data() + 20, n - 20}), 0);
    EXPECT_EQ(Bytes(out.begin() + 28, out.end()), Bytes(p.begin(), p.begin() + 548));
    // a short packet is quoted whole
    Bytes small = v4_packet("10.1.0.1", "10.2.0.1", 100, true);
    EXPECT_EQ(build_too_big(small, 60, out), 20u + 8 + 100);
}

TEST(IcmpTooBig, Ipv4NoAnswer) {
    Bytes out(kIcmpTooBigMax);
    Bytes err = v4_packet("10.1.0.1", "10.2.0.1", 1500, true, 1);
    err[20] = 3;  // an ICMP error itself
    EXPECT_EQ(build_too_big(err, 1400, out), 0u);
    err[20] = 8;  // an echo request is answered
    EXPECT_GT(build_too_big(err, 1400, out), 0u);
    Bytes frag = v4_packet("10.1.0.1", "10.2.0.1", 1500, false);
    frag[6] = 0x00, frag[7] = 0x10;  // offset 16: not the first fragment
    EXPECT_EQ(build_too_big(frag, 1400, out), 0u);
    EXPECT_EQ(build_too_big(v4_packet("0.0.0.0", "10.2.0.1", 1500, true), 1400, out), 0u);
    EXPECT_EQ(build_too_big(v4_packet("224.0.0.1", "10.2.0.1", 1500, true), 1400, out), 0u);
    EXPECT_EQ(build_too_big(v4_packet("255.255.255.255", "10.2.0.1", 1500, true), 1400, out), 0u);
    Bytes bad = v4_packet("10.1.0.1", "10.2.0.1", 1500, true);
    bad[0] = 0x4f;  // IHL 60 > what a truncated copy holds
    EXPECT_EQ(build_too_big(ByteView{bad.data(), 40}, 1400, out), 0u);
    EXPECT_EQ(build_too_big(ByteView{bad.data(), 10}, 1400, out), 0u);
    EXPECT_EQ(build_too_big({}, 1400, out), 0u);
    Bytes tiny(100);
    EXPECT_EQ(build_too_big(v4_packet("10.1.0.1", "10.2.0.1", 1500, true), 1400, tiny), 0u);  // no room
}

TEST(IcmpTooBig, Ipv6PacketTooBig) {
    Bytes p = v6_packet("fd00:1::1", "fd00:2::1", 1500);
    Bytes out(kIcmpTooBigMax);
    const std::size_t n = build_too_big(p, 1418, out);
    ASSERT_EQ(n, 1280u);
    out.resize(n);
    EXPECT_EQ(out[0] >> 4, 6);
    EXPECT_EQ(be16(out, 4), 1240);
    EXPECT_EQ(out[6], 58);
    EXPECT_EQ(Bytes(out.begin() + 8, out.begin() + 24), Bytes(p.begin() + 24, p.begin() + 40));
    EXPECT_EQ(Bytes(out.begin() + 24, out.begin() + 40), Bytes(p.begin() + 8, p.begin() + 24));
    EXPECT_EQ(out[40], 2);
    EXPECT_EQ(out[41], 0);
    EXPECT_EQ((std::uint32_t{be16(out, 44)} << 16) | be16(out, 46), 1418u);
    // checksum over the pseudo-header and the message verifies to 0
    std::uint32_t sum = 0;
    for (std::size_t i = 8; i < 40; i += 2) sum += be16(out, i);
    sum += 1240 + 58;
    EXPECT_EQ(inet_checksum({out.data() + 40, n - 40}, sum), 0);
    // below the IPv6 minimum MTU: 1280 is reported
    Bytes o2(kIcmpTooBigMax);
    ASSERT_GT(build_too_big(p, 1000, o2), 0u);
    EXPECT_EQ((std::uint32_t{be16(o2, 44)} << 16) | be16(o2, 46), 1280u);
    // ICMPv6 errors are not answered, echo requests are
    Bytes e = v6_packet("fd00:1::1", "fd00:2::1", 1500, 58);
    e[40] = 1;
    EXPECT_EQ(build_too_big(e, 1400, out), 0u);
    e[40] = 128;
    EXPECT_GT(build_too_big(e, 1400, out), 0u);
    EXPECT_EQ(build_too_big(v6_packet("ff02::1", "fd00:2::1", 1500), 1400, out), 0u);
    EXPECT_EQ(build_too_big(v6_packet("::", "fd00:2::1", 1500), 1400, out), 0u);
    // a hop-by-hop header chain running past the end
    Bytes h = v6_packet("fd00:1::1", "fd00:2::1", 48, 0);
    h[41] = 200;
    EXPECT_EQ(build_too_big(h, 40, out), 0u);
}

TEST(IcmpTooBig, DfPolicyVerdict) {
    Bytes df = v4_packet("10.1.0.1", "10.2.0.1", 1500, true);
    Bytes nodf = v4_packet("10.1.0.1", "10.2.0.1", 1500, false);
    EXPECT_EQ(mtu_verdict(df, 1500, DfPolicy::copy), MtuVerdict::fits);
    EXPECT_EQ(mtu_verdict(df, 1438, DfPolicy::copy), MtuVerdict::icmp);
    EXPECT_EQ(mtu_verdict(nodf, 1438, DfPolicy::copy), MtuVerdict::fragment);
    EXPECT_EQ(mtu_verdict(nodf, 1438, DfPolicy::set), MtuVerdict::icmp);
    EXPECT_EQ(mtu_verdict(df, 1438, DfPolicy::clear), MtuVerdict::fragment);
    Bytes v6 = v6_packet("fd00:1::1", "fd00:2::1", 1500);
    EXPECT_EQ(mtu_verdict(v6, 1418, DfPolicy::clear), MtuVerdict::icmp);
    EXPECT_EQ(mtu_verdict(v6_packet("fd00:1::1", "fd00:2::1", 1200), 1000, DfPolicy::copy), MtuVerdict::fragment);
}

TEST(Enforcement, TableNameAndScript) {
    EXPECT_EQ(enforcement_table_name("mk-a.0"), "mobiked_mk_a_0");
    EnforcementConfig c{"mobiked_mka", "mka", 0x4500, 500, 4500};
    EnforcedPolicy protect{EnforcedPolicy::Action::protect, *AddressRange::from_prefix(ip("10.1.0.0"), 16),
                           *AddressRange::from_prefix(ip("10.2.0.0"), 16), 6, 0, 65535, 80, 80, "c/net"};
    EnforcedPolicy discard{EnforcedPolicy::Action::discard, AddressRange::any(IpAddress::Family::v4),
                           AddressRange{ip("10.9.0.1"), ip("10.9.0.1")}, 0, 0, 65535, 0, 65535, "discard \"x\""};
    const std::string s = render_enforcement(c, {protect, discard});
    EXPECT_NE(s.find("delete table inet mobiked_mka\n"), std::string::npos);
    EXPECT_NE(s.find("meta mark 17664 accept"), std::string::npos);
    const std::string out_match =
        "meta nfproto ipv4 ip saddr 10.1.0.0-10.1.255.255 ip daddr 10.2.0.0-10.2.255.255 meta l4proto 6 th dport 80 ";
    const auto accept = s.find(out_match + "oifname \"mka\" accept");
    const auto drop = s.find(out_match + "counter drop comment \"protect-out c/net\"");
    const auto dis = s.find("meta nfproto ipv4 ip daddr 10.9.0.1 counter drop comment \"discard-out discard x\"");
    ASSERT_NE(accept, std::string::npos) << s;
    ASSERT_NE(drop, std::string::npos) << s;
    ASSERT_NE(dis, std::string::npos) << s;
    EXPECT_LT(accept, drop);
    EXPECT_LT(drop, dis);  // SPD order
    EXPECT_NE(s.find("ip saddr 10.2.0.0-10.2.255.255 ip daddr 10.1.0.0-10.1.255.255 meta l4proto 6 th sport 80 "
                     "counter drop comment \"protect-in c/net\""),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("iifname \"mka\" accept"), std::string::npos);
    EXPECT_NE(s.find("udp dport { 500, 4500 } accept"), std::string::npos);
    EXPECT_EQ(render_enforcement_removal(c), "add table inet mobiked_mka\ndelete table inet mobiked_mka\n");
}

TEST(PathMtu, TooBigInnerPacketAnsweredThroughTheTun) {
    auto rng = crypto::make_system_random();
    auto tun = std::make_unique<FakeTun>();
    FakeTun* t = tun.get();
    std::vector<Bytes> sent;
    DataPlaneHooks h;
    h.send_udp = [&](const Endpoint&, const Endpoint&, ByteView d) {
        sent.emplace_back(d.begin(), d.end());
        return true;
    };
    DataPlaneOptions o;
    o.icmp_rate = 2;
    DataPlane dp(o, std::move(h), rng.get(), std::move(tun));
    const ike::InstallChildSa c = tunnel_child_sa(true);
    const Time now{std::chrono::seconds(100)};
    ASSERT_TRUE(dp.install(c, now));
    // 1438 fits AES-GCM in UDP over IPv4 with a 1500-byte path; 1439 with DF does not
    dp.on_tun_packet(v4_packet("10.1.0.1", "10.2.0.1", 1438, true), now);
    EXPECT_EQ(sent.size(), 1u);
    EXPECT_TRUE(t->written.empty());
    dp.on_tun_packet(v4_packet("10.1.0.1", "10.2.0.1", 1439, true), now);
    EXPECT_EQ(sent.size(), 1u);
    ASSERT_EQ(t->written.size(), 1u);
    EXPECT_EQ(t->written[0][20], 3);
    EXPECT_EQ(t->written[0][21], 4);
    EXPECT_EQ(be16(t->written[0], 26), 1438);
    EXPECT_EQ(dp.counters().drops[static_cast<std::size_t>(Drop::path_mtu)], 1u);
    // without DF (df_bit copy): sealed, the outer packet gets fragmented
    dp.on_tun_packet(v4_packet("10.1.0.1", "10.2.0.1", 1439, false), now);
    EXPECT_EQ(sent.size(), 2u);
    // rate limit: 2 a second, the rest dropped silently
    for (int i = 0; i < 5; ++i) dp.on_tun_packet(v4_packet("10.1.0.1", "10.2.0.1", 1500, true), now);
    EXPECT_EQ(t->written.size(), 2u);
    EXPECT_EQ(dp.counters().drops[static_cast<std::size_t>(Drop::path_mtu)], 6u);
    dp.on_tun_packet(v4_packet("10.1.0.1", "10.2.0.1", 1500, true), now + std::chrono::seconds(1));
    EXPECT_EQ(t->written.size(), 3u);
}

}  // namespace
}  // namespace mobiked::dataplane
