// SPD semantics (RFC 4301 §4.4.1): order and overlap, every selector kind,
// SPD-S/I/O, the indexed lookup against a plain first-match scan, the SPD
// cache, PFP (one SA per distinct packet value), the VPN gateway example of
// seed 001, the PAD and the SAD.
#include <gtest/gtest.h>

#include <iterator>
#include <random>

#include "ipsec/outbound.hpp"
#include "ipsec/pad.hpp"
#include "ipsec/sad.hpp"
#include "ipsec/spd.hpp"
#include "ipsec/spd_cache.hpp"
#include "spd_test_support.hpp"
#include "test_util.hpp"

namespace mobiked::ipsec {
namespace {

using test::ip;
using Kind = OutboundDecision::Kind;

FlowSelector flow(std::string_view local, std::string_view remote, std::uint8_t proto = ipproto::udp,
                  std::uint16_t lport = 1000, std::uint16_t rport = 2000) {
    FlowSelector f;
    f.local = ip(local);
    f.remote = ip(remote);
    f.protocol = proto;
    f.local_port = lport;
    f.remote_port = rport;
    return f;
}

Policy policy(Action a, std::string label) {
    Policy p;
    p.action = a;
    p.label = std::move(label);
    return p;
}

AddressSelector prefix(std::string_view a, unsigned len, bool pfp = false) {
    return *AddressSelector::prefix(ip(a), len, pfp);
}

// The policy at position i of the global order.
const Policy& nth(const Spd& spd, std::size_t i) {
    auto it = spd.policies().begin();
    std::advance(it, static_cast<std::ptrdiff_t>(i));
    return *it;
}

std::string lookup_label(const Spd& spd, const FlowSelector& f, Direction d = Direction::outbound) {
    const Policy* p = spd.lookup(d, f);
    return p == nullptr ? "none" : p->label;
}

TEST(Spd, FirstMatchWinsAmongOverlappingPolicies) {
    Spd spd;
    Policy narrow = policy(Action::bypass, "narrow");
    narrow.remote = prefix("10.1.2.0", 24);
    Policy wide = policy(Action::protect, "wide");
    wide.remote = prefix("10.1.0.0", 16);
    Policy all = policy(Action::discard, "all");
    const auto narrow_id = spd.add(narrow);
    const auto wide_id = spd.add(wide);
    spd.add(all);
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.1.2.3")), "narrow");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.1.9.3")), "wide");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.2.0.1")), "all");
    EXPECT_EQ(lookup_label(spd, flow("::1", "2001:db8::1")), "all");  // ANY covers both families
    // Order, not specificity, decides: put the wide policy first.
    Policy wide_first = wide;
    wide_first.label = "wide-first";
    ASSERT_TRUE(spd.insert_before(narrow_id, wide_first));
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.1.2.3")), "wide-first");
    EXPECT_TRUE(spd.remove(spd.policies().front().id));
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.1.2.3")), "narrow");
    EXPECT_TRUE(spd.remove(wide_id));
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.1.9.3")), "all");
    EXPECT_FALSE(spd.remove(9999));
    EXPECT_FALSE(spd.insert_before(9999, all));
}

TEST(Spd, EmptySpdMatchesNothing) {
    Spd spd;
    EXPECT_EQ(spd.lookup(Direction::outbound, flow("10.0.0.1", "10.0.0.2")), nullptr);
}

TEST(Spd, AddressSelectorKinds) {
    Spd spd;
    Policy single = policy(Action::bypass, "single");
    single.remote = AddressSelector::single(ip("192.0.2.7"));
    Policy range = policy(Action::bypass, "range");
    range.remote = AddressSelector::range_of(ip("192.0.2.10"), ip("192.0.2.20"));  // not a prefix
    Policy local = policy(Action::bypass, "local");
    local.local = prefix("172.16.0.0", 12);
    Policy v6 = policy(Action::bypass, "v6");
    v6.remote = prefix("2001:db8:1::", 48);
    spd.add(single);
    spd.add(range);
    spd.add(local);
    spd.add(v6);
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "192.0.2.7")), "single");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "192.0.2.8")), "none");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "192.0.2.10")), "range");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "192.0.2.15")), "range");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "192.0.2.20")), "range");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "192.0.2.21")), "none");
    EXPECT_EQ(lookup_label(spd, flow("172.31.0.1", "8.8.8.8")), "local");
    EXPECT_EQ(lookup_label(spd, flow("172.32.0.1", "8.8.8.8")), "none");
    EXPECT_EQ(lookup_label(spd, flow("fd00::1", "2001:db8:1:ffff::1")), "v6");
    EXPECT_EQ(lookup_label(spd, flow("fd00::1", "2001:db8:2::1")), "none");
    EXPECT_EQ(lookup_label(spd, flow("fd00::1", "::ffff:192.0.2.7")), "none");  // no family mixing
}

TEST(Spd, ProtocolAndPortSelectorsIncludingOpaque) {
    Spd spd;
    Policy dns = policy(Action::bypass, "dns");
    dns.protocol = ProtocolSelector::of(ipproto::udp);
    dns.remote_port = PortSelector::port(53);
    Policy high = policy(Action::bypass, "high");
    high.protocol = ProtocolSelector::of(ipproto::tcp);
    high.local_port = PortSelector::ports(1024, 65535);
    Policy frag = policy(Action::discard, "opaque-ports");
    frag.remote_port = PortSelector::opaque();
    Policy opaque_proto = policy(Action::discard, "opaque-proto");
    opaque_proto.protocol.kind = ProtocolSelector::Kind::opaque;
    Policy icmp = policy(Action::bypass, "echo");
    icmp.protocol = ProtocolSelector::of(ipproto::icmp);
    icmp.local_port = PortSelector::port(0x0800);  // type 8 code 0
    spd.add(dns);
    spd.add(high);
    spd.add(frag);
    spd.add(opaque_proto);
    spd.add(icmp);
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.0.0.2", ipproto::udp, 5000, 53)), "dns");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.0.0.2", ipproto::tcp, 5000, 53)), "high");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.0.0.2", ipproto::tcp, 80, 53)), "none");
    FlowSelector fragment = flow("10.0.0.1", "10.0.0.2", ipproto::udp, 0, 0);
    fragment.ports_opaque = true;  // non-first fragment: dns/high cannot match, OPAQUE can
    EXPECT_EQ(lookup_label(spd, fragment), "opaque-ports");
    FlowSelector hidden = flow("10.0.0.1", "10.0.0.2", 0, 0, 0);
    hidden.protocol_opaque = true;
    hidden.ports_opaque = true;
    EXPECT_EQ(lookup_label(spd, hidden), "opaque-ports");  // ANY protocol also matches OPAQUE
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.0.0.2", ipproto::icmp, 0x0800, 0x0800)), "echo");
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.0.0.2", ipproto::icmp, 0x0000, 0x0000)), "none");
}

TEST(Spd, OpaqueProtocolMatchesOnlyOpaque) {
    Spd spd;
    Policy opaque_proto = policy(Action::discard, "opaque-proto");
    opaque_proto.protocol.kind = ProtocolSelector::Kind::opaque;
    spd.add(opaque_proto);
    EXPECT_EQ(lookup_label(spd, flow("10.0.0.1", "10.0.0.2")), "none");
    FlowSelector hidden = flow("10.0.0.1", "10.0.0.2", 0, 0, 0);
    hidden.protocol_opaque = true;
    EXPECT_EQ(lookup_label(spd, hidden), "opaque-proto");
}

TEST(Spd, SplitIntoSpdSInAndOut) {
    Spd spd;
    Policy in_only = policy(Action::bypass, "in-bypass");
    in_only.outbound = false;
    in_only.remote = prefix("10.9.0.0", 16);
    Policy out_only = policy(Action::discard, "out-discard");
    out_only.inbound = false;
    out_only.remote = prefix("10.9.0.0", 16);
    Policy protect = policy(Action::protect, "protect");
    protect.remote = prefix("10.0.0.0", 8);
    spd.add(in_only);
    spd.add(out_only);
    spd.add(protect);
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.9.0.1"), Direction::inbound), "in-bypass");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.9.0.1"), Direction::outbound), "out-discard");
    // PROTECT lives in SPD-S and applies to both directions.
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.8.0.1"), Direction::inbound), "protect");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.8.0.1"), Direction::outbound), "protect");
    ASSERT_EQ(spd.spd_s().size(), 1u);
    ASSERT_EQ(spd.spd_i().size(), 1u);
    ASSERT_EQ(spd.spd_o().size(), 1u);
    EXPECT_EQ(spd.spd_i()[0]->label, "in-bypass");
    EXPECT_EQ(spd.spd_o()[0]->label, "out-discard");
}

// The prefix index must give exactly the answer of a linear first-match scan.
TEST(Spd, IndexedLookupEqualsLinearScanOnRandomPolicies) {
    std::mt19937 rng(12345);
    auto rnd = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
    auto v4 = [&](std::uint32_t net) { return IpAddress::v4(0x0a000000u | (net << 8) | rnd(256)); };
    for (int round = 0; round < 20; ++round) {
        Spd spd;
        for (int i = 0; i < 60; ++i) {
            Policy p = policy(static_cast<Action>(rnd(3)), std::to_string(i));
            switch (rnd(4)) {
                case 0: p.remote = AddressSelector::any_address(); break;
                case 1: p.remote = *AddressSelector::prefix(v4(rnd(8)), 20 + rnd(13)); break;
                case 2: {
                    IpAddress a = v4(rnd(8)), b = v4(rnd(8));
                    if (b < a) std::swap(a, b);
                    p.remote = AddressSelector::range_of(a, b);
                    break;
                }
                default: p.remote = AddressSelector::single(v4(rnd(8))); break;
            }
            if (rnd(3) == 0) p.local = *AddressSelector::prefix(v4(rnd(4)), 22);
            if (rnd(3) == 0) p.protocol = ProtocolSelector::of(rnd(2) ? ipproto::udp : ipproto::tcp);
            if (rnd(3) == 0) p.remote_port = PortSelector::ports(static_cast<std::uint16_t>(rnd(100)),
                                                                 static_cast<std::uint16_t>(100 + rnd(100)));
            p.inbound = rnd(2) == 0;
            p.outbound = rnd(2) == 0;
            spd.add(p);
        }
        if (round % 2 == 1) spd.remove(nth(spd, 5).id);  // exercise removal
        for (int q = 0; q < 400; ++q) {
            FlowSelector f;
            f.local = v4(rnd(4));
            f.remote = v4(rnd(8));
            f.protocol = rnd(2) ? ipproto::udp : ipproto::tcp;
            f.local_port = static_cast<std::uint16_t>(rnd(300));
            f.remote_port = static_cast<std::uint16_t>(rnd(300));
            for (Direction d : {Direction::inbound, Direction::outbound}) {
                ASSERT_EQ(spd.lookup(d, f), test::first_match_by_scan(spd.policies(), d, f))
                    << "round " << round << " query " << q;
            }
        }
    }
}

// The index over a large SPD: PROTECT /24s (one bucket each) behind
// earlier, wider policies that overlap them. Order must still decide.
TEST(Spd, EarlierOverlappingPolicyWinsOverIndexedLaterOne) {
    Spd spd;
    Policy web = policy(Action::bypass, "web");  // wider prefix, a port, and first
    web.remote = prefix("10.0.0.0", 8);
    web.remote_port = PortSelector::port(80);
    const auto web_id = spd.add(web);
    Policy odd = policy(Action::discard, "odd-range");  // a range that is no prefix
    odd.remote = AddressSelector::range_of(ip("10.0.1.200"), ip("10.0.3.7"));
    const auto odd_id = spd.add(odd);
    std::vector<Policy::Id> sites;
    for (std::uint32_t i = 0; i < 1000; ++i) {
        Policy site = policy(Action::protect, "site-" + std::to_string(i));
        site.remote = *AddressSelector::prefix(IpAddress::v4(0x0a000000u | i << 8), 24);
        sites.push_back(spd.add(site));
    }
    spd.add(policy(Action::discard, "rest"));
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.5.9", ipproto::tcp, 999, 80)), "web");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.5.9", ipproto::tcp, 999, 81)), "site-5");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.1.199")), "site-1");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.1.200")), "odd-range");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.2.0")), "odd-range");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.3.7")), "odd-range");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.3.8")), "site-3");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.3.232.1")), "rest");  // past the last site
    // Removal: what the removed policy shadowed shows through; nothing else moves.
    ASSERT_TRUE(spd.remove(odd_id));
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.2.0")), "site-2");
    ASSERT_TRUE(spd.remove(sites[5]));
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.5.9", ipproto::tcp, 999, 81)), "rest");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.5.9", ipproto::tcp, 999, 80)), "web");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.6.9")), "site-6");
    ASSERT_TRUE(spd.remove(web_id));
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.6.9", ipproto::tcp, 999, 80)), "site-6");
}

// The data plane puts each new CHILD_SA's policies at the front: the new
// policy must come first without disturbing the order of the others.
TEST(Spd, InsertAtFrontReordersTheIndex) {
    Spd spd;
    for (std::uint32_t i = 0; i < 100; ++i) {
        Policy site = policy(Action::protect, "site-" + std::to_string(i));
        site.remote = *AddressSelector::prefix(IpAddress::v4(0x0a000000u | i << 8), 24);
        spd.add(site);
    }
    spd.add(policy(Action::discard, "rest"));
    for (int round = 0; round < 3; ++round) {
        Policy host = policy(Action::bypass, "host-" + std::to_string(round));
        host.remote = AddressSelector::single(ip("10.0.7.7"));
        ASSERT_TRUE(spd.insert_before(spd.policies().front().id, host));
        EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.7.7")), "host-" + std::to_string(round));
        EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.7.8")), "site-7");
        EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.99.1")), "site-99");
    }
    EXPECT_EQ(spd.policies().front().label, "host-2");
    ASSERT_TRUE(spd.remove(spd.policies().front().id));
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.7.7")), "host-1");
    // Insert in the middle, ahead of site-50 only.
    Policy mid = policy(Action::discard, "mid");
    mid.remote = prefix("10.0.0.0", 16);
    ASSERT_TRUE(spd.insert_before(nth(spd, 2 + 50).id, mid));
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.49.1")), "site-49");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.50.1")), "mid");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.51.1")), "mid");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.0.7.7")), "host-1");
}

// Policies share their local/protocol/port matcher in the index; sharing
// must not merge the policies themselves.
TEST(Spd, PoliciesWithEqualSelectorsStayDistinct) {
    Spd spd;
    Policy a = policy(Action::bypass, "a");
    a.remote = prefix("10.1.0.0", 16);
    a.protocol = ProtocolSelector::of(ipproto::tcp);
    Policy b = a;  // same selectors, later: shadowed while a exists
    b.label = "b";
    b.action = Action::protect;
    Policy c = a;  // same matcher, other prefix
    c.label = "c";
    c.remote = prefix("10.2.0.0", 16);
    const auto a_id = spd.add(a);
    spd.add(b);
    spd.add(c);
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.1.0.1", ipproto::tcp)), "a");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.2.0.1", ipproto::tcp)), "c");
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.1.0.1", ipproto::udp)), "none");
    ASSERT_TRUE(spd.remove(a_id));
    EXPECT_EQ(lookup_label(spd, flow("1.1.1.1", "10.1.0.1", ipproto::tcp)), "b");
}

// Like IndexedLookupEqualsLinearScanOnRandomPolicies, with both families,
// ANY, and the SPD changed between queries by inserts at random positions
// (the front included) and removals.
TEST(Spd, IndexedLookupEqualsLinearScanAcrossChanges) {
    test::RandomSpd random(4242, {.v6_one_in = 2,
                                  .remote_kinds = 4,
                                  .shortest_v4_prefix = 20,
                                  .shortest_v6_prefix = 112,
                                  .peer_names = false,
                                  .flow_local_ports = false});
    auto rnd = [&](std::uint32_t n) { return random.rnd(n); };
    auto random_policy = [&](int i) { return random.policy(std::to_string(i)); };
    Spd spd;
    int made = 0;
    for (; made < 40; ++made) spd.add(random_policy(made));
    for (int step = 0; step < 60; ++step) {
        switch (rnd(3)) {
            case 0:
                spd.add(random_policy(made++));
                break;
            case 1: {
                const Policy::Id before =
                    nth(spd, rnd(2) ? 0 : rnd(static_cast<std::uint32_t>(spd.size()))).id;
                ASSERT_TRUE(spd.insert_before(before, random_policy(made++)));
                break;
            }
            default:
                if (spd.size() > 1) {
                    ASSERT_TRUE(
                        spd.remove(nth(spd, rnd(static_cast<std::uint32_t>(spd.size()))).id));
                }
        }
        for (int q = 0; q < 100; ++q) {
            const FlowSelector f = random.flow();
            for (Direction d : {Direction::inbound, Direction::outbound}) {
                ASSERT_EQ(spd.lookup(d, f), test::first_match_by_scan(spd.policies(), d, f))
                    << "step " << step << " query " << q;
            }
        }
    }
}

// ---- PFP and the outbound decision ---------------------------------------------

TEST(Pfp, OneSaPerDistinctPacketValue) {
    Spd spd;
    Policy p = policy(Action::protect, "per-host");
    p.local = prefix("10.1.0.0", 16);
    p.remote = prefix("10.2.0.0", 16, /*pfp=*/true);
    const auto id = spd.add(p);
    SpdCache cache;
    OutboundPolicy out(spd, cache);
    const OutboundDecision a1 = out.decide(flow("10.1.0.1", "10.2.0.5", ipproto::udp, 1, 2));
    const OutboundDecision a2 = out.decide(flow("10.1.0.1", "10.2.0.5", ipproto::tcp, 7, 8));
    const OutboundDecision b = out.decide(flow("10.1.0.1", "10.2.0.6"));
    ASSERT_EQ(a1.kind, Kind::acquire);
    ASSERT_EQ(b.kind, Kind::acquire);
    EXPECT_EQ(a1.policy, id);
    // PFP on remote address: the SA request pins that host; the rest keeps the policy's range.
    EXPECT_EQ(a1.acquire.remote.range.to_string(), "10.2.0.5/32");
    EXPECT_EQ(a1.acquire.local.range.to_string(), "10.1.0.0/16");
    EXPECT_EQ(a1.acquire.local.protocol, 0);
    EXPECT_TRUE(a1.acquire.local.ports_any());
    EXPECT_EQ(a1.acquire, a2.acquire);  // same value -> same SA
    EXPECT_FALSE(a1.acquire == b.acquire);  // distinct value -> its own SA
    // IKE installs the SA for host .5 only: .6 still needs its own.
    out.bind(id, a1.acquire, 0xaaaa0001);
    EXPECT_EQ(out.decide(flow("10.1.0.1", "10.2.0.5")).spi, 0xaaaa0001u);
    EXPECT_EQ(out.decide(flow("10.1.0.9", "10.2.0.5", ipproto::tcp, 80, 443)).kind, Kind::protect);
    EXPECT_EQ(out.decide(flow("10.1.0.1", "10.2.0.6")).kind, Kind::acquire);
    out.bind(id, b.acquire, 0xaaaa0002);
    EXPECT_EQ(out.decide(flow("10.1.0.1", "10.2.0.6")).spi, 0xaaaa0002u);
    EXPECT_EQ(out.bound_sas(), 2u);
}

TEST(Pfp, ZeroPfpSharesOneSaAcrossTheRange) {
    Spd spd;
    Policy p = policy(Action::protect, "site");
    p.remote = prefix("10.2.0.0", 16);
    p.protocol = ProtocolSelector::of(ipproto::tcp, /*pfp=*/true);
    p.remote_port = PortSelector::ports(1, 1023, /*pfp=*/true);
    spd.add(p);
    SpdCache cache;
    OutboundPolicy out(spd, cache);
    const auto a = out.decide(flow("10.1.0.1", "10.2.0.5", ipproto::tcp, 5000, 80));
    const auto b = out.decide(flow("10.1.0.2", "10.2.7.7", ipproto::tcp, 6000, 80));
    const auto c = out.decide(flow("10.1.0.1", "10.2.0.5", ipproto::tcp, 5000, 443));
    EXPECT_EQ(a.acquire, b.acquire);  // addresses are PFP=0: one SA for the range
    EXPECT_FALSE(a.acquire == c.acquire);  // remote port is PFP=1
    EXPECT_EQ(a.acquire.remote.protocol, ipproto::tcp);
    EXPECT_EQ(a.acquire.remote.port_first, 80);
    EXPECT_EQ(a.acquire.remote.port_last, 80);
    EXPECT_EQ(a.acquire.remote.range.to_string(), "10.2.0.0/16");
}

TEST(SpdCache, HitAfterFirstLookupAndInvalidatedBySpdChanges) {
    Spd spd;
    Policy bypass = policy(Action::bypass, "bypass");
    bypass.remote = prefix("10.0.0.0", 8);
    const auto id = spd.add(bypass);
    SpdCache cache;
    OutboundPolicy out(spd, cache);
    const FlowSelector f = flow("1.1.1.1", "10.0.0.1");
    EXPECT_FALSE(out.decide(f).from_cache);
    const auto second = out.decide(f);
    EXPECT_TRUE(second.from_cache);
    EXPECT_EQ(second.kind, Kind::bypass);
    EXPECT_EQ(cache.size(), 1u);
    // A new policy ahead of it: the cached decision must not survive.
    Policy discard = policy(Action::discard, "discard");
    discard.remote = AddressSelector::single(ip("10.0.0.1"));
    spd.insert_before(id, discard);
    const auto third = out.decide(f);
    EXPECT_FALSE(third.from_cache);
    EXPECT_EQ(third.kind, Kind::discard);
    // Nothing matched: default DISCARD, also cached.
    EXPECT_EQ(out.decide(flow("1.1.1.1", "11.0.0.1")).kind, Kind::discard);
    EXPECT_TRUE(out.decide(flow("1.1.1.1", "11.0.0.1")).from_cache);
}

TEST(SpdCache, EntriesAreDecorrelatedPerFlowAndPurgedWithTheirSa) {
    Spd spd;
    Policy web = policy(Action::bypass, "web");
    web.remote = prefix("10.0.0.0", 8);
    web.remote_port = PortSelector::port(80);
    Policy vpn = policy(Action::protect, "vpn");
    vpn.remote = prefix("10.0.0.0", 8);
    spd.add(web);
    const auto vpn_id = spd.add(vpn);
    SpdCache cache;
    OutboundPolicy out(spd, cache);
    SaSelector all{TrafficSelector{AddressRange::any(IpAddress::Family::v4)},
                   TrafficSelector{*AddressRange::from_prefix(ip("10.0.0.0"), 8)}};
    out.bind(vpn_id, all, 0x1234);
    // Same addresses, different port: two exact entries, two different answers.
    EXPECT_EQ(out.decide(flow("1.1.1.1", "10.0.0.1", ipproto::tcp, 999, 80)).kind, Kind::bypass);
    EXPECT_EQ(out.decide(flow("1.1.1.1", "10.0.0.1", ipproto::tcp, 999, 81)).kind, Kind::protect);
    EXPECT_EQ(out.decide(flow("1.1.1.1", "10.0.0.1", ipproto::tcp, 999, 80)).kind, Kind::bypass);
    EXPECT_TRUE(out.decide(flow("1.1.1.1", "10.0.0.1", ipproto::tcp, 999, 81)).from_cache);
    EXPECT_EQ(cache.size(), 2u);
    out.unbind(0x1234);
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(out.decide(flow("1.1.1.1", "10.0.0.1", ipproto::tcp, 999, 81)).kind, Kind::acquire);
}

TEST(SpdCache, BoundedSize) {
    SpdCache cache(2);
    const FlowKey a = FlowKey::of(flow("1.1.1.1", "2.2.2.2"));
    const FlowKey b = FlowKey::of(flow("1.1.1.1", "2.2.2.3"));
    const FlowKey c = FlowKey::of(flow("1.1.1.1", "2.2.2.4"));
    EXPECT_TRUE(cache.insert(a, {}));
    EXPECT_TRUE(cache.insert(b, {}));
    EXPECT_FALSE(cache.insert(c, {}));
    EXPECT_TRUE(cache.insert(a, {}));  // replacing is always allowed
    EXPECT_TRUE(cache.find(a, 0));
    EXPECT_FALSE(cache.find(a, 1));  // other generation: stale
    EXPECT_FALSE(cache.find(c, 0));
}

// Seed 001's VPN gateway: BYPASS IKE, PROTECT for Name company.com with PFP
// on the client's inner address (one SA per user), final ANY DISCARD.
TEST(VpnGateway, ExampleTopology) {
    Spd spd;
    for (std::uint16_t port : {500, 4500}) {
        Policy ike = policy(Action::bypass, "ike-" + std::to_string(port));
        ike.protocol = ProtocolSelector::of(ipproto::udp);
        ike.local_port = PortSelector::port(port);
        spd.add(ike);
    }
    Policy users = policy(Action::protect, "users");
    users.name = "*@company.com";
    users.local = prefix("10.0.0.0", 8);              // corporate network
    users.remote = prefix("10.99.0.0", 16, true);     // client inner address pool, PFP
    const auto users_id = spd.add(users);
    spd.add(policy(Action::discard, "rest"));
    SpdCache cache;
    OutboundPolicy out(spd, cache);

    EXPECT_EQ(out.decide(flow("198.51.100.1", "203.0.113.9", ipproto::udp, 500, 500)).kind, Kind::bypass);
    EXPECT_EQ(out.decide(flow("198.51.100.1", "203.0.113.9", ipproto::udp, 4500, 61000)).kind, Kind::bypass);
    EXPECT_EQ(out.decide(flow("198.51.100.1", "203.0.113.9", ipproto::tcp, 22, 5000)).kind, Kind::discard);

    // Responder side: alice and bob authenticate, each gets an inner address via CP.
    SaSelector alice{TrafficSelector{*AddressRange::from_prefix(ip("10.0.0.0"), 8)},
                     TrafficSelector{AddressRange{ip("10.99.0.1"), ip("10.99.0.1")}}};
    SaSelector bob = alice;
    bob.remote.range = AddressRange{ip("10.99.0.2"), ip("10.99.0.2")};
    const Policy* pa = spd.lookup_for_peer("alice@company.com", alice);
    ASSERT_NE(pa, nullptr);
    EXPECT_EQ(pa->id, users_id);
    EXPECT_EQ(spd.lookup_for_peer("mallory@evil.com", alice), nullptr);
    SaSelector outside = alice;
    outside.remote.range = AddressRange{ip("10.98.0.1"), ip("10.98.0.1")};
    EXPECT_EQ(spd.lookup_for_peer("alice@company.com", outside), nullptr);
    out.bind(users_id, alice, 0xa11ce);
    out.bind(users_id, bob, 0xb0b);
    EXPECT_EQ(out.decide(flow("10.1.2.3", "10.99.0.1", ipproto::tcp, 443, 50000)).spi, 0xa11ceu);
    EXPECT_EQ(out.decide(flow("10.1.2.3", "10.99.0.2", ipproto::tcp, 443, 50000)).spi, 0xb0bu);
    // A third user's address has no SA yet: ACQUIRE for exactly that host.
    const auto carol = out.decide(flow("10.1.2.3", "10.99.0.3"));
    EXPECT_EQ(carol.kind, Kind::acquire);
    EXPECT_EQ(carol.acquire.remote.range.to_string(), "10.99.0.3/32");
}

// Two peers chose the same SPI for their inbound SAs (our outbound ones):
// the bindings and cache entries carry the SAD ref that tells them apart.
TEST(SpdCache, SameSpiFromTwoPeersStaysApart) {
    Spd spd;
    Policy to_a = policy(Action::protect, "to-a");
    to_a.remote = prefix("10.1.0.0", 16);
    Policy to_b = policy(Action::protect, "to-b");
    to_b.remote = prefix("10.2.0.0", 16);
    const auto a_id = spd.add(to_a);
    const auto b_id = spd.add(to_b);
    SpdCache cache;
    OutboundPolicy out(spd, cache);
    auto sel = [](std::string_view net) {
        return SaSelector{TrafficSelector{AddressRange::any(IpAddress::Family::v4)},
                          TrafficSelector{*AddressRange::from_prefix(ip(net), 16)}};
    };
    out.bind(a_id, sel("10.1.0.0"), 0x1234, 0xaaaa);
    out.bind(b_id, sel("10.2.0.0"), 0x1234, 0xbbbb);
    for (bool cached : {false, true}) {
        const auto da = out.decide(flow("1.1.1.1", "10.1.0.1"));
        const auto db = out.decide(flow("1.1.1.1", "10.2.0.1"));
        EXPECT_EQ(da.from_cache, cached);
        EXPECT_EQ(da.kind, Kind::protect);
        EXPECT_EQ(db.kind, Kind::protect);
        EXPECT_EQ(da.spi, 0x1234u);
        EXPECT_EQ(db.spi, 0x1234u);
        EXPECT_EQ(da.ref, 0xaaaau);
        EXPECT_EQ(db.ref, 0xbbbbu);
    }
    // A's SA goes: B's binding and cached decision stay.
    out.unbind(0x1234, 0xaaaa);
    EXPECT_EQ(out.bound_sas(), 1u);
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(out.decide(flow("1.1.1.1", "10.1.0.1")).kind, Kind::acquire);
    const auto db = out.decide(flow("1.1.1.1", "10.2.0.1"));
    EXPECT_TRUE(db.from_cache);
    EXPECT_EQ(db.ref, 0xbbbbu);
}

// ---- PAD -----------------------------------------------------------------------

TEST(Pad, FirstMatchingEntryAndItsConstraints) {
    Spd spd;
    Policy users = policy(Action::protect, "users");
    users.name = "*@company.com";
    users.remote = prefix("10.99.0.0", 16, true);
    spd.add(users);
    Policy partners = policy(Action::protect, "partners");
    partners.name = "partner.example";
    partners.remote = prefix("10.50.0.0", 16);
    spd.add(partners);

    Pad pad;
    PadEntry boss;
    boss.id_type = PeerIdType::rfc822_addr;
    boss.id_pattern = "ceo@company.com";
    boss.auth = AuthMethod::psk;
    boss.psk = to_bytes(std::string_view("secret"));
    boss.allowed_remote = {TrafficSelector{*AddressRange::from_prefix(ip("10.99.1.0"), 24)}};
    boss.allowed_names = {"*"};
    pad.add(boss);
    PadEntry staff;
    staff.id_type = PeerIdType::rfc822_addr;
    staff.id_pattern = "*@company.com";
    staff.auth = AuthMethod::eap;
    staff.allowed_remote = {TrafficSelector{*AddressRange::from_prefix(ip("10.99.0.0"), 24)}};
    staff.allowed_names = {"*"};
    pad.add(staff);

    const PeerId ceo{PeerIdType::rfc822_addr, "ceo@company.com"};
    const PeerId alice{PeerIdType::rfc822_addr, "alice@company.com"};
    ASSERT_NE(pad.find(ceo), nullptr);
    EXPECT_EQ(pad.find(ceo)->auth, AuthMethod::psk);
    EXPECT_EQ(pad.find(alice)->auth, AuthMethod::eap);
    EXPECT_EQ(pad.find(PeerId{PeerIdType::fqdn, "alice@company.com"}), nullptr);  // type must match
    EXPECT_EQ(pad.find(PeerId{PeerIdType::rfc822_addr, "eve@evil.com"}), nullptr);

    auto req = [](std::string_view host) {
        return SaSelector{TrafficSelector{AddressRange::any(IpAddress::Family::v4)},
                          TrafficSelector{AddressRange{ip(host), ip(host)}}};
    };
    const Policy* p = pad.authorize_child(alice, req("10.99.0.7"), spd);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->label, "users");
    EXPECT_EQ(pad.authorize_child(alice, req("10.99.1.7"), spd), nullptr);  // outside alice's pool
    EXPECT_NE(pad.authorize_child(ceo, req("10.99.1.7"), spd), nullptr);
    EXPECT_EQ(pad.authorize_child(ceo, req("10.99.0.7"), spd), nullptr);  // first PAD match rules
    EXPECT_EQ(pad.authorize_child(alice, req("10.50.0.1"), spd), nullptr);  // not her Name
}

// ---- SAD -------------------------------------------------------------------------

TEST(Sad, IndexedBySpiDirectionAndProtocol) {
    Sad sad;
    const auto& algo = test::esp_algorithms()[0];
    auto in = test::make_params(algo, Protocol::esp, Mode::tunnel, Direction::inbound, false);
    auto out = test::make_params(algo, Protocol::esp, Mode::tunnel, Direction::outbound, false);
    for (std::uint32_t spi = 1; spi <= 1000; ++spi) {
        in.spi = spi;
        ASSERT_TRUE(sad.add(test::make_sa(in)));
    }
    out.spi = 7;  // the peer picked an SPI equal to one of ours: separate table
    ASSERT_TRUE(sad.add(test::make_sa(out)));
    in.spi = 7;
    EXPECT_FALSE(sad.add(test::make_sa(in)));  // duplicate
    EXPECT_EQ(sad.size(), 1001u);
    ASSERT_NE(sad.find_inbound(Protocol::esp, 7), nullptr);
    EXPECT_EQ(sad.find_inbound(Protocol::esp, 7)->params().direction, Direction::inbound);
    EXPECT_EQ(sad.find(Direction::outbound, Protocol::esp, 7)->params().direction, Direction::outbound);
    EXPECT_EQ(sad.find_inbound(Protocol::ah, 7), nullptr);
    EXPECT_EQ(sad.find_inbound(Protocol::esp, 5000), nullptr);
    EXPECT_EQ(sad.unknown_spi_drops(), 2u);
    for (std::uint32_t spi = 1; spi <= 1000; spi += 2) ASSERT_TRUE(sad.remove(Direction::inbound, Protocol::esp, spi));
    for (std::uint32_t spi = 1; spi <= 1000; ++spi)
        ASSERT_EQ(sad.find(Direction::inbound, Protocol::esp, spi) != nullptr, spi % 2 == 0) << spi;
    std::size_t n = 0;
    sad.for_each([&](Sa&) { ++n; });
    EXPECT_EQ(n, 501u);
}

// Outbound SAs carry the peer's SPI; two peers may pick the same one.
TEST(Sad, OutboundSasOfTwoPeersWithTheSameSpi) {
    Sad sad;
    const auto& algo = test::esp_algorithms()[0];
    auto to_a = test::make_params(algo, Protocol::esp, Mode::tunnel, Direction::outbound, false);
    to_a.spi = 0xc0ffee;
    auto to_b = to_a;
    to_b.remote = {ip("198.51.100.7"), 4500};
    // refs: the inbound SPIs we allocated for the two CHILD_SAs.
    constexpr std::uint32_t ref_a = 0x1001, ref_b = 0x1002;
    ASSERT_TRUE(sad.add(test::make_sa(to_a), ref_a));
    ASSERT_TRUE(sad.add(test::make_sa(to_b), ref_b));
    EXPECT_FALSE(sad.add(test::make_sa(to_b), ref_b));  // same SA twice
    EXPECT_EQ(sad.size(), 2u);
    Sa* a = sad.find(Direction::outbound, Protocol::esp, 0xc0ffee, ref_a);
    Sa* b = sad.find(Direction::outbound, Protocol::esp, 0xc0ffee, ref_b);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->params().remote.address, ip("192.0.2.2"));
    EXPECT_EQ(b->params().remote.address, ip("198.51.100.7"));
    EXPECT_EQ(sad.find(Direction::outbound, Protocol::esp, 0xc0ffee, 0x1003), nullptr);
    EXPECT_EQ(sad.find(Direction::outbound, Protocol::ah, 0xc0ffee, ref_a), nullptr);
    // A moves (MOBIKE): the key does not depend on its address.
    a->update_endpoints({ip("192.0.2.1"), 4500}, {ip("203.0.113.5"), 4500}, true);
    EXPECT_EQ(sad.find(Direction::outbound, Protocol::esp, 0xc0ffee, ref_a), a);
    ASSERT_TRUE(sad.remove(Direction::outbound, Protocol::esp, 0xc0ffee, ref_a));
    EXPECT_FALSE(sad.remove(Direction::outbound, Protocol::esp, 0xc0ffee, ref_a));
    EXPECT_EQ(sad.find(Direction::outbound, Protocol::esp, 0xc0ffee, ref_a), nullptr);
    EXPECT_EQ(sad.find(Direction::outbound, Protocol::esp, 0xc0ffee, ref_b), b);
    EXPECT_EQ(sad.size(), 1u);
    // Inbound SAs are ours: keyed by SPI alone, the ref is ignored.
    auto in = test::make_params(algo, Protocol::esp, Mode::tunnel, Direction::inbound, false);
    in.spi = ref_a;
    ASSERT_TRUE(sad.add(test::make_sa(in), 77));
    EXPECT_NE(sad.find(Direction::inbound, Protocol::esp, ref_a), nullptr);
    EXPECT_NE(sad.find(Direction::inbound, Protocol::esp, ref_a, 78), nullptr);
    EXPECT_FALSE(sad.add(test::make_sa(in), 79));
}

}  // namespace
}  // namespace mobiked::ipsec
