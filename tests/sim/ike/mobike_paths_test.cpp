// MOBIKE path management in the engine: address lists (RFC 4555 §3.6), a
// responder that moves, moves racing other exchanges, and the initiator's
// path liveness (§3.11) that detects a path going silent without any
// address event.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>

#include "sim/ike/sim_network.hpp"

namespace mobiked::sim {
namespace {

using namespace std::chrono_literals;

const IpAddress kIAddr = *IpAddress::parse("192.0.2.1");
const IpAddress kI2Addr = *IpAddress::parse("198.51.100.7");
const IpAddress kRAddr = *IpAddress::parse("192.0.2.2");
const IpAddress kR2Addr = *IpAddress::parse("192.0.2.20");
const Endpoint kI{kIAddr, 500};
const Endpoint kR{kRAddr, 500};
const Endpoint kI2{kI2Addr, 4500};
const Endpoint kR2{kR2Addr, 4500};

struct Pair {
    Network net{57};
    Node* i;
    Node* r;
    // `announce`: both ends know their address lists before IKE_AUTH, which carries them.
    explicit Pair(const std::function<void(Config&)>& tweak_initiator = {}, bool announce = false) {
        // Not pinned to one address each: both ends may use (and announce) all of theirs.
        Config ic = initiator_config({}), rc = responder_config({});
        for (auto& c : ic.connections) c.local_addrs.clear();
        for (auto& c : rc.connections) c.local_addrs.clear();
        if (tweak_initiator) tweak_initiator(ic);
        i = &net.add_node("moon", {"192.0.2.1", "198.51.100.7"}, ic, 42);
        r = &net.add_node("sun", {"192.0.2.2", "192.0.2.20"}, rc, 43);
        if (announce) {
            set_addresses(i, {kIAddr, kI2Addr});
            set_addresses(r, {kRAddr, kR2Addr});
        }
        Output out;
        EXPECT_TRUE(i->engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
        net.apply(*i, out);
        EXPECT_TRUE(net.run_until([&] { return r->has_event(Event::Kind::child_established) &&
                                               i->has_event(Event::Kind::child_established); },
                                  5s));
    }
    IkeSaInfo sa(Node* n) { return n->engine->list_sas().at(0); }
    void set_addresses(Node* n, std::vector<IpAddress> a) {
        Output out;
        n->engine->set_local_addresses(std::move(a), net.now(), out);
        net.apply(*n, out);
    }
    Status move(const Endpoint& local, const Endpoint& remote) {
        Output out;
        Status st = i->engine->move(sa(i).id, local, remote, net.now(), out);
        net.apply(*i, out);
        return st;
    }
    std::size_t logged_count(Node* n, const std::string& needle) {
        return static_cast<std::size_t>(
            std::count_if(n->log.begin(), n->log.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; }));
    }
};

TEST(MobikePaths, AddressListIsAnnouncedAndRecordedWithTheSender) {
    Pair p;
    p.set_addresses(p.i, {kIAddr, kI2Addr});
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::peer_addresses); }, 2s));
    EXPECT_TRUE(p.i->logged("[ N(ADD_4_ADDR) ]"));
    // The peer's list: the address the announcement came from, then the listed ones.
    EXPECT_EQ(p.sa(p.r).peer_addresses, (std::vector<IpAddress>{kIAddr, kI2Addr}));
    // The second uplink goes: the list shrinks to the sender alone.
    p.set_addresses(p.i, {kIAddr});
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::peer_addresses) == 2; }, 2s));
    EXPECT_TRUE(p.i->logged("[ N(NO_ADD_ADDR) ]"));
    EXPECT_EQ(p.sa(p.r).peer_addresses, (std::vector<IpAddress>{kIAddr}));
    // Nothing moved: announcements are information, not updates.
    EXPECT_FALSE(p.r->has_event(Event::Kind::ike_moved));
    EXPECT_EQ(p.sa(p.r).remote.address, kIAddr);
}

TEST(MobikePaths, AnUpdateCarriesTheNewListAndReplacesTheAnnouncement) {
    Pair p;
    // The address monitor reports a change and the path manager moves in the
    // same breath: one exchange, the update, carries both.
    p.set_addresses(p.i, {kI2Addr});
    ASSERT_TRUE(p.move(kI2, {kRAddr, 4500}).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved) && p.i->has_event(Event::Kind::ike_moved); }, 2s));
    p.net.run_for(1s);
    EXPECT_TRUE(p.i->logged("N(UPD_SA_ADDR) N(NATD_S_IP) N(NATD_D_IP) N(NO_ADD_ADDR) N(COOKIE2)"));
    EXPECT_EQ(p.logged_count(p.i, "sending INFORMATIONAL request"), 1u);
    EXPECT_EQ(p.sa(p.r).peer_addresses, (std::vector<IpAddress>{kI2Addr}));
}

TEST(MobikePaths, ResponderThatLosesItsAddressAnnouncesAndTheInitiatorMovesToIt) {
    Pair p;
    ASSERT_TRUE(p.move(kI, {kRAddr, 4500}).ok());  // onto port 4500 first, as after any MOBIKE start
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved); }, 2s));
    // 192.0.2.2 goes away on the responder.
    std::erase(p.r->addresses, kRAddr);
    p.set_addresses(p.r, {kR2Addr});
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::peer_addresses); }, 2s));
    EXPECT_TRUE(p.r->logged("[ N(NO_ADD_ADDR) ] to 192.0.2.1:500"));
    const auto listed = p.sa(p.i).peer_addresses;
    ASSERT_EQ(listed, (std::vector<IpAddress>{kR2Addr}));
    // The responder does not move the SA itself (RFC 4555 §3.5)...
    EXPECT_EQ(p.r->count_events(Event::Kind::ike_moved), 1u);
    // ...the initiator, seeing its remote no longer listed, does.
    ASSERT_TRUE(p.move(kI, kR2).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::ike_moved) == 2 &&
                                             p.i->count_events(Event::Kind::ike_moved) == 2; },
                                2s));
    EXPECT_EQ(p.sa(p.r).local.address, kR2Addr);
    EXPECT_EQ(p.sa(p.i).remote, kR2);
    ASSERT_EQ(p.i->installed.size(), 1u);
    EXPECT_EQ(p.i->installed[0].remote, kR2);
    EXPECT_EQ(p.r->installed[0].local, kR2);
}

TEST(MobikePaths, BothEndsMoveAtOnceAndFindEachOtherFromTheAnnouncedLists) {
    Pair p([](Config& c) { for (auto& conn : c.connections) conn.path_timeout = 300ms; }, true);
    // IKE_AUTH carried both lists.
    EXPECT_EQ(p.sa(p.i).peer_addresses, (std::vector<IpAddress>{kRAddr, kR2Addr}));
    EXPECT_EQ(p.sa(p.r).peer_addresses, (std::vector<IpAddress>{kIAddr, kI2Addr}));
    ASSERT_TRUE(p.move(kI, {kRAddr, 4500}).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved); }, 2s));
    // Both lose their address in the same instant: the initiator's update goes
    // to the responder's old address, the responder's announcement to the
    // initiator's old one; both are lost.
    std::erase(p.r->addresses, kRAddr);
    std::erase(p.i->addresses, kIAddr);
    p.set_addresses(p.r, {kR2Addr});
    p.set_addresses(p.i, {kI2Addr});
    ASSERT_TRUE(p.move(kI2, {kRAddr, 4500}).ok());
    // The initiator's liveness gives up on that pair; the path manager's next
    // pair is the responder's other announced address.
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::path_failed); }, 2s));
    ASSERT_TRUE(p.move(kI2, kR2).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::ike_moved) == 2 &&
                                             p.i->count_events(Event::Kind::ike_moved) >= 2; },
                                10s));
    EXPECT_EQ(p.sa(p.i).local, kI2);
    EXPECT_EQ(p.sa(p.i).remote, kR2);
    EXPECT_EQ(p.sa(p.r).remote, kI2);
    EXPECT_EQ(p.sa(p.r).local, kR2);
    EXPECT_EQ(p.r->installed.at(0).remote, kI2);
    EXPECT_EQ(p.i->installed.at(0).remote, kR2);
}

TEST(MobikePaths, MoveDuringAChildRekeyCompletesBoth) {
    Pair p;
    const auto old_spi = p.i->installed.at(0).spi_in;
    Output out;
    ASSERT_TRUE(p.i->engine->rekey_child(p.sa(p.i).id, p.sa(p.i).children.at(0).child_id, p.net.now(), out).ok());
    p.net.apply(*p.i, out);
    // The CREATE_CHILD_SA is in flight when the initiator moves.
    ASSERT_TRUE(p.move(kI2, {kRAddr, 4500}).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved) && p.i->has_event(Event::Kind::ike_moved) &&
                                             p.i->has_event(Event::Kind::child_rekeyed); },
                                5s));
    p.net.run_for(6s);  // the rekeyed SA's grace period
    ASSERT_EQ(p.i->installed.size(), 1u);
    EXPECT_NE(p.i->installed[0].spi_in, old_spi);
    // The new CHILD_SA lives on the new path on both ends.
    EXPECT_EQ(p.i->installed[0].local.address, kI2Addr);
    EXPECT_EQ(p.r->installed.at(0).remote.address, kI2Addr);
}

Config with_path_timeout(Config c) {
    for (auto& conn : c.connections) conn.path_timeout = 300ms;
    return c;
}

TEST(MobikePaths, SilentPathIsDetectedWithinTheTimeoutAndFailsOver) {
    Pair p([](Config& c) { c = with_path_timeout(std::move(c)); });
    ASSERT_TRUE(p.move(kI, {kRAddr, 4500}).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved); }, 2s));
    p.net.run_for(1s);
    // The first uplink stops carrying anything, in both directions, with no
    // address or link event.
    std::size_t probes_on_dead_path = 0;
    p.net.set_filter([&](Datagram& dg) {
        if (dg.local.address == kIAddr || dg.remote.address == kIAddr) {
            if (dg.local.address == kIAddr) ++probes_on_dead_path;
            return Verdict::drop;
        }
        return Verdict::deliver;
    });
    const Time cut = p.net.now();
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::path_failed); }, 2s));
    const Duration detected = p.net.now() - cut;
    EXPECT_LE(detected, 301ms);
    EXPECT_GE(detected, 200ms);  // a probe every 75 ms answered in 10: the last answer was at most 85 ms old
    EXPECT_GE(probes_on_dead_path, 3u);  // resent at the probe pace, not the 2 s retransmission schedule
    EXPECT_TRUE(p.sa(p.i).path_failed);
    EXPECT_FALSE(p.r->has_event(Event::Kind::path_failed));  // the responder never watches
    // The path manager's part: another pair. The request in flight goes out
    // on it at once, then the update.
    ASSERT_TRUE(p.move(kI2, {kRAddr, 4500}).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::ike_moved) == 2; }, 2s));
    EXPECT_LE(p.net.now() - cut, 340ms);
    EXPECT_EQ(p.sa(p.r).remote, kI2);
    EXPECT_FALSE(p.sa(p.i).path_failed);
    // The new path stays up: no further failure while it answers.
    p.net.run_for(2s);
    EXPECT_EQ(p.i->count_events(Event::Kind::path_failed), 1u);
}

// RFC 4555 §3.5 / seed 001 "Detection": once the current pair is given up,
// the other pairs are tested with NAT_DETECTION_* before any update. One
// request (one message ID) goes out on every candidate at once; only the pair
// that answers gets the UPDATE_SA_ADDRESSES.
TEST(MobikePaths, SilentPathFailoverProbesEveryCandidateAndMovesToTheOneThatAnswers) {
    Pair p([](Config& c) { c = with_path_timeout(std::move(c)); }, true);
    ASSERT_TRUE(p.move(kI, {kRAddr, 4500}).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved); }, 2s));
    p.net.run_for(1s);
    ASSERT_EQ(p.sa(p.i).peer_addresses, (std::vector<IpAddress>{kRAddr, kR2Addr}));
    // The initiator's first uplink dies, and so does the path from its second
    // one to the responder's first address: only kI2 <-> kR2 still works.
    std::map<std::pair<IpAddress, IpAddress>, std::size_t> sent_on;
    p.net.set_filter([&](Datagram& dg) {
        if (dg.local.address == kIAddr || dg.local.address == kI2Addr) ++sent_on[{dg.local.address, dg.remote.address}];
        const bool first_uplink = dg.local.address == kIAddr || dg.remote.address == kIAddr;
        const bool broken = (dg.local.address == kI2Addr && dg.remote.address == kRAddr) ||
                            (dg.local.address == kRAddr && dg.remote.address == kI2Addr);
        return first_uplink || broken ? Verdict::drop : Verdict::deliver;
    });
    const Time cut = p.net.now();
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::path_failed); }, 2s));
    sent_on.clear();
    // The daemon's path manager lists the candidates, best first.
    const std::vector<std::pair<Endpoint, Endpoint>> candidates{{kI2, {kRAddr, 4500}}, {kI2, kR2}, {{kIAddr, 4500}, kR2}};
    Output out;
    ASSERT_TRUE(p.i->engine->probe_paths(p.sa(p.i).id, candidates, p.net.now(), out).ok());
    p.net.apply(*p.i, out);
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::path_probe_ok); }, 2s));
    const auto ok = std::find_if(p.i->events.begin(), p.i->events.end(),
                                 [](const Event& e) { return e.kind == Event::Kind::path_probe_ok; });
    EXPECT_EQ(ok->local.address, kI2Addr);
    EXPECT_EQ(ok->remote, kR2);
    // Every candidate got the probe; nothing moved on either side yet.
    EXPECT_GE(sent_on[std::pair(kI2Addr, kRAddr)], 1u);
    EXPECT_GE(sent_on[std::pair(kI2Addr, kR2Addr)], 1u);
    EXPECT_GE(sent_on[std::pair(kIAddr, kR2Addr)], 1u);
    EXPECT_EQ(p.i->count_events(Event::Kind::ike_moved), 1u);
    EXPECT_EQ(p.r->count_events(Event::Kind::ike_moved), 1u);
    EXPECT_TRUE(p.i->logged("N(NATD_S_IP) N(NATD_D_IP)"));
    // The daemon moves to the pair that answered: the update goes there alone.
    sent_on.clear();
    ASSERT_TRUE(p.move(ok->local, ok->remote).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::ike_moved) == 2 &&
                                             p.i->count_events(Event::Kind::ike_moved) == 2; },
                                2s));
    EXPECT_LE(p.net.now() - cut, 340ms);
    EXPECT_EQ(sent_on.size(), 1u);
    EXPECT_EQ(p.sa(p.r).remote.address, kI2Addr);
    EXPECT_EQ(p.sa(p.r).local, kR2);
    EXPECT_FALSE(p.sa(p.i).path_failed);
    p.net.run_for(2s);
    EXPECT_EQ(p.i->count_events(Event::Kind::path_failed), 1u);
}

TEST(MobikePaths, ProbeIsRefusedWhileAnUpdateIsInFlightAndWithoutMobike) {
    Pair p([](Config& c) { c = with_path_timeout(std::move(c)); });
    Output out;
    ASSERT_TRUE(p.move(kI2, {kRAddr, 4500}).ok());  // its update is now in flight
    EXPECT_FALSE(p.i->engine->probe_paths(p.sa(p.i).id, {{kI, {kRAddr, 4500}}}, p.net.now(), out).ok());
    EXPECT_FALSE(p.r->engine->probe_paths(p.sa(p.r).id, {{{kRAddr, 4500}, kI}}, p.net.now(), out).ok());  // responder
    EXPECT_TRUE(out.datagrams.empty());
    Pair q([](Config& c) {
        for (auto& conn : c.connections) conn.mobike = false;
    });
    EXPECT_FALSE(q.i->engine->probe_paths(q.sa(q.i).id, {{kI2, {kRAddr, 500}}}, q.net.now(), out).ok());
}

TEST(MobikePaths, TrafficFromThePeerReplacesProbes) {
    Pair p([](Config& c) { c = with_path_timeout(std::move(c)); });
    p.net.run_for(1s);
    const auto before = p.logged_count(p.i, "sending INFORMATIONAL request");
    // ESP arrives every 20 ms (the daemon reports it): no IKE probe is needed.
    for (int k = 0; k < 50; ++k) {
        p.i->engine->note_peer_traffic(p.sa(p.i).id, p.net.now());
        p.net.run_for(20ms);
    }
    EXPECT_EQ(p.logged_count(p.i, "sending INFORMATIONAL request"), before);
    EXPECT_FALSE(p.i->has_event(Event::Kind::path_failed));
    // Silence: a probe every 75 ms.
    p.net.run_for(1s);
    const auto probes = p.logged_count(p.i, "sending INFORMATIONAL request") - before;
    EXPECT_GE(probes, 10u);
    EXPECT_LE(probes, 14u);
    EXPECT_FALSE(p.i->has_event(Event::Kind::path_failed));
}

TEST(MobikePaths, WithoutPathTimeoutNothingIsProbed) {
    Pair p;
    p.net.run_for(5s);
    EXPECT_EQ(p.logged_count(p.i, "sending INFORMATIONAL request"), 0u);
}

}  // namespace
}  // namespace mobiked::sim

namespace mobiked::sim {
namespace {

TEST(MobikePaths, ResponderRequestLostOnTheOldPathIsResentWhenTheInitiatorMoves) {
    Pair p;
    ASSERT_TRUE(p.move(kI, {kRAddr, 4500}).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved); }, 2s));
    // The initiator's first uplink dies; the responder, whose own address set
    // changed too, announces it to the initiator's old address: lost.
    std::erase(p.i->addresses, kIAddr);
    p.set_addresses(p.r, {kRAddr});
    p.net.run_for(20ms);
    ASSERT_TRUE(p.r->logged("[ N(NO_ADD_ADDR) ] to 192.0.2.1:500"));
    // The update from the new address moves the responder, which resends its
    // announcement there at once: the return-routability check behind it
    // runs without waiting for the 2 s retransmission.
    const Time t = p.net.now();
    ASSERT_TRUE(p.move(kI2, {kRAddr, 4500}).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::ike_moved) == 2; }, 5s));
    EXPECT_LT(p.net.now() - t, 100ms);
    EXPECT_EQ(p.sa(p.r).remote, kI2);
}

// Found with strongSwan (tests/interop, scenario mr): an address inside our own
// tunnel selectors (a service address on lo) was announced as an IKE address,
// and a responder that lost its uplink could pick it to announce from.
TEST(MobikePaths, InnerAddressesAreNotAnnouncedNorAnnouncedFrom) {
    const IpAddress inner = *IpAddress::parse("10.2.0.1");  // inside the responder's 10.2.0.0/16
    Network net{57};
    Config ic = initiator_config({}), rc = responder_config({});
    for (auto& c : ic.connections) c.local_addrs.clear();
    for (auto& c : rc.connections) c.local_addrs.clear();
    Node& i = net.add_node("moon", {"192.0.2.1"}, ic, 42);
    Node& r = net.add_node("sun", {"192.0.2.2", "192.0.2.20"}, rc, 43);
    Output out;
    r.engine->set_local_addresses({kRAddr, inner, kR2Addr}, net.now(), out);
    net.apply(r, out);
    out = Output{};
    ASSERT_TRUE(i.engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
    net.apply(i, out);
    ASSERT_TRUE(net.run_until([&] { return r.has_event(Event::Kind::child_established) &&
                                           i.has_event(Event::Kind::child_established); },
                              5s));
    // IKE_AUTH lists the other uplink only.
    EXPECT_EQ(i.engine->list_sas().at(0).peer_addresses, (std::vector<IpAddress>{kRAddr, kR2Addr}));
    // 192.0.2.2 goes: the responder announces from its other uplink, not from
    // the inner address (which sorts first), and lists nothing else.
    std::erase(r.addresses, kRAddr);
    out = Output{};
    r.engine->set_local_addresses({inner, kR2Addr}, net.now(), out);
    net.apply(r, out);
    ASSERT_TRUE(net.run_until([&] { return i.count_events(Event::Kind::peer_addresses) == 2; }, 2s));
    EXPECT_EQ(r.engine->list_sas().at(0).local.address, kR2Addr);
    EXPECT_EQ(i.engine->list_sas().at(0).peer_addresses, (std::vector<IpAddress>{kR2Addr}));
    EXPECT_TRUE(r.logged("[ N(NO_ADD_ADDR) ] to 192.0.2.1:4500"));
}

}  // namespace
}  // namespace mobiked::sim

namespace mobiked::sim {
namespace {

TEST(MobikePaths, NatAppearingAndRebindingSeenOnPathProbesTriggerUpdates) {
    Pair p([](Config& c) { for (auto& conn : c.connections) conn.path_timeout = 300ms; });
    const Endpoint inside = p.sa(p.i).local;  // 192.0.2.1:4500 since IKE_AUTH
    ASSERT_EQ(inside, (Endpoint{kIAddr, 4500}));
    EXPECT_FALSE(p.sa(p.i).nat_local);
    p.net.run_for(500ms);  // path probes carry NAT-D; nothing changes
    EXPECT_TRUE(p.i->logged("[ N(NATD_S_IP) N(NATD_D_IP) ]"));
    EXPECT_FALSE(p.i->has_event(Event::Kind::ike_moved));
    // A NAT appears in front of the initiator without any address change on it:
    // 192.0.2.1:4500 now shows as 203.0.113.9:31000.
    Endpoint outside{*IpAddress::parse("203.0.113.9"), 31000};
    p.i->addresses.push_back(outside.address);
    p.net.set_filter([&](Datagram& dg) {
        if (dg.local == inside) dg.local = outside;
        else if (dg.remote == outside) dg.remote = inside;
        else if (dg.remote.address == outside.address) return Verdict::drop;  // an expired mapping
        return Verdict::deliver;
    });
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_moved) && p.i->has_event(Event::Kind::ike_moved); }, 2s));
    EXPECT_TRUE(p.i->logged("NAT mapping"));
    EXPECT_EQ(p.sa(p.r).remote, outside);
    EXPECT_TRUE(p.sa(p.i).nat_local);
    EXPECT_TRUE(p.r->installed.at(0).udp_encap);
    // The NAT rebinds to another port: the next probe's answer shows it.
    outside.port = 31001;
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::ike_moved) == 2; }, 2s));
    EXPECT_EQ(p.sa(p.r).remote, outside);
    EXPECT_EQ(p.r->installed.at(0).remote, outside);
    EXPECT_FALSE(p.i->has_event(Event::Kind::path_failed));
}

}  // namespace
}  // namespace mobiked::sim
