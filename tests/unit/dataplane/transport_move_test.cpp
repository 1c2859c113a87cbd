// MOBIKEv2 in the data plane: an UpdateSaAddresses carrying transport-mode
// selectors moves the SAD selectors, the SA's policies and SPD-cache entries
// in one call; traffic from the new address flows, the old one is refused.
#include <gtest/gtest.h>

#include "crypto/random.hpp"
#include "dataplane/dataplane.hpp"
#include "ipsec/ip.hpp"
#include "test_support.hpp"

namespace mobiked::dataplane {
namespace {

using namespace test;

// A UDP packet 5353 -> 53 whose 2-byte payload carries `seq`.
Bytes numbered_udp(const IpAddress& src, const IpAddress& dst, std::uint16_t seq) {
    Bytes p = udp_packet(src, dst, 2, 5353, 53);
    store_be16(p.data() + 28, seq);
    return p;
}

// Transport mode rebuilds the IP header on the way in: compare addresses and payload.
void expect_inner(const Bytes& p, const char* src, const char* dst, std::uint16_t seq) {
    ASSERT_EQ(p.size(), 30u);
    EXPECT_EQ(*IpAddress::from_bytes(ByteView(p.data() + 12, 4)), ip(src));
    EXPECT_EQ(*IpAddress::from_bytes(ByteView(p.data() + 16, 4)), ip(dst));
    EXPECT_EQ(load_be16(p.data() + 28), seq);
}

class TransportMove : public ::testing::Test {
protected:
    void SetUp() override {
        a_.start(rng_.get());
        b_.start(rng_.get());
        ASSERT_TRUE(a_.dp->install(child(true), now_));
        ASSERT_TRUE(b_.dp->install(child(false), now_));
    }
    // Transport mode between the hosts themselves.
    ike::InstallChildSa child(bool for_a) {
        ike::InstallChildSa c = child_sa_of_a({ts_host("192.0.2.1")}, {ts_host("192.0.2.2")});
        c.child_name = "host";
        c.mode = ike::IpsecMode::transport;
        return for_a ? c : mirrored(c);
    }
    // What A sent, to B (as the network would deliver it).
    void deliver() { test::deliver(a_, b_, now_); }
    ike::UpdateSaAddresses moved_a() {
        ike::UpdateSaAddresses u{1, a2_, b1_, true};
        u.transport.push_back({1, 0xb0a0, 0xa0b0, {ts_host("198.51.100.7")}, {ts_host("192.0.2.2")}});
        return u;
    }
    ike::UpdateSaAddresses moved_b() {
        ike::UpdateSaAddresses u{1, b1_, a2_, true};
        u.transport.push_back({1, 0xa0b0, 0xb0a0, {ts_host("192.0.2.2")}, {ts_host("198.51.100.7")}});
        return u;
    }

    std::unique_ptr<crypto::Random> rng_ = crypto::make_system_random();
    Time now_{std::chrono::seconds(100)};
    // A moves from 192.0.2.1 (where child_sa_of_a puts it) to a2_; B stays at b1_.
    Endpoint a2_{ip("198.51.100.7"), 4500}, b1_{ip("192.0.2.2"), 4500};
    Peer a_, b_;
};

TEST_F(TransportMove, StreamContinuesFromTheNewAddress) {
    // Before: 192.0.2.1 -> 192.0.2.2 is protected (and cached in the SPD cache).
    for (std::uint16_t s = 1; s <= 3; ++s) a_.dp->on_tun_packet(numbered_udp(ip("192.0.2.1"), ip("192.0.2.2"), s), now_);
    ASSERT_EQ(a_.sent.size(), 3u);
    deliver();
    ASSERT_EQ(b_.tun->written.size(), 3u);
    expect_inner(b_.tun->written.back(), "192.0.2.1", "192.0.2.2", 3);

    ASSERT_TRUE(a_.dp->update(moved_a()));
    ASSERT_TRUE(b_.dp->update(moved_b()));
    // After: the same SA (same SPI, sequence numbers go on) carries the new address.
    for (std::uint16_t s = 4; s <= 6; ++s) a_.dp->on_tun_packet(numbered_udp(ip("198.51.100.7"), ip("192.0.2.2"), s), now_);
    ASSERT_EQ(a_.sent.size(), 3u);
    EXPECT_EQ(a_.sent.front().local, a2_);
    EXPECT_EQ(load_be32(a_.sent.front().data.data()), 0xa0b0u);
    deliver();
    ASSERT_EQ(b_.tun->written.size(), 6u);
    expect_inner(b_.tun->written.back(), "198.51.100.7", "192.0.2.2", 6);
    EXPECT_EQ(b_.dp->child_sa_count(), 1u);
    // And back: B answers to the new address.
    b_.dp->on_tun_packet(numbered_udp(ip("192.0.2.2"), ip("198.51.100.7"), 7), now_);
    ASSERT_EQ(b_.sent.size(), 1u);
    EXPECT_EQ(b_.sent.front().remote, a2_);
}

TEST_F(TransportMove, OldFlowLosesItsCachedProtection) {
    a_.dp->on_tun_packet(numbered_udp(ip("192.0.2.1"), ip("192.0.2.2"), 1), now_);  // fills the SPD cache
    ASSERT_EQ(a_.sent.size(), 1u);
    deliver();
    ASSERT_TRUE(a_.dp->update(moved_a()));
    // The cached decision for the old flow went with the move: no policy, DISCARD.
    const auto discards = a_.dp->counters().drops[static_cast<std::size_t>(Drop::discard)];
    a_.dp->on_tun_packet(numbered_udp(ip("192.0.2.1"), ip("192.0.2.2"), 2), now_);
    EXPECT_TRUE(a_.sent.empty());
    EXPECT_EQ(a_.dp->counters().drops[static_cast<std::size_t>(Drop::discard)], discards + 1);
}

TEST_F(TransportMove, OuterAddressesAloneLeaveStaleSelectors) {
    // What an RFC 4555 (version 1) update does to a transport SA: the inner
    // header is rebuilt from the SA's new endpoints, which its old selectors
    // refuse. The SAD selectors must move with the endpoints.
    ASSERT_TRUE(a_.dp->update(moved_a()));
    ASSERT_TRUE(b_.dp->update(ike::UpdateSaAddresses{1, b1_, a2_, true}));
    a_.dp->on_tun_packet(numbered_udp(ip("198.51.100.7"), ip("192.0.2.2"), 1), now_);
    ASSERT_EQ(a_.sent.size(), 1u);
    deliver();
    EXPECT_TRUE(b_.tun->written.empty());
    EXPECT_EQ(b_.dp->counters().by_status[static_cast<std::size_t>(ipsec::Status::selector_mismatch)], 1u);
    // The MOBIKEv2 update fixes it.
    ASSERT_TRUE(b_.dp->update(moved_b()));
    a_.dp->on_tun_packet(numbered_udp(ip("198.51.100.7"), ip("192.0.2.2"), 2), now_);
    deliver();
    ASSERT_EQ(b_.tun->written.size(), 1u);
    expect_inner(b_.tun->written.back(), "198.51.100.7", "192.0.2.2", 2);
}

TEST_F(TransportMove, UnknownChildOrIkeSaIsIgnored) {
    ike::UpdateSaAddresses u{7, a2_, b1_, true};
    u.transport.push_back({1, 0xb0a0, 0xa0b0, {ts_host("198.51.100.7")}, {ts_host("192.0.2.2")}});
    EXPECT_FALSE(a_.dp->update(u));
    // Nothing moved: the old flow is still protected.
    a_.dp->on_tun_packet(numbered_udp(ip("192.0.2.1"), ip("192.0.2.2"), 1), now_);
    EXPECT_EQ(a_.sent.size(), 1u);
}

}  // namespace
}  // namespace mobiked::dataplane
