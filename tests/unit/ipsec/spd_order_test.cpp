// SPD changes against a reference model: a std::vector of policies in
// global order, searched by linear first match. Long random sequences of
// add / insert_before (front, middle, end) / remove, and runs of inserts at
// one spot that exhaust the order keys there and force relabelling; after
// changes, lookup, get, policies(), spd_s/i/o and lookup_for_peer must all
// answer as the model does.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>

#include "ipsec/spd.hpp"
#include "spd_test_support.hpp"
#include "test_util.hpp"

namespace mobiked::ipsec {
namespace {

using test::ip;

// Policies of every kind, a third of them IPv6, some naming a peer.
constexpr test::RandomSpdShape kMixedPolicies{.v6_one_in = 3,
                                              .remote_kinds = 5,
                                              .shortest_v4_prefix = 18,
                                              .shortest_v6_prefix = 110,
                                              .peer_names = true,
                                              .flow_local_ports = true};

class Model {
public:
    explicit Model(std::uint32_t seed, std::uint64_t end_gap = std::uint64_t{1} << 32)
        : spd(end_gap), random_(seed, kMixedPolicies) {}

    std::uint32_t rnd(std::uint32_t n) { return random_.rnd(n); }
    Policy random_policy() { return random_.policy(std::to_string(made_++)); }
    FlowSelector random_flow() { return random_.flow(); }

    // The operations, applied to both the SPD and the model.
    void add() {
        Policy p = random_policy();
        p.id = spd.add(p);
        ref.push_back(std::move(p));
        seen.push_back(ref.back().id);
    }
    void insert_at(std::size_t i) {
        Policy p = random_policy();
        const auto id = spd.insert_before(ref[i].id, p);
        ASSERT_TRUE(id);
        p.id = *id;
        ref.insert(ref.begin() + static_cast<std::ptrdiff_t>(i), std::move(p));
        seen.push_back(*id);
    }
    void remove_at(std::size_t i) {
        ASSERT_TRUE(spd.remove(ref[i].id));
        ref.erase(ref.begin() + static_cast<std::ptrdiff_t>(i));
    }
    // One random change: the data plane's front inserts and removals
    // weighted up, the other kinds, and unknown ids, all present.
    void random_change() {
        const std::uint64_t generation = spd.generation();
        const auto n = static_cast<std::uint32_t>(ref.size());
        const std::uint32_t kind = rnd(10);
        if (n == 0 || kind == 0) {
            add();
        } else if (kind <= 2) {
            insert_at(0);
        } else if (kind == 3) {
            insert_at(n - 1);
        } else if (kind == 4) {
            insert_at(rnd(n));
        } else if (kind <= 7) {
            remove_at(rnd(n));
        } else if (kind == 8) {
            remove_at(0);
        } else {
            const Policy::Id gone = seen[rnd(static_cast<std::uint32_t>(seen.size()))];
            if (std::none_of(ref.begin(), ref.end(), [&](const Policy& p) { return p.id == gone; })) {
                EXPECT_FALSE(spd.remove(gone));
                EXPECT_FALSE(spd.insert_before(gone, random_policy()));
                EXPECT_EQ(spd.get(gone), nullptr);
                return;
            }
            add();
        }
        EXPECT_GT(spd.generation(), generation);
    }

    std::vector<Policy::Id> ids_of(const std::vector<const Policy*>& v) const {
        std::vector<Policy::Id> out;
        for (const Policy* p : v) out.push_back(p->id);
        return out;
    }
    template <typename Pred>
    std::vector<Policy::Id> ref_ids(Pred pred) const {
        std::vector<Policy::Id> out;
        for (const Policy& p : ref)
            if (pred(p)) out.push_back(p.id);
        return out;
    }

    // The whole SPD as the model has it: order, contents, sub-databases.
    void check_order() const {
        ASSERT_EQ(spd.size(), ref.size());
        ASSERT_EQ(spd.policies().size(), ref.size());
        ASSERT_EQ(static_cast<std::size_t>(
                      std::distance(spd.policies().begin(), spd.policies().end())),
                  ref.size());
        std::size_t i = 0;
        for (const Policy& p : spd.policies()) {
            ASSERT_EQ(p.id, ref[i].id) << "position " << i;
            ASSERT_EQ(p.label, ref[i].label);
            ASSERT_EQ(spd.get(p.id), &p);
            ++i;
        }
        if (!ref.empty()) {
            EXPECT_EQ(spd.policies().front().id, ref.front().id);
        }
        EXPECT_EQ(ids_of(spd.spd_s()), ref_ids([](const Policy& p) { return p.action == Action::protect; }));
        EXPECT_EQ(ids_of(spd.spd_i()), ref_ids([](const Policy& p) {
                      return p.action != Action::protect && p.inbound;
                  }));
        EXPECT_EQ(ids_of(spd.spd_o()), ref_ids([](const Policy& p) {
                      return p.action != Action::protect && p.outbound;
                  }));
    }

    void check_lookups(int queries) {
        for (int q = 0; q < queries; ++q) {
            const FlowSelector f = random_flow();
            for (Direction d : {Direction::inbound, Direction::outbound}) {
                const Policy* expected = test::first_match_by_scan(ref, d, f);
                const Policy* got = spd.lookup(d, f);
                ASSERT_EQ(got == nullptr ? 0 : got->id, expected == nullptr ? 0 : expected->id)
                    << "query " << q;
            }
        }
        for (std::string_view peer : {"alice@a.example", "peer.b.example", "eve@c.example"}) {
            const FlowSelector f = random_flow();
            Policy probe;
            probe.remote = AddressSelector::single(f.remote);
            probe.local = AddressSelector::single(f.local);
            const SaSelector requested = derive_sa_selector(probe, f);
            Policy::Id expected = 0;
            for (const Policy& p : ref)
                if (p.action == Action::protect && p.name && name_matches(*p.name, peer) &&
                    p.admits(requested)) {
                    expected = p.id;
                    break;
                }
            const Policy* got = spd.lookup_for_peer(peer, requested);
            ASSERT_EQ(got == nullptr ? 0 : got->id, expected) << peer;
        }
    }

    void check(int queries) {
        check_order();
        check_lookups(queries);
    }

    Spd spd;
    std::vector<Policy> ref;
    std::vector<Policy::Id> seen;  // every id handed out, removed ones included

private:
    test::RandomSpd random_;
    int made_ = 0;
};

// With a gap of 2^63 at the ends, inserts at the front and appends halve
// the room left there: both ends of the key space run out within ~60.
constexpr std::uint64_t kHalvingEnds = std::uint64_t{1} << 63;

TEST(SpdOrder, RandomChangesAgreeWithLinearModel) {
    for (std::uint32_t seed : {1u, 2u, 3u, 4u}) {
        Model m(seed, seed % 2 == 0 ? kHalvingEnds : std::uint64_t{1} << 32);
        for (int i = 0; i < 30; ++i) m.add();
        for (int step = 0; step < 3000; ++step) {
            m.random_change();
            if (step % 10 == 0) m.check_lookups(20);
            if (step % 100 == 0) m.check_order();
            if (::testing::Test::HasFatalFailure()) return;
        }
        m.check(300);
    }
}

// Many inserts ahead of one policy: each new key halves the gap before it
// until there is none, and relabelling must keep order, buckets and lookups.
TEST(SpdOrder, InsertsAtOneSpotExhaustTheGapsAndRelabel) {
    Model m(7);
    for (int i = 0; i < 200; ++i) m.add();
    const Policy::Id target = m.ref[100].id;
    for (int i = 0; i < 3000; ++i) {
        const auto at = static_cast<std::size_t>(
            std::find_if(m.ref.begin(), m.ref.end(), [&](const Policy& p) { return p.id == target; }) -
            m.ref.begin());
        m.insert_at(at);
        if (i % 50 == 0) m.check(100);
        if (::testing::Test::HasFatalFailure()) return;
    }
    m.check(500);
    EXPECT_GT(m.spd.relabeled(), 0u);
}

// Each insert goes just ahead of the previous one, then each just after
// (ahead of the previous one's successor): both sides of a gap run out.
TEST(SpdOrder, InsertsChasingTheNewestPolicyRelabel) {
    Model m(11);
    for (int i = 0; i < 50; ++i) m.add();
    std::size_t at = 25;
    for (int i = 0; i < 2000; ++i) {
        m.insert_at(at);  // the new policy is now at `at`
        if (i % 2 == 1) ++at;  // next time: between it and its successor
        if (i % 100 == 0) m.check(30);
        if (::testing::Test::HasFatalFailure()) return;
    }
    m.check(500);
    EXPECT_GT(m.spd.relabeled(), 0u);
    // Then changes of every kind over the relabelled keys.
    for (int step = 0; step < 2000; ++step) {
        m.random_change();
        if (step % 50 == 0) m.check(20);
        if (::testing::Test::HasFatalFailure()) return;
    }
    m.check(300);
}

// Inserts at the very front (the data plane's pattern) and appends until
// the ends of the key space run out, with removals in between.
TEST(SpdOrder, InsertsAtBothEndsOfTheKeySpace) {
    Model m(13, kHalvingEnds);
    m.add();
    for (int round = 0; round < 4; ++round) {
        for (int i = 0; i < 300; ++i) m.insert_at(0);
        m.check(100);
        for (int i = 0; i < 300; ++i) m.add();
        m.check(100);
        for (int i = 0; i < 300; ++i) m.remove_at(m.rnd(static_cast<std::uint32_t>(m.ref.size())));
        m.check(100);
        if (::testing::Test::HasFatalFailure()) return;
    }
    EXPECT_GT(m.spd.relabeled(), 0u);
}

// The data plane's steady state: the costs must not come from relabelling.
TEST(SpdOrder, FrontInsertsAndRemovalsDoNotRelabel) {
    Spd spd;
    std::vector<Policy::Id> ids;
    for (std::uint32_t i = 0; i < 20000; ++i) {
        Policy p;
        p.action = Action::protect;
        p.remote = AddressSelector::single(IpAddress::v4(0x0a000000u + i));
        ids.push_back(spd.size() == 0 ? spd.add(p) : *spd.insert_before(spd.policies().front().id, p));
    }
    for (std::uint32_t i = 0; i < 20000; i += 2) ASSERT_TRUE(spd.remove(ids[i]));
    EXPECT_EQ(spd.relabeled(), 0u);
    for (std::uint32_t i = 0; i < 20000; ++i) {
        FlowSelector f;
        f.remote = IpAddress::v4(0x0a000000u + i);
        const Policy* p = spd.lookup(Direction::outbound, f);
        ASSERT_EQ(p == nullptr ? 0 : p->id, i % 2 == 1 ? ids[i] : 0) << i;
    }
}

// Relabelling is amortised O(log n) per insert, even at one spot.
TEST(SpdOrder, RelabellingStaysAmortisedLogarithmic) {
    Spd spd;
    Policy p;
    p.remote = AddressSelector::single(ip("10.0.0.1"));
    spd.add(p);
    const Policy::Id last = spd.add(p);
    constexpr int kInserts = 20000;
    for (int i = 0; i < kInserts; ++i) ASSERT_TRUE(spd.insert_before(last, p));
    EXPECT_GT(spd.relabeled(), 0u);
    EXPECT_LT(spd.relabeled(), 60u * kInserts);  // log2(20 000) ~ 14; n^2 would be 10^8
}

TEST(SpdOrder, ClearThenReuse) {
    Model m(17);
    for (int i = 0; i < 100; ++i) m.random_change();
    m.spd.clear();
    m.ref.clear();
    m.check(50);
    EXPECT_TRUE(m.spd.policies().empty());
    EXPECT_EQ(m.spd.policies().begin(), m.spd.policies().end());
    for (int i = 0; i < 500; ++i) m.random_change();
    m.check(200);
}

}  // namespace
}  // namespace mobiked::ipsec
