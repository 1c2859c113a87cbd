// Packet selector extraction (RFC 4301 §4.4.1.1) from IPv4/IPv6 headers.
#include <gtest/gtest.h>

#include "ipsec/selectors.hpp"
#include "test_util.hpp"

namespace mobiked::ipsec {
namespace {

using test::ip;
using test::make_packet;

TEST(Selectors, Ipv4UdpTcpAndIcmp) {
    auto s = extract_selector(make_packet("10.0.0.1", "10.0.0.2", ipproto::udp, 1234, 53, 4));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->src, ip("10.0.0.1"));
    EXPECT_EQ(s->dst, ip("10.0.0.2"));
    EXPECT_EQ(s->protocol, ipproto::udp);
    EXPECT_EQ(s->src_port, 1234);
    EXPECT_EQ(s->dst_port, 53);
    EXPECT_FALSE(s->ports_opaque);
    s = extract_selector(make_packet("10.0.0.1", "10.0.0.2", ipproto::tcp, 40000, 443, 0));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->dst_port, 443);
    // ICMP echo request: type 8 code 0 -> 0x0800 in both ports.
    s = extract_selector(make_packet("10.0.0.1", "10.0.0.2", ipproto::icmp, 8, 0, 4));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->src_port, 0x0800);
    EXPECT_EQ(s->dst_port, 0x0800);
}

TEST(Selectors, Ipv4NonFirstFragmentHasOpaquePorts) {
    Bytes p = make_packet("10.0.0.1", "10.0.0.2", ipproto::udp, 1, 2, 16);
    store_be16(p.data() + 6, 0x0003);  // fragment offset 24
    set_ipv4_checksum(p.data());
    auto s = extract_selector(p);
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->ports_opaque);
    EXPECT_EQ(s->protocol, ipproto::udp);
    store_be16(p.data() + 6, 0x2000);  // first fragment (MF): ports readable
    s = extract_selector(p);
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->ports_opaque);
}

TEST(Selectors, ProtocolWithoutPortsIsOpaque) {
    Bytes p = make_packet("10.0.0.1", "10.0.0.2", 47 /* GRE */, 1, 2, 16);
    auto s = extract_selector(p);
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->ports_opaque);
}

TEST(Selectors, Ipv6WalksExtensionHeaders) {
    Bytes base = make_packet("2001:db8::1", "2001:db8::2", ipproto::tcp, 5000, 22, 0);
    // Insert hop-by-hop (8 bytes) and a first fragment header (8 bytes).
    Bytes p(base.begin(), base.begin() + 40);
    p[6] = ipproto::hopopts;
    const Bytes hbh = {ipproto::fragment, 0, 1, 4, 0, 0, 0, 0};
    const Bytes frag = {ipproto::tcp, 0, 0x00, 0x01 /* M */, 0, 0, 0, 1};
    p.insert(p.end(), hbh.begin(), hbh.end());
    p.insert(p.end(), frag.begin(), frag.end());
    p.insert(p.end(), base.begin() + 40, base.end());
    store_be16(p.data() + 4, static_cast<std::uint16_t>(p.size() - 40));
    auto s = extract_selector(p);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->protocol, ipproto::tcp);
    EXPECT_EQ(s->src_port, 5000);
    EXPECT_EQ(s->dst_port, 22);
    // Non-first fragment: protocol known, ports opaque.
    p[40 + 8 + 3] = 0x09;  // offset 1, M
    s = extract_selector(p);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->protocol, ipproto::tcp);
    EXPECT_TRUE(s->ports_opaque);
}

TEST(Selectors, Ipv6MobilityHeaderTypeActsAsPort) {
    Bytes p = make_packet("2001:db8::1", "2001:db8::2", ipproto::mobility, 0, 0, 8);
    p[40 + 2] = 5;  // MH type 5: Binding Update
    auto s = extract_selector(p);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->src_port, 0x0500);
}

TEST(Selectors, MalformedPacketsAreRejected) {
    EXPECT_FALSE(extract_selector(Bytes{}));
    EXPECT_FALSE(extract_selector(Bytes(19, 0x45)));
    Bytes p = make_packet("10.0.0.1", "10.0.0.2", ipproto::udp, 1, 2, 4);
    store_be16(p.data() + 2, static_cast<std::uint16_t>(p.size() + 1));
    EXPECT_FALSE(extract_selector(p));
    p = make_packet("10.0.0.1", "10.0.0.2", ipproto::udp, 1, 2, 4);
    p[0] = 0x44;  // IHL 4
    EXPECT_FALSE(extract_selector(p));
    Bytes v6 = make_packet("2001:db8::1", "2001:db8::2", ipproto::udp, 1, 2, 0);
    v6[6] = ipproto::routing;
    v6[41] = 200;  // extension header longer than the packet
    EXPECT_FALSE(extract_selector(v6));
    v6[0] = 0x70;
    EXPECT_FALSE(extract_selector(v6));
}

TEST(Selectors, OrientSwapsForInbound) {
    auto s = *extract_selector(make_packet("10.0.0.1", "10.0.0.2", ipproto::udp, 1, 2, 0));
    const FlowSelector out = orient(s, Direction::outbound);
    const FlowSelector in = orient(s, Direction::inbound);
    EXPECT_EQ(out.local, ip("10.0.0.1"));
    EXPECT_EQ(out.remote_port, 2);
    EXPECT_EQ(in.local, ip("10.0.0.2"));
    EXPECT_EQ(in.remote_port, 1);
}

TEST(Selectors, TrafficSelectorOpaqueAndAnyPorts) {
    TrafficSelector any{AddressRange::any(IpAddress::Family::v4)};
    TrafficSelector opaque{AddressRange::any(IpAddress::Family::v4), 17, 65535, 0};
    TrafficSelector dns{AddressRange::any(IpAddress::Family::v4), 17, 53, 53};
    const IpAddress a = ip("1.2.3.4");
    EXPECT_TRUE(any.contains(a, 17, false, 53, false));
    EXPECT_TRUE(any.contains(a, 17, false, 0, true));
    EXPECT_TRUE(opaque.contains(a, 17, false, 0, true));
    EXPECT_FALSE(opaque.contains(a, 17, false, 53, false));
    EXPECT_TRUE(dns.contains(a, 17, false, 53, false));
    EXPECT_FALSE(dns.contains(a, 17, false, 0, true));
    EXPECT_FALSE(dns.contains(a, 6, false, 53, false));
    EXPECT_FALSE(dns.contains(ip("::1"), 17, false, 53, false));
}

TEST(Selectors, NamePatterns) {
    EXPECT_TRUE(name_matches("company.com", "COMPANY.com"));
    EXPECT_FALSE(name_matches("company.com", "vpn.company.com"));
    EXPECT_TRUE(name_matches("*.company.com", "vpn.company.com"));
    EXPECT_FALSE(name_matches("*.company.com", "company.com"));
    EXPECT_TRUE(name_matches("*@company.com", "alice@company.com"));
    EXPECT_FALSE(name_matches("*@company.com", "alice@evil.com"));
    EXPECT_TRUE(name_matches("*", "anything"));
}

}  // namespace
}  // namespace mobiked::ipsec
