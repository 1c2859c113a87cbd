// CREATE_CHILD_SA: extra CHILD_SAs, CHILD_SA and IKE SA rekeying, PFS,
// simultaneous rekeys (RFC 7296 §1.3, §2.8) and lifetimes.
#include <gtest/gtest.h>

#include "ike/proposals.hpp"
#include "sim/ike/sim_network.hpp"

namespace mobiked::sim {
namespace {

const Endpoint kI{*IpAddress::parse("192.0.2.1"), 500};
const Endpoint kR{*IpAddress::parse("192.0.2.2"), 500};

struct Established {
    Network net;
    Node* i;
    Node* r;
    explicit Established(PairOptions o = {}, std::function<void(Config&, Config&)> tweak = nullptr,
                         std::uint64_t seed = 21)
        : net(seed) {
        Config ic = initiator_config(o), rc = responder_config(o);
        if (tweak) tweak(ic, rc);
        i = &net.add_node("moon", {"192.0.2.1"}, ic, seed + 1);
        r = &net.add_node("sun", {"192.0.2.2"}, rc, seed + 2);
        Output out;
        EXPECT_TRUE(i->engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
        net.apply(*i, out);
        EXPECT_TRUE(net.run_until([&] { return r->has_event(Event::Kind::child_established) &&
                                               i->has_event(Event::Kind::child_established); },
                                  std::chrono::seconds(5)));
    }
    IkeSaInfo ike(Node* n) { return n->engine->list_sas().at(0); }
    void settle() { net.run_for(std::chrono::seconds(2)); }
};

// Installed CHILD_SAs pair up across the two nodes with equal keys.
void expect_paired(const Node& a, const Node& b) {
    ASSERT_EQ(a.installed.size(), b.installed.size());
    for (const auto& x : a.installed) {
        const InstallChildSa* y = b.child_by_spi_in(x.spi_out);
        ASSERT_NE(y, nullptr) << "no peer SA for outbound SPI " << x.spi_out;
        EXPECT_EQ(y->spi_out, x.spi_in);
        EXPECT_EQ(x.outbound.encr_key, y->inbound.encr_key);
        EXPECT_EQ(x.inbound.encr_key, y->outbound.encr_key);
    }
}

TEST(Rekey, ChildRekeyByInitiatorReplacesSpisAndDeletesOld) {
    Established e;
    auto before = e.i->installed.at(0);
    Output out;
    ASSERT_TRUE(e.i->engine->rekey_child(e.ike(e.i).id, e.ike(e.i).children.at(0).child_id, e.net.now(), out).ok());
    e.net.apply(*e.i, out);
    e.settle();
    ASSERT_EQ(e.i->installed.size(), 1u);
    EXPECT_NE(e.i->installed[0].spi_in, before.spi_in);
    EXPECT_NE(e.i->installed[0].outbound.encr_key, before.outbound.encr_key);
    expect_paired(*e.i, *e.r);
    EXPECT_EQ(e.i->count_events(Event::Kind::child_established), 2u);
    EXPECT_EQ(e.r->count_events(Event::Kind::child_deleted), 1u);
    EXPECT_TRUE(e.i->logged("CREATE_CHILD_SA request 2 [ N(REKEY_SA) SA No TSi TSr ]"));
}

TEST(Rekey, ChildRekeyByResponderWithPfs) {
    PairOptions o;
    o.initiator_esp = o.responder_esp = "aes256gcm16-x25519";
    Established e(o);
    Output out;
    auto info = e.ike(e.r);
    ASSERT_TRUE(e.r->engine->rekey_child(info.id, info.children.at(0).child_id, e.net.now(), out).ok());
    e.net.apply(*e.r, out);
    e.settle();
    ASSERT_EQ(e.r->installed.size(), 1u);
    expect_paired(*e.i, *e.r);
    EXPECT_TRUE(e.r->logged("CREATE_CHILD_SA request 0 [ N(REKEY_SA) SA No KE TSi TSr ]"));
    EXPECT_TRUE(e.i->logged("CREATE_CHILD_SA response 0 [ SA No KE TSi TSr ]"));
}

TEST(Rekey, PfsGroupMismatchRetriesWithPeersGroup) {
    Established e({}, [](Config& ic, Config& rc) {
        ic.connections[0].children[0].esp_proposals = *parse_proposals({"aes128gcm16-x25519-ecp256"}, wire::ProtocolId::esp);
        rc.connections[0].children[0].esp_proposals = *parse_proposals({"aes128gcm16-ecp256"}, wire::ProtocolId::esp);
    });
    // IKE_AUTH's child needs no KE, so it established; the rekey needs PFS.
    Output out;
    ASSERT_TRUE(e.i->engine->rekey_child(e.ike(e.i).id, e.ike(e.i).children.at(0).child_id, e.net.now(), out).ok());
    e.net.apply(*e.i, out);
    e.settle();
    EXPECT_TRUE(e.r->logged("CREATE_CHILD_SA response 2 [ N(INVALID_KE_PAYLOAD) ]"));
    ASSERT_EQ(e.i->installed.size(), 1u);
    EXPECT_EQ(e.i->count_events(Event::Kind::child_established), 2u);
    expect_paired(*e.i, *e.r);
}

TEST(Rekey, AdditionalChildSa) {
    Established e({}, [](Config& ic, Config& rc) {
        ChildConfig dns = ic.connections[0].children[0];
        dns.name = "dns";
        dns.remote_ts = {*TsSpec::parse("10.53.0.0/24[udp/53]")};
        ic.connections[0].children.push_back(dns);
        ChildConfig rdns = rc.connections[0].children[0];
        rdns.name = "dns";
        rdns.local_ts = {*TsSpec::parse("10.53.0.0/16")};
        rc.connections[0].children.push_back(rdns);
    });
    Output out;
    ASSERT_TRUE(e.i->engine->create_child(e.ike(e.i).id, "dns", e.net.now(), out).ok());
    e.net.apply(*e.i, out);
    e.settle();
    ASSERT_EQ(e.i->installed.size(), 2u);
    expect_paired(*e.i, *e.r);
    EXPECT_EQ(e.i->installed[1].remote_ts.at(0).to_string(), "10.53.0.0/24[17/53]");
}

TEST(Rekey, IkeRekeyKeepsChildrenAndNewKeysWork) {
    Established e;
    auto old = e.ike(e.i);
    auto child_spi = e.i->installed.at(0).spi_in;
    Output out;
    ASSERT_TRUE(e.i->engine->rekey_ike(old.id, e.net.now(), out).ok());
    e.net.apply(*e.i, out);
    e.settle();
    ASSERT_EQ(e.i->engine->ike_sa_count(), 1u);
    ASSERT_EQ(e.r->engine->ike_sa_count(), 1u);
    auto ni = e.ike(e.i), nr = e.ike(e.r);
    EXPECT_NE(ni.spi_i, old.spi_i);
    EXPECT_EQ(ni.spi_i, nr.spi_i);
    EXPECT_EQ(ni.spi_r, nr.spi_r);
    EXPECT_TRUE(ni.mobike);  // MOBIKE state carries over
    ASSERT_EQ(ni.children.size(), 1u);
    EXPECT_EQ(e.i->installed.at(0).spi_in, child_spi);  // CHILD_SAs untouched
    EXPECT_TRUE(e.i->has_event(Event::Kind::ike_rekeyed));
    EXPECT_TRUE(e.r->has_event(Event::Kind::ike_rekeyed));
    // The successor's keys agree: a CHILD_SA rekey over it succeeds.
    ASSERT_TRUE(e.r->engine->rekey_child(nr.id, nr.children.at(0).child_id, e.net.now(), out).ok());
    e.net.apply(*e.r, out);
    e.settle();
    ASSERT_EQ(e.r->installed.size(), 1u);
    EXPECT_NE(e.r->installed.at(0).spi_out, child_spi);
    expect_paired(*e.i, *e.r);
}

TEST(Rekey, IkeRekeyByResponderThenDelete) {
    Established e;
    Output out;
    ASSERT_TRUE(e.r->engine->rekey_ike(e.ike(e.r).id, e.net.now(), out).ok());
    e.net.apply(*e.r, out);
    e.settle();
    ASSERT_EQ(e.i->engine->ike_sa_count(), 1u);
    ASSERT_EQ(e.r->engine->ike_sa_count(), 1u);
    // The rekeying responder is now the new SA's original initiator.
    EXPECT_TRUE(e.ike(e.r).initiator);
    EXPECT_FALSE(e.ike(e.i).initiator);
    ASSERT_TRUE(e.i->engine->terminate_ike(e.ike(e.i).id, e.net.now(), out).ok());
    e.net.apply(*e.i, out);
    e.settle();
    EXPECT_EQ(e.i->engine->ike_sa_count(), 0u);
    EXPECT_EQ(e.r->engine->ike_sa_count(), 0u);
    EXPECT_TRUE(e.i->installed.empty());
    EXPECT_TRUE(e.r->installed.empty());
}

TEST(Rekey, SimultaneousChildRekeyLeavesExactlyOnePair) {
    for (std::uint64_t seed = 30; seed < 40; ++seed) {
        Established e({}, nullptr, seed);
        Output oi, orr;
        auto ii = e.ike(e.i), ir = e.ike(e.r);
        ASSERT_TRUE(e.i->engine->rekey_child(ii.id, ii.children.at(0).child_id, e.net.now(), oi).ok());
        ASSERT_TRUE(e.r->engine->rekey_child(ir.id, ir.children.at(0).child_id, e.net.now(), orr).ok());
        e.net.apply(*e.i, oi);
        e.net.apply(*e.r, orr);
        e.net.run_for(std::chrono::seconds(5));
        ASSERT_EQ(e.i->installed.size(), 1u) << "seed " << seed;
        ASSERT_EQ(e.r->installed.size(), 1u) << "seed " << seed;
        expect_paired(*e.i, *e.r);
        EXPECT_NE(e.i->installed[0].spi_in, ii.children[0].spi_in);
        EXPECT_TRUE(e.i->logged("simultaneous rekey")) << "seed " << seed;
    }
}

// Both ends rekey the IKE SA at the same moment (RFC 7296 §2.8.2): both
// exchanges complete; the new SA whose exchange had the lowest of the four
// nonces is deleted by the end that made it, the other inherits the
// CHILD_SAs on both ends, and its maker deletes the old SA.
struct IkeCollisionOutcome {
    bool i_won = false;  // moon's new SA survived the nonce comparison
    bool r_won = false;
    bool temporary_failure = false;
};

IkeCollisionOutcome simultaneous_ike_rekey(std::uint64_t seed, Duration to_i, Duration to_r,
                                           std::function<Verdict(Datagram&)> filter = nullptr) {
    Established e({}, nullptr, seed);
    e.net.set_latency_to(0, to_i);
    e.net.set_latency_to(1, to_r);
    if (filter) e.net.set_filter(filter);
    const std::string at = "seed " + std::to_string(seed);
    auto oi = e.ike(e.i), orr = e.ike(e.r);
    const auto child_i = e.i->installed.at(0).spi_in, child_r = e.r->installed.at(0).spi_in;
    Output a, b;
    EXPECT_TRUE(e.i->engine->rekey_ike(oi.id, e.net.now(), a).ok());
    EXPECT_TRUE(e.r->engine->rekey_ike(orr.id, e.net.now(), b).ok());
    e.net.apply(*e.i, a);
    e.net.apply(*e.r, b);
    e.net.run_for(std::chrono::seconds(30));
    EXPECT_EQ(e.i->engine->ike_sa_count(), 1u) << at;
    EXPECT_EQ(e.r->engine->ike_sa_count(), 1u) << at;
    if (e.i->engine->ike_sa_count() != 1 || e.r->engine->ike_sa_count() != 1) {
        for (const Node* n : {e.i, e.r})
            for (const auto& l : n->log) ADD_FAILURE() << n->name << ": " << l;
        return {};
    }
    auto ni = e.ike(e.i), nr = e.ike(e.r);
    EXPECT_NE(ni.id, oi.id) << at;
    EXPECT_NE(nr.id, orr.id) << at;
    EXPECT_NE(ni.spi_i, oi.spi_i) << at;
    EXPECT_EQ(ni.spi_i, nr.spi_i) << at;
    EXPECT_EQ(ni.spi_r, nr.spi_r) << at;
    EXPECT_NE(ni.initiator, nr.initiator) << at;
    EXPECT_EQ(ni.children.size(), 1u) << at;
    EXPECT_EQ(nr.children.size(), 1u) << at;
    EXPECT_EQ(e.i->installed.size(), 1u) << at;
    EXPECT_EQ(e.i->installed.at(0).spi_in, child_i) << at;  // CHILD_SAs untouched, only moved
    EXPECT_EQ(e.r->installed.at(0).spi_in, child_r) << at;
    expect_paired(*e.i, *e.r);
    // One successor reported on each end, no CHILD_SA lost on the way.
    EXPECT_EQ(e.i->count_events(Event::Kind::ike_rekeyed), 1u) << at;
    EXPECT_EQ(e.r->count_events(Event::Kind::ike_rekeyed), 1u) << at;
    EXPECT_EQ(e.i->count_events(Event::Kind::child_deleted), 0u) << at;
    EXPECT_EQ(e.r->count_events(Event::Kind::child_deleted), 0u) << at;
    EXPECT_FALSE(e.i->has_event(Event::Kind::ike_failed)) << at;
    EXPECT_FALSE(e.r->has_event(Event::Kind::ike_failed)) << at;
    // The survivor's keys agree: a CHILD_SA rekey over it from either end works.
    Output c;
    EXPECT_TRUE(e.i->engine->rekey_child(ni.id, ni.children.at(0).child_id, e.net.now(), c).ok());
    e.net.apply(*e.i, c);
    e.net.run_for(std::chrono::seconds(5));
    EXPECT_TRUE(e.r->engine->rekey_child(nr.id, e.ike(e.r).children.at(0).child_id, e.net.now(), c).ok());
    e.net.apply(*e.r, c);
    e.net.run_for(std::chrono::seconds(5));
    EXPECT_EQ(e.i->installed.size(), 1u) << at;
    EXPECT_NE(e.i->installed.at(0).spi_in, child_i) << at;
    expect_paired(*e.i, *e.r);
    EXPECT_EQ(e.i->engine->ike_sa_count(), 1u) << at;
    EXPECT_EQ(e.i->logged(") is redundant"), e.r->logged(") survives, the peer deletes")) << at;
    EXPECT_EQ(e.r->logged(") is redundant"), e.i->logged(") survives, the peer deletes")) << at;
    return {e.i->logged(") survives, the peer deletes"), e.r->logged(") survives, the peer deletes"),
            e.i->logged("TEMPORARY_FAILURE") || e.r->logged("TEMPORARY_FAILURE")};
}

TEST(Rekey, SimultaneousIkeRekeyLeavesOneNewIkeSa) {
    using std::chrono::milliseconds;
    unsigned i_wins = 0, r_wins = 0;
    for (std::uint64_t seed = 40; seed < 52; ++seed) {
        // Symmetric, and asymmetric either way round (each request then
        // arrives at a different point of the other's exchange).
        for (auto [to_i, to_r] : {std::pair{milliseconds(5), milliseconds(5)}, {milliseconds(1), milliseconds(40)},
                                  {milliseconds(40), milliseconds(1)}}) {
            auto o = simultaneous_ike_rekey(seed, to_i, to_r);
            EXPECT_NE(o.i_won, o.r_won) << "seed " << seed << ": exactly one end's new SA survives";
            EXPECT_FALSE(o.temporary_failure) << "seed " << seed;
            i_wins += o.i_won;
            r_wins += o.r_won;
        }
    }
    // Which exchange survives follows the nonces: over the seeds both do.
    EXPECT_GT(i_wins, 0u);
    EXPECT_GT(r_wins, 0u);
}

// The responder's rekey request is lost once, so moon sees no collision: it
// completes its rekey and deletes the old SA. Sun, whose rekey is still in
// flight, answers that Delete as usual and forgets its rekey (§2.25.2);
// moon's new SA, the only one, inherits the CHILD_SAs on sun too.
TEST(Rekey, SimultaneousIkeRekeyWithOneRequestDelayed) {
    for (std::uint64_t seed = 60; seed < 66; ++seed) {
        bool dropped = false;
        auto o = simultaneous_ike_rekey(seed, std::chrono::milliseconds(5), std::chrono::milliseconds(5), [&](Datagram& dg) {
            // From sun, CREATE_CHILD_SA (36), a request (no response flag 0x20).
            if (!dropped && dg.local.address.to_string() == "192.0.2.2" && dg.data.size() > 19 && dg.data[18] == 36 &&
                !(dg.data[19] & 0x20)) {
                dropped = true;
                return Verdict::drop;
            }
            return Verdict::deliver;
        });
        EXPECT_TRUE(dropped);
        EXPECT_FALSE(o.i_won || o.r_won) << "seed " << seed;  // no collision seen to resolve by nonces
    }
}

// While the IKE SA is being rekeyed, a CHILD_SA rekey request for it is
// answered with TEMPORARY_FAILURE (§2.25.2) and retried on the new SA.
TEST(Rekey, ChildRekeyDuringIkeRekeyIsRetriedLater) {
    Established e;
    Output a, b;
    auto ir = e.ike(e.r);
    ASSERT_TRUE(e.i->engine->rekey_ike(e.ike(e.i).id, e.net.now(), a).ok());
    ASSERT_TRUE(e.r->engine->rekey_child(ir.id, ir.children.at(0).child_id, e.net.now(), b).ok());
    e.net.apply(*e.i, a);
    e.net.apply(*e.r, b);
    e.net.run_for(std::chrono::seconds(10));
    EXPECT_TRUE(e.i->logged("CREATE_CHILD_SA response 0 [ N(TEMPORARY_FAILURE) ]"));
    ASSERT_EQ(e.i->engine->ike_sa_count(), 1u);
    ASSERT_EQ(e.r->engine->ike_sa_count(), 1u);
    EXPECT_EQ(e.ike(e.i).spi_r, e.ike(e.r).spi_r);
    ASSERT_EQ(e.i->installed.size(), 1u);
    expect_paired(*e.i, *e.r);
}

TEST(Rekey, SoftLifetimeRekeysBeforeHardLifetime) {
    Established e({}, [](Config& ic, Config&) {
        ic.connections[0].children[0].lifetimes.rekey_time = std::chrono::seconds(60);
        ic.connections[0].children[0].lifetimes.life_time = std::chrono::seconds(90);
    });
    e.net.run_for(std::chrono::seconds(400));
    // About every 54-60 s a new CHILD_SA replaces the old; never none, never two.
    EXPECT_GE(e.i->count_events(Event::Kind::child_established), 7u);
    ASSERT_EQ(e.i->installed.size(), 1u);
    expect_paired(*e.i, *e.r);
}

TEST(Rekey, HardLifetimeWithoutRekeyDeletes) {
    Established e({}, [](Config& ic, Config&) {
        ic.connections[0].children[0].lifetimes.rekey_time = Duration::zero();
        ic.connections[0].children[0].lifetimes.life_time = std::chrono::seconds(30);
    });
    e.net.run_for(std::chrono::seconds(40));
    EXPECT_TRUE(e.i->installed.empty());
    EXPECT_TRUE(e.r->installed.empty());
    EXPECT_EQ(e.i->engine->ike_sa_count(), 1u);
}

TEST(Rekey, IkeSoftLifetimeRekeysIkeSa) {
    Established e({}, [](Config& ic, Config&) { ic.connections[0].ike_lifetimes.rekey_time = std::chrono::seconds(100); });
    auto first = e.ike(e.i);
    e.net.run_for(std::chrono::seconds(250));
    ASSERT_EQ(e.i->engine->ike_sa_count(), 1u);
    ASSERT_EQ(e.r->engine->ike_sa_count(), 1u);
    EXPECT_NE(e.ike(e.i).spi_i, first.spi_i);
    EXPECT_GE(e.i->count_events(Event::Kind::ike_rekeyed), 2u);
    expect_paired(*e.i, *e.r);
}

}  // namespace
}  // namespace mobiked::sim
