// MOBIKE (RFC 4555) between two engines: moves, return routability, NAT
// changes, and an attacker rewriting or replaying updates.
#include <gtest/gtest.h>

#include "sim/ike/sim_network.hpp"

namespace mobiked::sim {
namespace {

const Endpoint kI{*IpAddress::parse("192.0.2.1"), 500};
const Endpoint kR{*IpAddress::parse("192.0.2.2"), 500};
const Endpoint kI2{*IpAddress::parse("198.51.100.7"), 4500};  // the initiator's second uplink
const Endpoint kR4500{*IpAddress::parse("192.0.2.2"), 4500};

struct MobikePair {
    Network net{41};
    Node* i;
    Node* r;
    Node* victim;
    MobikePair() {
        i = &net.add_node("moon", {"192.0.2.1", "198.51.100.7"}, initiator_config({}), 42);
        r = &net.add_node("sun", {"192.0.2.2"}, responder_config({}), 43);
        victim = &net.add_node("victim", {"203.0.113.66"}, Config{}, 44);
        Output out;
        EXPECT_TRUE(i->engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
        net.apply(*i, out);
        EXPECT_TRUE(net.run_until([&] { return r->has_event(Event::Kind::child_established) &&
                                               i->has_event(Event::Kind::child_established); },
                                  std::chrono::seconds(5)));
    }
    std::uint64_t id(Node* n) { return n->engine->list_sas().at(0).id; }
    Status move(const Endpoint& local, const Endpoint& remote) {
        Output out;
        Status st = i->engine->move(id(i), local, remote, net.now(), out);
        net.apply(*i, out);
        return st;
    }
};

TEST(Mobike, InitiatorMovesAndBothSidesFollowInPlace) {
    MobikePair p;
    const auto spi_in = p.i->installed.at(0).spi_in;
    const auto key = p.i->installed.at(0).outbound.encr_key;
    ASSERT_TRUE(p.move(kI2, kR4500).ok());
    // INFORMATIONAL { N(UPDATE_SA_ADDRESSES), N(NATD_S), N(NATD_D), N(COOKIE2) } -->
    // <-- INFORMATIONAL { N(NATD_S), N(NATD_D), N(COOKIE2) }
    // <-- INFORMATIONAL { N(COOKIE2) }   (the responder checks the new address)
    // INFORMATIONAL { N(COOKIE2) } -->
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_moved) && p.r->has_event(Event::Kind::ike_moved); },
                                std::chrono::seconds(5)));
    auto si = p.i->engine->list_sas().at(0), sr = p.r->engine->list_sas().at(0);
    EXPECT_EQ(si.local, kI2);
    EXPECT_EQ(sr.remote, kI2);
    EXPECT_TRUE(p.i->logged("sending INFORMATIONAL request 2 [ N(UPD_SA_ADDR) N(NATD_S_IP) N(NATD_D_IP) N(COOKIE2) ]"));
    EXPECT_TRUE(p.r->logged("sending INFORMATIONAL request 0 [ N(COOKIE2) ] to 198.51.100.7:4500"));
    // No rekey, no new SA: same SPIs and keys.
    ASSERT_EQ(p.i->installed.size(), 1u);
    EXPECT_EQ(p.i->installed[0].spi_in, spi_in);
    EXPECT_EQ(p.i->installed[0].outbound.encr_key, key);
    EXPECT_EQ(p.i->count_events(Event::Kind::child_established), 1u);
    EXPECT_FALSE(si.nat_local);
    EXPECT_FALSE(sr.nat_remote);
}

TEST(Mobike, ResponderCannotMoveTheSa) {
    MobikePair p;
    Output out;
    Status st = p.r->engine->move(p.id(p.r), kR4500, kI2, p.net.now(), out);
    EXPECT_FALSE(st.ok());
}

TEST(Mobike, LostUpdateIsRetransmittedOnTheNewPath) {
    MobikePair p;
    int dropped = 0;
    p.net.set_filter([&](Datagram& dg) {
        if (dg.local == kI2 && dropped < 2) {
            ++dropped;
            return Verdict::drop;
        }
        return Verdict::deliver;
    });
    ASSERT_TRUE(p.move(kI2, kR4500).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved); }, std::chrono::seconds(20)));
    EXPECT_EQ(dropped, 2);
    EXPECT_EQ(p.r->engine->list_sas().at(0).remote, kI2);
}

TEST(Mobike, NatAppearingIsDetectedAndEspEncapsulated) {
    MobikePair p;
    // A NAT on the new uplink rewrites the initiator's source to 203.0.113.9:31000.
    const Endpoint public_ep{*IpAddress::parse("203.0.113.9"), 31000};
    p.net.set_filter([&](Datagram& dg) {
        if (dg.local == kI2) dg.local = public_ep;
        if (dg.remote == public_ep) dg.remote = kI2;
        return Verdict::deliver;
    });
    // The NAT's public address must route back to the initiator in the simulation.
    p.i->addresses.push_back(public_ep.address);
    ASSERT_TRUE(p.move(kI2, kR4500).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_moved) && p.r->has_event(Event::Kind::ike_moved); },
                                std::chrono::seconds(5)));
    auto si = p.i->engine->list_sas().at(0), sr = p.r->engine->list_sas().at(0);
    EXPECT_TRUE(si.nat_local);
    EXPECT_TRUE(sr.nat_remote);
    EXPECT_EQ(sr.remote, public_ep);
}

TEST(Mobike, RewrittenSourceAddressGetsNoEspBeforeReturnRoutability) {
    MobikePair p;
    // An attacker on the path rewrites the source of the genuine update to a
    // victim's address, hoping the gateway will flood the victim with ESP.
    bool rewritten = false;
    p.net.set_filter([&](Datagram& dg) {
        if (dg.local == kI2 && !rewritten) {
            rewritten = true;
            dg.local = {*IpAddress::parse("203.0.113.66"), 4500};
        }
        return Verdict::deliver;
    });
    std::size_t r_commands_before = 0;
    ASSERT_TRUE(p.move(kI2, kR4500).ok());
    p.net.run_for(std::chrono::milliseconds(500));
    // The responder answered to the victim, then probed it with COOKIE2; the
    // victim knows nothing, so no UpdateSaAddresses towards it ever happens.
    EXPECT_FALSE(p.r->has_event(Event::Kind::ike_moved));
    EXPECT_GT(p.victim->received, r_commands_before);
    // The initiator retransmits its update from its real new address; that
    // path answers the check and the SA moves there, not to the victim.
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved); }, std::chrono::seconds(30)));
    EXPECT_EQ(p.r->engine->list_sas().at(0).remote, kI2);
}

TEST(Mobike, ReplayedOldUpdateIsIgnored) {
    MobikePair p;
    Bytes first_update;
    p.net.set_filter([&](Datagram& dg) {
        if (dg.local == kI2 && first_update.empty()) first_update = dg.data;
        return Verdict::deliver;
    });
    ASSERT_TRUE(p.move(kI2, kR4500).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::ike_moved) == 1; }, std::chrono::seconds(5)));
    p.net.run_for(std::chrono::seconds(1));
    // Move back, then replay the first update from the old path's address.
    ASSERT_TRUE(p.move(kI, kR4500).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::ike_moved) == 2; }, std::chrono::seconds(5)));
    p.net.run_for(std::chrono::seconds(1));
    ASSERT_FALSE(first_update.empty());
    Output out;
    p.r->engine->on_datagram({kR4500, kI2, first_update}, p.net.now(), out);
    p.net.apply(*p.r, out);
    p.net.run_for(std::chrono::seconds(2));
    // Its message ID is stale: no answer, no move.
    EXPECT_EQ(p.r->count_events(Event::Kind::ike_moved), 2u);
    EXPECT_EQ(p.r->engine->list_sas().at(0).remote.address, kI.address);
}

}  // namespace
}  // namespace mobiked::sim
