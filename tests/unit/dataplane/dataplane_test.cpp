// DataPlane with fake TUN devices and the UDP hook wired between two peers:
// outbound seal -> inbound open round trips, drops by reason, ACQUIRE queueing.
#include "dataplane/dataplane.hpp"

#include <gtest/gtest.h>

#include "crypto/random.hpp"
#include "dataplane/routes.hpp"
#include "ipsec/esp.hpp"
#include "ipsec/ip.hpp"
#include "test_support.hpp"

namespace mobiked::dataplane {
namespace {

using namespace test;

class DataPlaneTest : public ::testing::Test {
protected:
    void SetUp() override {
        a_.start(rng_.get());
        b_.start(rng_.get());
    }

    void install_both() {
        ASSERT_TRUE(a_.dp->install(tunnel_child_sa(true), now_));
        ASSERT_TRUE(b_.dp->install(tunnel_child_sa(false), now_));
    }
    // Delivers everything A sent to B.
    void deliver_a_to_b() { deliver(a_, b_, now_); }

    std::unique_ptr<crypto::Random> rng_ = crypto::make_system_random();
    Time now_{std::chrono::seconds(100)};
    Peer a_, b_;
};

TEST_F(DataPlaneTest, TunnelRoundTrip) {
    install_both();
    for (std::size_t len : {0, 1, 100, 1372}) {
        Bytes p = udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), len);
        a_.dp->on_tun_packet(p, now_);
        ASSERT_EQ(a_.sent.size(), 1u);
        EXPECT_EQ(a_.sent.front().remote, (Endpoint{ip("192.0.2.2"), 4500}));
        EXPECT_NE(load_be32(a_.sent.front().data.data()), 0u);  // SPI, never the IKE marker
        deliver_a_to_b();
        ASSERT_EQ(b_.tun->written.size(), 1u);
        EXPECT_EQ(b_.tun->written.back(), p);
        b_.tun->written.clear();
    }
    auto t = a_.dp->traffic(0xb0a0);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->packets_out, 4u);
    auto tb = b_.dp->traffic(0xa0b0);
    ASSERT_TRUE(tb);
    EXPECT_EQ(tb->packets_in, 4u);
    EXPECT_EQ(b_.dp->counters().tun_packets_out, 4u);
}

TEST_F(DataPlaneTest, ReplayAndTamperingDropped) {
    install_both();
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 50), now_);
    ASSERT_EQ(a_.sent.size(), 1u);
    Datagram d = a_.sent.front();
    deliver_a_to_b();
    b_.dp->on_udp_esp(d.remote, d.local, d.data, now_);  // replayed
    EXPECT_EQ(b_.tun->written.size(), 1u);
    EXPECT_EQ(b_.dp->counters().by_status[static_cast<std::size_t>(ipsec::Status::replay)], 1u);
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 50), now_);
    a_.sent.front().data[20] ^= 1;  // flip a ciphertext bit
    deliver_a_to_b();
    EXPECT_EQ(b_.tun->written.size(), 1u);
    EXPECT_EQ(b_.dp->counters().by_status[static_cast<std::size_t>(ipsec::Status::auth_failed)], 1u);
}

TEST_F(DataPlaneTest, DropsByReason) {
    install_both();
    // No policy covers this destination: DISCARD (RFC 4301 default).
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.9.0.1"), 10), now_);
    EXPECT_EQ(a_.dp->counters().drops[static_cast<std::size_t>(Drop::discard)], 1u);
    // Not an IP packet.
    a_.dp->on_tun_packet(Bytes{0x45, 0, 0}, now_);
    EXPECT_EQ(a_.dp->counters().drops[static_cast<std::size_t>(Drop::malformed)], 1u);
    // Unknown SPI.
    Bytes esp(64, 0x5a);
    b_.dp->on_udp_esp({}, {}, esp, now_);
    EXPECT_EQ(b_.dp->counters().drops[static_cast<std::size_t>(Drop::unknown_spi)], 1u);
    // Too short for an ESP header.
    b_.dp->on_udp_esp({}, {}, Bytes{1, 2, 3}, now_);
    EXPECT_EQ(b_.dp->counters().drops[static_cast<std::size_t>(Drop::malformed)], 1u);
    EXPECT_TRUE(a_.sent.empty());
    EXPECT_TRUE(b_.tun->written.empty());
}

TEST_F(DataPlaneTest, InnerPacketOutsideSelectorsDropped) {
    install_both();
    // A's SA carries 10.1/16 -> 10.2/16. A forged inner source outside B's
    // remote selector must not reach B's TUN even with valid ESP.
    ike::InstallChildSa wide = tunnel_child_sa(true, 0xc0c0, 0xd0d0);
    wide.local_ts = {ts_prefix("0.0.0.0", 0)};
    a_.dp->remove_ike_sa(1);
    ASSERT_TRUE(a_.dp->install(wide, now_));
    ike::InstallChildSa narrow = tunnel_child_sa(false, 0xc0c0, 0xd0d0);
    ASSERT_TRUE(b_.dp->install(narrow, now_));
    a_.dp->on_tun_packet(udp_packet(ip("10.7.0.1"), ip("10.2.0.1"), 10), now_);
    ASSERT_EQ(a_.sent.size(), 1u);
    deliver_a_to_b();
    EXPECT_TRUE(b_.tun->written.empty());
    EXPECT_EQ(b_.dp->counters().by_status[static_cast<std::size_t>(ipsec::Status::selector_mismatch)], 1u);
}

TEST_F(DataPlaneTest, DeleteStopsTraffic) {
    install_both();
    ike::DeleteChildSa d{1, 1, 0xb0a0, 0xa0b0};
    EXPECT_TRUE(a_.dp->remove(d, now_));
    EXPECT_FALSE(a_.dp->remove(d, now_));
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);
    EXPECT_TRUE(a_.sent.empty());
    EXPECT_EQ(a_.dp->child_sa_count(), 0u);
}

TEST_F(DataPlaneTest, RekeyNewestSaWins) {
    install_both();
    ASSERT_TRUE(a_.dp->install(tunnel_child_sa(true, 0xa1b1, 0xb1a1), now_));
    ASSERT_TRUE(b_.dp->install(tunnel_child_sa(false, 0xa1b1, 0xb1a1), now_));
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);
    ASSERT_EQ(a_.sent.size(), 1u);
    EXPECT_EQ(load_be32(a_.sent.front().data.data()), 0xa1b1u);
    deliver_a_to_b();
    EXPECT_EQ(b_.tun->written.size(), 1u);
    // The old SA goes; the new one keeps carrying traffic.
    EXPECT_TRUE(a_.dp->remove(ike::DeleteChildSa{1, 1, 0xb0a0, 0xa0b0}, now_));
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);
    ASSERT_EQ(a_.sent.size(), 1u);
    EXPECT_EQ(load_be32(a_.sent.front().data.data()), 0xa1b1u);
}

// A rekeyed SA stops carrying outbound traffic at once but accepts inbound
// packets for the grace period; then its inbound half goes too.
TEST_F(DataPlaneTest, RekeyedSaDrainsInbound) {
    install_both();
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);  // in flight on the old SA
    ASSERT_EQ(a_.sent.size(), 1u);
    ASSERT_TRUE(a_.dp->install(tunnel_child_sa(true, 0xa1b1, 0xb1a1), now_));
    ASSERT_TRUE(b_.dp->install(tunnel_child_sa(false, 0xa1b1, 0xb1a1), now_));
    ike::DeleteChildSa old{1, 1, 0xa0b0, 0xb0a0, true};  // B's view of the old SA
    ASSERT_TRUE(b_.dp->remove(old, now_));
    EXPECT_EQ(b_.dp->next_deadline(), now_ + DataPlaneOptions{}.rekey_grace);
    deliver_a_to_b();
    EXPECT_EQ(b_.tun->written.size(), 1u);  // the late packet still arrives
    b_.dp->poll(now_ + std::chrono::seconds(6));
    EXPECT_FALSE(b_.dp->next_deadline());
    a_.dp->remove(ike::DeleteChildSa{1, 1, 0xb1a1, 0xa1b1}, now_);  // A falls back to the old SA
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);
    ASSERT_EQ(load_be32(a_.sent.front().data.data()), 0xa0b0u);
    deliver_a_to_b();
    EXPECT_EQ(b_.tun->written.size(), 1u);
    EXPECT_EQ(b_.dp->counters().drops[static_cast<std::size_t>(Drop::unknown_spi)], 1u);
}

// Volume limits become notices for the daemon (soft: rekey, hard: delete).
TEST_F(DataPlaneTest, LifetimeNotices) {
    auto c = tunnel_child_sa(true);
    c.lifetimes.rekey_packets = 3;
    c.lifetimes.life_packets = 5;
    ASSERT_TRUE(a_.dp->install(c, now_));
    for (int i = 0; i < 7; ++i) a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);
    auto n = a_.dp->take_lifetime_notices();
    ASSERT_EQ(n.size(), 2u);
    EXPECT_FALSE(n[0].hard);
    EXPECT_TRUE(n[1].hard);
    EXPECT_EQ(n[1].child_id, 1u);
    EXPECT_EQ(a_.sent.size(), 5u);  // nothing after the hard limit
    EXPECT_TRUE(a_.dp->take_lifetime_notices().empty());
}

// Two peers chose the same SPI for the SAs we send on (nothing stops them):
// both CHILD_SAs install, each peer gets its own traffic and its own
// lifetime notices, and deleting one leaves the other working.
TEST_F(DataPlaneTest, TwoPeersWithTheSameOutboundSpi) {
    ike::InstallChildSa one = tunnel_child_sa(true, 0xc0ffee, 0x1001);
    ike::InstallChildSa two = tunnel_child_sa(true, 0xc0ffee, 0x1002);
    two.ike_sa_id = 2;
    two.remote = {ip("192.0.2.3"), 4500};
    two.remote_ts = {ts_prefix("10.3.0.0", 16)};
    two.lifetimes.rekey_packets = 2;
    ASSERT_TRUE(a_.dp->install(one, now_));
    ASSERT_TRUE(a_.dp->install(two, now_));
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.3.0.1"), 10), now_);
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.3.0.1"), 10), now_);
    ASSERT_EQ(a_.sent.size(), 3u);
    EXPECT_EQ(a_.sent[0].remote.address, ip("192.0.2.2"));
    EXPECT_EQ(a_.sent[1].remote.address, ip("192.0.2.3"));
    EXPECT_EQ(a_.sent[2].remote.address, ip("192.0.2.3"));
    for (const Datagram& d : a_.sent) EXPECT_EQ(load_be32(d.data.data()), 0xc0ffeeu);
    EXPECT_EQ(a_.dp->traffic(0x1001)->packets_out, 1u);
    EXPECT_EQ(a_.dp->traffic(0x1002)->packets_out, 2u);
    const auto n = a_.dp->take_lifetime_notices();
    ASSERT_EQ(n.size(), 1u);
    EXPECT_EQ(n[0].ike_sa_id, 2u);  // the peer whose SA reached its limit
    a_.sent.clear();
    EXPECT_TRUE(a_.dp->remove(ike::DeleteChildSa{1, 1, 0x1001, 0xc0ffee}, now_));
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.3.0.1"), 10), now_);
    ASSERT_EQ(a_.sent.size(), 1u);
    EXPECT_EQ(a_.sent[0].remote.address, ip("192.0.2.3"));
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);
    EXPECT_EQ(a_.sent.size(), 1u);
    EXPECT_EQ(a_.dp->child_sa_count(), 1u);
}

TEST_F(DataPlaneTest, TrapQueuesThenFlushes) {
    Trap t{"c", "net", ike::IpsecMode::tunnel, {ts_prefix("10.1.0.0", 16)}, {ts_prefix("10.2.0.0", 16)}};
    a_.dp->set_traps({t});
    for (int i = 0; i < 20; ++i) a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);
    ASSERT_EQ(a_.acquires.size(), 1u);  // one ACQUIRE, not one per packet
    EXPECT_EQ(a_.acquires[0].connection, "c");
    EXPECT_EQ(a_.acquires[0].trigger.remote.range.first, ip("10.2.0.1"));
    EXPECT_EQ(a_.acquires[0].trigger.remote.port_first, 2000);
    EXPECT_EQ(a_.acquires[0].trigger.local.protocol, ipsec::ipproto::udp);
    EXPECT_TRUE(a_.sent.empty());
    EXPECT_EQ(a_.dp->counters().drops[static_cast<std::size_t>(Drop::acquire_queue_full)], 12u);
    install_both();  // IKE delivered: the 8 queued packets go out
    EXPECT_EQ(a_.sent.size(), 8u);
    deliver_a_to_b();
    EXPECT_EQ(b_.tun->written.size(), 8u);
    // Retried only after acquire_retry, and dropped after acquire_expiry.
    a_.dp->remove_ike_sa(1);
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_);
    EXPECT_EQ(a_.acquires.size(), 2u);
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_ + std::chrono::seconds(1));
    EXPECT_EQ(a_.acquires.size(), 2u);
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_ + std::chrono::seconds(11));
    EXPECT_EQ(a_.acquires.size(), 3u);
    a_.dp->on_tun_packet(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 10), now_ + std::chrono::seconds(40));
    EXPECT_EQ(a_.dp->counters().drops[static_cast<std::size_t>(Drop::acquire_expired)], 3u);
}

// TUN reads are sealed in batches and handed to sendmmsg (the batch hook)
// 32 at a time; 64 per wake, the rest on the next wake.
TEST_F(DataPlaneTest, BatchedTunReads) {
    std::vector<std::size_t> batches;
    DataPlaneHooks h;
    h.send_udp_batch = [&](std::span<const OutDatagram> b) {
        batches.push_back(b.size());
        for (const auto& d : b) a_.sent.push_back(Datagram{d.local, d.remote, Bytes(d.data.begin(), d.data.end())});
        return b.size();
    };
    auto tun = std::make_unique<FakeTun>();
    FakeTun* t = tun.get();
    a_.dp = std::make_unique<DataPlane>(DataPlaneOptions{}, std::move(h), rng_.get(), std::move(tun));
    install_both();
    for (std::size_t i = 0; i < 70; ++i) t->queued.push_back(udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), i * 20));
    t->queued.push_back(Bytes(20000, 0x45));  // larger than a slot: dropped, never sealed truncated
    a_.dp->on_readable(t->fd(), now_);
    EXPECT_EQ(batches, (std::vector<std::size_t>{32, 32}));
    a_.dp->on_readable(t->fd(), now_);
    EXPECT_EQ(batches, (std::vector<std::size_t>{32, 32, 6}));
    EXPECT_EQ(a_.dp->counters().esp_packets_out, 70u);
    EXPECT_EQ(a_.dp->counters().drops[static_cast<std::size_t>(Drop::too_big)], 1u);
    deliver_a_to_b();
    ASSERT_EQ(b_.tun->written.size(), 70u);
    for (std::size_t i = 0; i < 70; ++i) EXPECT_EQ(b_.tun->written[i], udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), i * 20));
}

TEST_F(DataPlaneTest, GarbageNeverCrashes) {
    install_both();
    std::uint32_t x = 12345;
    auto next = [&] { return x = x * 1103515245 + 12345; };
    for (int i = 0; i < 20000; ++i) {
        Bytes p(next() % 200);
        for (auto& b : p) b = static_cast<std::uint8_t>(next() >> 16);
        if (i % 3 == 0 && p.size() >= 8) store_be32(p.data(), 0xa0b0);  // a real SPI
        if (i % 5 == 0 && p.size() >= 20) p[0] = 0x45;
        b_.dp->on_udp_esp({}, {}, p, now_);
        a_.dp->on_tun_packet(p, now_);
    }
    EXPECT_TRUE(b_.tun->written.empty());
}

// The derived MTU is tight: a packet of that size sealed fits the path MTU,
// one padding block more does not.
TEST(InnerMtu, SealedPacketFitsPathMtu) {
    auto rng = crypto::make_system_random();
    struct Case {
        std::uint16_t encr, bits, integ;
        std::size_t key, ikey;
        bool v6, encap, transport;
    };
    for (const Case& c : {Case{20, 128, 0, 20, 0, false, true, false}, Case{20, 256, 0, 36, 0, true, false, false},
                          Case{12, 256, 12, 32, 32, false, true, false}, Case{12, 128, 12, 16, 32, true, true, false},
                          Case{12, 128, 12, 16, 32, false, false, true}, Case{20, 128, 0, 20, 0, true, true, true}}) {
        ipsec::SaParams p;
        p.spi = 0x1234;
        p.direction = ipsec::Direction::outbound;
        p.mode = c.transport ? ipsec::Mode::transport : ipsec::Mode::tunnel;
        p.encr_id = c.encr, p.encr_key_bits = c.bits, p.integ_id = c.integ;
        p.encr_key = Bytes(c.key, 1), p.integ_key = Bytes(c.ikey, 2);
        p.local = {ip(c.v6 ? "2001:db8::1" : "192.0.2.1"), 4500};
        p.remote = {ip(c.v6 ? "2001:db8::2" : "192.0.2.2"), 4500};
        p.udp_encap = c.encap;
        p.local_ts = {ipsec::TrafficSelector{AddressRange::any(p.local.address.family())}};
        p.remote_ts = p.local_ts;
        auto sa = ipsec::Sa::create(p, Time{}, rng.get());
        ASSERT_TRUE(sa) << sa.error();
        const unsigned mtu = DataPlane::inner_mtu(**sa, 1500);
        EXPECT_GT(mtu, 1380u);
        auto sealed_size = [&](std::size_t inner) {
            std::vector<std::uint8_t> buf(128 + inner + 64);
            const IpAddress src = c.transport ? p.local.address : ip("10.1.0.1");
            const IpAddress dst = c.transport ? p.remote.address : ip("10.2.0.1");
            if (src.is_v4()) {
                ipsec::write_ipv4_header(buf.data() + 128, src, dst, ipsec::ipproto::udp, inner, 0, false, 64, 1);
            } else {
                ipsec::write_ipv6_header(buf.data() + 128, src, dst, ipsec::ipproto::udp, inner, 0, 64);
            }
            ipsec::PacketBuffer pkt(buf, 128, inner);
            auto r = ipsec::esp::seal(**sa, pkt, Time{});
            EXPECT_TRUE(r.ok());
            return pkt.size();
        };
        EXPECT_LE(sealed_size(mtu), 1500u) << c.encr << " v6=" << c.v6 << " transport=" << c.transport;
        EXPECT_GT(sealed_size(mtu + (**sa).block_size()), 1500u) << c.encr << " v6=" << c.v6;
    }
}

TEST(Routes, RangeToPrefixes) {
    auto one = range_to_prefixes(*AddressRange::from_prefix(*IpAddress::parse("10.2.0.0"), 16));
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(one[0].to_string(), "10.2.0.0/16");
    auto any6 = range_to_prefixes(AddressRange::any(IpAddress::Family::v6));
    ASSERT_EQ(any6.size(), 1u);
    EXPECT_EQ(any6[0].length, 0u);
    auto r = range_to_prefixes(AddressRange{*IpAddress::parse("10.0.0.1"), *IpAddress::parse("10.0.0.6")});
    std::vector<std::string> s;
    for (const auto& p : r) s.push_back(p.to_string());
    EXPECT_EQ(s, (std::vector<std::string>{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}));
    // Worst case: 1..max-1 needs 2*(width-1) prefixes: over the bound, refused.
    auto worst = range_to_prefixes(AddressRange{*IpAddress::parse("::1"), *IpAddress::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")});
    EXPECT_TRUE(worst.empty());
}

}  // namespace
}  // namespace mobiked::dataplane
