// 20 000 CHILD_SAs across 5 000 IKE SAs through the public API: install,
// rekey (new SA, old one deleted as rekeyed), move to new addresses, IKE
// rekey, delete. traffic(), child_sa_count() and last_inbound() are checked
// against a plain model after each step. Correctness at scale, no timing:
// the per-SPI and per-IKE-SA indexes must answer what a scan of every
// CHILD_SA would.
#include <gtest/gtest.h>

#include <map>

#include "crypto/random.hpp"
#include "dataplane/dataplane.hpp"
#include "ipsec/ip.hpp"
#include "test_support.hpp"

namespace mobiked::dataplane {
namespace {

using namespace test;

constexpr std::uint32_t kIkeSas = 5000, kPerIke = 4, kChildren = kIkeSas * kPerIke;

// Child k's host behind the peer: its own /32, so each packet picks one SA.
IpAddress host(std::uint32_t k) { return IpAddress::v4(0x0a000000u | k); }

IpAddress peer_address(std::uint64_t ike, std::uint32_t net) {
    return IpAddress::v4(0xc6000000u | net << 16 | static_cast<std::uint32_t>(ike & 0xffff));
}

// A small UDP packet src -> dst (1000 -> 2000).
Bytes udp(const IpAddress& src, const IpAddress& dst) { return udp_packet(src, dst, 4); }

// One CHILD_SA in the model: A's inbound SPI is B's outbound one.
struct Model {
    std::uint64_t ike = 0;
    std::uint32_t spi_a = 0, spi_b = 0;
};

class DataPlaneScaleTest : public ::testing::Test {
protected:
    void SetUp() override {
        a_.start(rng_.get());
        b_.start(rng_.get());
    }

    // CHILD_SA k (child id k % kPerIke + 1 of its IKE SA) on A, and on B when
    // B is to send on it: B only seals test packets, and fewer SAs there keep
    // the test short (every delete costs a scan in ipsec::OutboundPolicy).
    void install(std::uint32_t k, const Model& m, bool on_b) {
        ike::InstallChildSa a = child_sa_of_a({ts_range(ip("172.16.0.0"), ip("172.31.255.255"))},
                                               {ts_range(host(k), host(k))}, m.spi_b, m.spi_a);
        a.ike_sa_id = m.ike;
        a.child_id = k % kPerIke + 1;
        a.remote = {peer_address(k / kPerIke, 18), 4500};
        const ike::InstallChildSa b = mirrored(a);
        ASSERT_TRUE(a_.dp->install(a, now_));
        if (on_b) {
            ASSERT_TRUE(b_.dp->install(b, now_));
        }
    }

    // One packet of child k from B to A, arriving at `t`.
    void b_to_a(std::uint32_t k, Time t) {
        b_.dp->on_tun_packet(udp(host(k), ip("172.16.0.1")), t);
        ASSERT_EQ(b_.sent.size(), 1u);
        deliver(b_, a_, t);
    }

    // A's view matches the model: every live SA found with its inbound
    // packets, every gone one not, and last_inbound per IKE SA.
    void check(const std::vector<Model>& live, const std::vector<std::uint32_t>& gone,
               const std::map<std::uint32_t, Time>& received_at) {
        EXPECT_EQ(a_.dp->child_sa_count(), live.size());
        std::map<std::uint64_t, Time> last;
        for (std::size_t k = 0; k < live.size(); ++k) {
            auto t = a_.dp->traffic(live[k].spi_a);
            ASSERT_TRUE(t) << k;
            const auto r = received_at.find(static_cast<std::uint32_t>(k));
            EXPECT_EQ(t->packets_in, r == received_at.end() ? 0u : 1u) << k;
            last[live[k].ike] = std::max(last[live[k].ike], r == received_at.end() ? Time{} : r->second);
        }
        for (std::uint32_t spi : gone) EXPECT_FALSE(a_.dp->traffic(spi)) << spi;
        for (const auto& [ike, t] : last) EXPECT_EQ(a_.dp->last_inbound(ike), t) << ike;
    }

    std::unique_ptr<crypto::Random> rng_ = crypto::make_system_random();
    Time now_{std::chrono::seconds(100)};
    Peer a_, b_;
};

TEST_F(DataPlaneScaleTest, InstallRekeyUpdateRemove20000ChildSas) {
    std::vector<Model> sas(kChildren);
    for (std::uint32_t k = 0; k < kChildren; ++k) {
        sas[k] = Model{k / kPerIke, 0x100000 + k, 0x200000 + k};
        install(k, sas[k], k % 7 == 0);
    }
    std::map<std::uint32_t, Time> received;
    for (std::uint32_t k = 0; k < kChildren; k += 7) {
        const Time t = now_ + std::chrono::milliseconds(k);
        b_to_a(k, t);
        received[k] = t;
    }
    EXPECT_EQ(a_.tun->written.size(), received.size());
    check(sas, {}, received);

    // Rekey every CHILD_SA: the old inbound halves drain for the grace period.
    std::vector<std::uint32_t> gone;
    for (std::uint32_t k = 0; k < kChildren; ++k) {
        const Model old = sas[k];
        sas[k] = Model{old.ike, 0x300000 + k, 0x400000 + k};
        install(k, sas[k], k % 3 == 0);  // B's newest SA wins, as on A
        const std::uint32_t child_id = k % kPerIke + 1;
        ASSERT_TRUE(a_.dp->remove(ike::DeleteChildSa{old.ike, child_id, old.spi_a, old.spi_b, true}, now_));
        gone.push_back(old.spi_a);
    }
    check(sas, gone, {});
    EXPECT_EQ(a_.dp->next_deadline(), now_ + DataPlaneOptions{}.rekey_grace);
    a_.dp->poll(now_ + DataPlaneOptions{}.rekey_grace);
    EXPECT_FALSE(a_.dp->next_deadline());

    // New peer addresses for every other IKE SA: A sends there at once.
    for (std::uint64_t ike = 0; ike < kIkeSas; ike += 2) {
        ike::UpdateSaAddresses u{ike, {ip("192.0.2.1"), 4500}, {peer_address(ike, 19), 4501}, true};
        ASSERT_TRUE(a_.dp->update(u));
    }
    EXPECT_FALSE(a_.dp->update(ike::UpdateSaAddresses{kIkeSas, {}, {}, true}));
    for (std::uint32_t k = 0; k < kChildren; k += 5) {
        a_.dp->on_tun_packet(udp(ip("172.16.0.1"), host(k)), now_);
        ASSERT_EQ(a_.sent.size(), 1u);
        const std::uint64_t ike = k / kPerIke;
        const Endpoint want = ike % 2 == 0 ? Endpoint{peer_address(ike, 19), 4501} : Endpoint{peer_address(ike, 18), 4500};
        EXPECT_EQ(a_.sent.front().remote, want) << k;
        EXPECT_EQ(load_be32(a_.sent.front().data.data()), sas[k].spi_b);
        a_.sent.clear();
    }

    // IKE rekey of every fifth IKE SA: its CHILD_SAs follow the successor.
    for (std::uint64_t ike = 0; ike < kIkeSas; ike += 5) {
        a_.dp->move_ike_sa(ike, ike + 1'000'000);
        for (std::uint32_t k = static_cast<std::uint32_t>(ike) * kPerIke; k < (ike + 1) * kPerIke; ++k) sas[k].ike = ike + 1'000'000;
        EXPECT_EQ(a_.dp->last_inbound(ike), Time{});
    }
    received.clear();
    for (std::uint32_t k = 0; k < kChildren; k += 3) {
        const Time t = now_ + std::chrono::seconds(10) + std::chrono::milliseconds(k);
        b_to_a(k, t);
        received[k] = t;
    }
    check(sas, gone, received);

    // Delete children 1 and 3 of each IKE SA one by one, then the IKE SAs.
    std::vector<Model> left;
    for (std::uint32_t k = 0; k < kChildren; ++k) {
        if (k % 2 == 0) {
            left.push_back(sas[k]);
            continue;
        }
        const ike::DeleteChildSa d{sas[k].ike, k % kPerIke + 1, sas[k].spi_a, sas[k].spi_b};
        ASSERT_TRUE(a_.dp->remove(d, now_));
        EXPECT_FALSE(a_.dp->remove(d, now_));
        gone.push_back(sas[k].spi_a);
    }
    std::map<std::uint32_t, Time> received_left;
    for (const auto& [k, t] : received)
        if (k % 2 == 0) received_left[k / 2] = t;
    check(left, gone, received_left);
    for (std::uint64_t ike = 0; ike < kIkeSas; ++ike) {
        const std::uint64_t id = ike % 5 == 0 ? ike + 1'000'000 : ike;
        EXPECT_EQ(a_.dp->remove_ike_sa(id), 2u) << id;
        EXPECT_EQ(a_.dp->last_inbound(id), Time{});
    }
    for (const Model& m : left) gone.push_back(m.spi_a);
    check({}, gone, {});
    // Nothing left that could still send.
    a_.dp->on_tun_packet(udp(ip("172.16.0.1"), host(0)), now_);
    EXPECT_TRUE(a_.sent.empty());
}

// A delete matched by the peer's SPI takes the first CHILD_SA in install
// order, also after an IKE rekey merged two IKE SAs' children.
TEST_F(DataPlaneScaleTest, DeleteAfterIkeRekeyTakesTheEarliestInstall) {
    Model earlier{2, 0x20, 0x99}, later{1, 0x10, 0x99};  // two peers chose the same SPI
    install(8, earlier, false);
    install(4, later, false);
    a_.dp->move_ike_sa(2, 1);
    EXPECT_EQ(a_.dp->last_inbound(2), Time{});
    ASSERT_TRUE(a_.dp->remove(ike::DeleteChildSa{1, 0, 0x77, 0x99}, now_));
    EXPECT_FALSE(a_.dp->traffic(0x20));
    EXPECT_TRUE(a_.dp->traffic(0x10));
    EXPECT_EQ(a_.dp->remove_ike_sa(1), 1u);
    EXPECT_EQ(a_.dp->child_sa_count(), 0u);
}

}  // namespace
}  // namespace mobiked::dataplane
