// MOBIKEv2 (draft-mglt-ipsecme-mobikev2, shared/specs §4) between two engines:
// version negotiation in IKE_AUTH (every outcome) and moves of transport-mode
// CHILD_SAs, whose selectors hold the hosts' addresses.
#include <gtest/gtest.h>

#include "sim/ike/sim_network.hpp"

namespace mobiked::sim {
namespace {

const Endpoint kI{*IpAddress::parse("192.0.2.1"), 500};
const Endpoint kR{*IpAddress::parse("192.0.2.2"), 500};
const Endpoint kI4500{*IpAddress::parse("192.0.2.1"), 4500};
const Endpoint kI2{*IpAddress::parse("198.51.100.7"), 4500};  // the initiator's second uplink
const Endpoint kR4500{*IpAddress::parse("192.0.2.2"), 4500};
const Endpoint kR2{*IpAddress::parse("192.0.2.3"), 4500};     // the responder's second address

TrafficSelectorRange host(const char* a) {
    TrafficSelectorRange t;
    t.range = AddressRange{*IpAddress::parse(a), *IpAddress::parse(a)};
    return t;
}
using Ts = std::vector<TrafficSelectorRange>;

struct Options {
    std::vector<std::uint8_t> i_versions{1, 2};
    std::vector<std::uint8_t> r_versions{1, 2};
    bool transport = false;
    bool tunnel_too = false;  // a second, tunnel-mode child "net" next to transport "host"
};

void set_child(ConnectionConfig& c, const Options& o) {
    ChildConfig net = c.children.at(0);
    if (o.transport) {
        ChildConfig h = net;
        h.name = "host";
        h.mode = IpsecMode::transport;
        h.local_ts = {*TsSpec::parse("dynamic")};
        h.remote_ts = {*TsSpec::parse("dynamic")};
        c.children = {h};
        if (o.tunnel_too) c.children.push_back(net);
    }
}

struct Pair {
    Network net{61};
    Node* i;
    Node* r;
    explicit Pair(const Options& o, const std::function<void(Config&, Config&)>& tweak = {}) {
        Config ic = initiator_config({}), rc = responder_config({});
        auto& icon = ic.connections.at(0);
        auto& rcon = rc.connections.at(0);
        icon.mobike_versions = o.i_versions;
        rcon.mobike_versions = o.r_versions;
        set_child(icon, o);
        set_child(rcon, o);
        // PAD: the addresses each side may use and the peer may come from.
        icon.local_addrs = {kI.address, kI2.address};
        icon.remote_hosts = {"192.0.2.2", "192.0.2.3"};
        rcon.local_addrs = {kR.address, kR2.address};
        if (tweak) tweak(ic, rc);
        i = &net.add_node("moon", {"192.0.2.1", "198.51.100.7"}, ic, 62);
        r = &net.add_node("sun", {"192.0.2.2", "192.0.2.3"}, rc, 63);
        Output out;
        EXPECT_TRUE(i->engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
        net.apply(*i, out);
        EXPECT_TRUE(net.run_until([&] { return r->has_event(Event::Kind::child_established) &&
                                               i->has_event(Event::Kind::child_established); },
                                  std::chrono::seconds(10)));
    }
    IkeSaInfo sa(Node* n) { return n->engine->list_sas().at(0); }
    Status move(const Endpoint& local, const Endpoint& remote) {
        Output out;
        Status st = i->engine->move(sa(i).id, local, remote, net.now(), out);
        net.apply(*i, out);
        return st;
    }
    bool moved() {
        return net.run_until([&] { return i->has_event(Event::Kind::ike_moved) && r->has_event(Event::Kind::ike_moved); },
                             std::chrono::seconds(10));
    }
};

// ------------------------------------------------------------ negotiation

TEST(MobikeV2Negotiation, BothSpeakV2) {
    Pair p({});
    EXPECT_TRUE(p.sa(p.i).mobike);
    EXPECT_EQ(p.sa(p.i).mobike_version, 2);
    EXPECT_EQ(p.sa(p.r).mobike_version, 2);
    EXPECT_TRUE(p.r->logged("MOBIKE version 2 (peer offered 1,2, we 1,2)"));
    EXPECT_TRUE(p.i->logged("MOBIKE version 2 (we offered 1,2)"));
}

TEST(MobikeV2Negotiation, ResponderWithVersion1OnlyAnswersEmptyAndV1IsUsed) {
    Pair p({.r_versions = {1}});
    EXPECT_TRUE(p.sa(p.i).mobike);
    EXPECT_EQ(p.sa(p.i).mobike_version, 1);
    EXPECT_EQ(p.sa(p.r).mobike_version, 1);
    EXPECT_FALSE(p.i->has_event(Event::Kind::error_received));
}

TEST(MobikeV2Negotiation, InitiatorWithVersion1OnlySendsEmptyNotify) {
    // Like strongSwan (RFC 4555 only): MOBIKE_SUPPORTED without data.
    Pair p({.i_versions = {1}});
    EXPECT_EQ(p.sa(p.i).mobike_version, 1);
    EXPECT_EQ(p.sa(p.r).mobike_version, 1);
    EXPECT_TRUE(p.r->logged("MOBIKE version 1 (peer offered 1, we 1,2)"));
}

TEST(MobikeV2Negotiation, PeerKnowingOnlyVersion3GetsUnsupportedThenRestartWithoutMobike) {
    Pair p({.r_versions = {3}});
    // IKE_AUTH drew MOBIKE_UNSUPPORTED_VERSION(3); the initiator restarted at
    // IKE_SA_INIT with plain RFC 4555, which the responder does not accept: no MOBIKE.
    EXPECT_TRUE(p.r->logged("peer offers MOBIKE versions 1,2, we 3: MOBIKE_UNSUPPORTED_VERSION(3)"));
    EXPECT_TRUE(p.i->logged("peer answered MOBIKE_UNSUPPORTED_VERSION(3): restarting at IKE_SA_INIT offering MOBIKE 1"));
    ASSERT_EQ(p.i->count_events(Event::Kind::error_received), 1u);
    EXPECT_EQ(p.i->events.front().detail, "MOBIKE_UNSUPPORTED_VERSION");
    EXPECT_EQ(p.r->count_events(Event::Kind::ike_failed), 1u);  // the responder's first attempt
    EXPECT_FALSE(p.i->has_event(Event::Kind::ike_failed));     // same initiator SA, restarted
    ASSERT_EQ(p.i->engine->list_sas().size(), 1u);
    EXPECT_EQ(p.sa(p.i).state, IkeState::established);
    EXPECT_FALSE(p.sa(p.i).mobike);
    EXPECT_EQ(p.sa(p.i).mobike_version, 0);
    EXPECT_EQ(p.sa(p.r).mobike_version, 0);
    EXPECT_EQ(p.i->installed.size(), 1u);
}

TEST(MobikeV2Negotiation, ResponderPicksTheHighestCommonVersion) {
    Pair p({.i_versions = {1, 2, 3}, .r_versions = {2, 3, 4}});
    EXPECT_EQ(p.sa(p.i).mobike_version, 3);
    EXPECT_EQ(p.sa(p.r).mobike_version, 3);
    EXPECT_FALSE(p.i->has_event(Event::Kind::error_received));
}

TEST(MobikeV2Negotiation, NoneMeansGiveUpMobikeV2) {
    // The responder's 255 (NONE) answers "stop negotiating MOBIKEv2"; the
    // initiator falls back to RFC 4555 on a fresh IKE_SA_INIT.
    Pair p({.r_versions = {3, 255}});
    EXPECT_TRUE(p.r->logged("MOBIKE_UNSUPPORTED_VERSION(none)"));
    EXPECT_TRUE(p.i->logged("peer answered MOBIKE_UNSUPPORTED_VERSION(none): restarting at IKE_SA_INIT offering MOBIKE 1"));
    EXPECT_EQ(p.sa(p.i).state, IkeState::established);
    EXPECT_FALSE(p.sa(p.i).mobike);
}

TEST(MobikeV2Negotiation, NoneWithVersion1FallsBackToRfc4555) {
    // Initiator offers only MOBIKEv2 (and 1); responder {1,3,255} shares 1: v1 at once.
    Pair p({.i_versions = {1, 2}, .r_versions = {1, 3, 255}});
    EXPECT_EQ(p.sa(p.i).mobike_version, 1);
    EXPECT_EQ(p.sa(p.r).mobike_version, 1);
}

TEST(MobikeV2Negotiation, InitiatorWithoutVersion1AndRestartGivesNoMobike) {
    Pair p({.i_versions = {2}, .r_versions = {3}});
    EXPECT_TRUE(p.i->logged("restarting at IKE_SA_INIT without MOBIKE"));
    EXPECT_EQ(p.sa(p.i).state, IkeState::established);
    EXPECT_FALSE(p.sa(p.i).mobike);
    EXPECT_FALSE(p.sa(p.r).mobike);
}

TEST(MobikeV2Negotiation, VersionSurvivesAnIkeRekey) {
    Pair p({});
    Output out;
    ASSERT_TRUE(p.i->engine->rekey_ike(p.sa(p.i).id, p.net.now(), out).ok());
    p.net.apply(*p.i, out);
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_rekeyed); }, std::chrono::seconds(10)));
    p.net.run_for(std::chrono::seconds(1));
    ASSERT_EQ(p.i->engine->list_sas().size(), 1u);
    EXPECT_EQ(p.sa(p.i).mobike_version, 2);
}

// ------------------------------------------------------------ transport-mode moves

TEST(MobikeV2Transport, InitiatorMovesAndSelectorsFollowOnBothSides) {
    Pair p({.transport = true});
    ASSERT_EQ(p.i->installed.size(), 1u);
    ASSERT_EQ(p.i->installed[0].mode, IpsecMode::transport);
    EXPECT_EQ(p.i->installed[0].local_ts, Ts{host("192.0.2.1")});
    const auto spi = p.i->installed[0].spi_in;
    ASSERT_TRUE(p.move(kI2, kR4500).ok());
    ASSERT_TRUE(p.moved());
    // Same SA (no rekey), new selectors: the initiator's side is its new address.
    ASSERT_EQ(p.i->installed.size(), 1u);
    EXPECT_EQ(p.i->installed[0].spi_in, spi);
    EXPECT_EQ(p.i->installed[0].local, kI2);
    EXPECT_EQ(p.i->installed[0].local_ts, Ts{host("198.51.100.7")});
    EXPECT_EQ(p.i->installed[0].remote_ts, Ts{host("192.0.2.2")});
    ASSERT_EQ(p.r->installed.size(), 1u);
    EXPECT_EQ(p.r->installed[0].remote, kI2);
    EXPECT_EQ(p.r->installed[0].remote_ts, Ts{host("198.51.100.7")});
    EXPECT_EQ(p.r->installed[0].local_ts, Ts{host("192.0.2.2")});
    // The engines' own view (list-sas) agrees.
    EXPECT_EQ(p.sa(p.i).children.at(0).local_ts, Ts{host("198.51.100.7")});
    EXPECT_EQ(p.sa(p.r).children.at(0).remote_ts, Ts{host("198.51.100.7")});
    EXPECT_TRUE(p.r->logged("CHILD_SA host (transport) selectors now 192.0.2.2/32 === 198.51.100.7/32"));
    // And back again.
    ASSERT_TRUE(p.move(kI4500, kR4500).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.r->count_events(Event::Kind::ike_moved) == 2; }, std::chrono::seconds(10)));
    EXPECT_EQ(p.r->installed[0].remote_ts, Ts{host("192.0.2.1")});
    EXPECT_EQ(p.i->installed[0].local_ts, Ts{host("192.0.2.1")});
}

TEST(MobikeV2Transport, ResponderMovesAnnouncesAndTheInitiatorUpdates) {
    Pair p({.transport = true});
    // The responder loses 192.0.2.2: it cannot send UPDATE_SA_ADDRESSES, it
    // announces its list from 192.0.2.3.
    Output out;
    p.r->engine->set_local_addresses({kR2.address}, p.net.now(), out);
    p.net.apply(*p.r, out);
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::peer_addresses); }, std::chrono::seconds(5)));
    EXPECT_EQ(p.sa(p.i).peer_addresses, (std::vector<IpAddress>{kR2.address}));
    EXPECT_EQ(p.r->installed[0].local_ts, Ts{host("192.0.2.2")});  // nothing moves before the update
    // The initiator (its path manager) moves to the announced address.
    ASSERT_TRUE(p.move(kI4500, kR2).ok());
    ASSERT_TRUE(p.moved());
    EXPECT_EQ(p.i->installed[0].remote, kR2);
    EXPECT_EQ(p.i->installed[0].remote_ts, Ts{host("192.0.2.3")});
    EXPECT_EQ(p.i->installed[0].local_ts, Ts{host("192.0.2.1")});
    EXPECT_EQ(p.r->installed[0].local, kR2);
    EXPECT_EQ(p.r->installed[0].local_ts, Ts{host("192.0.2.3")});
    EXPECT_EQ(p.r->installed[0].remote_ts, Ts{host("192.0.2.1")});
}

TEST(MobikeV2Transport, ReceiverRefusesAnUnauthorisedAddressAndKeepsItsState) {
    // The responder's PAD knows the initiator only at 192.0.2.1.
    Pair p({.transport = true}, [](Config&, Config& rc) { rc.connections[0].remote_hosts = {"192.0.2.1"}; });
    const auto before = p.r->installed.at(0);
    ASSERT_TRUE(p.move(kI2, kR4500).ok());
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::error_received); }, std::chrono::seconds(10)));
    p.net.run_for(std::chrono::seconds(2));
    EXPECT_TRUE(p.r->logged("refused: not allowed for the transport-mode CHILD_SAs"));
    EXPECT_TRUE(p.i->logged("address update refused: UNACCEPTABLE_ADDRESSES"));
    EXPECT_FALSE(p.r->has_event(Event::Kind::ike_moved));
    EXPECT_FALSE(p.i->has_event(Event::Kind::ike_moved));
    EXPECT_EQ(p.sa(p.r).remote.address, kI.address);
    EXPECT_EQ(p.r->installed.at(0).remote, before.remote);
    EXPECT_EQ(p.r->installed.at(0).remote_ts, before.remote_ts);
    EXPECT_EQ(p.sa(p.r).children.at(0).remote_ts, Ts{host("192.0.2.1")});
}

TEST(MobikeV2Transport, SenderDoesNotMoveToOrAnnounceAForbiddenAddress) {
    // The initiator's SPD allows only 192.0.2.0/24 for its side of the transport SA.
    Pair p({.transport = true}, [](Config& ic, Config& rc) {
        ic.connections[0].local_addrs.clear();
        ic.connections[0].children[0].local_ts = {*TsSpec::parse("192.0.2.0/24")};
        rc.connections[0].children[0].remote_ts = {*TsSpec::parse("192.0.2.0/24")};
    });
    Output out;
    Status st = p.i->engine->move(p.sa(p.i).id, kI2, kR4500, p.net.now(), out);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.error().find("not allowed by the SPD/PAD"), std::string::npos) << st.error();
    EXPECT_TRUE(out.datagrams.empty());
    // Announcements leave it out too.
    p.i->addresses.push_back(*IpAddress::parse("192.0.2.9"));
    p.i->engine->set_local_addresses({kI.address, kI2.address, *IpAddress::parse("192.0.2.9")}, p.net.now(), out);
    p.net.apply(*p.i, out);
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::peer_addresses); }, std::chrono::seconds(5)));
    EXPECT_EQ(p.sa(p.r).peer_addresses, (std::vector<IpAddress>{kI.address, *IpAddress::parse("192.0.2.9")}));
}

TEST(MobikeV2Transport, MixedIkeSaMovesTunnelAndTransportChildren) {
    Pair p({.transport = true, .tunnel_too = true});
    Output out;
    ASSERT_TRUE(p.i->engine->create_child(p.sa(p.i).id, "net", p.net.now(), out).ok());
    p.net.apply(*p.i, out);
    ASSERT_TRUE(p.net.run_until([&] { return p.i->count_events(Event::Kind::child_established) == 2 &&
                                             p.r->count_events(Event::Kind::child_established) == 2; },
                                std::chrono::seconds(10)));
    ASSERT_TRUE(p.move(kI2, kR4500).ok());
    ASSERT_TRUE(p.moved());
    for (Node* n : {p.i, p.r}) {
        ASSERT_EQ(n->installed.size(), 2u);
        for (const auto& c : n->installed) {
            EXPECT_EQ(n == p.i ? c.local : c.remote, kI2) << c.child_name;
            if (c.mode == IpsecMode::tunnel) {
                // Tunnel selectors are inner addresses: unchanged.
                TrafficSelectorRange inner;
                inner.range = TsSpec::parse("10.1.0.0/16")->range;
                EXPECT_EQ(n == p.i ? c.local_ts : c.remote_ts, Ts{inner});
            } else {
                EXPECT_EQ(n == p.i ? c.local_ts : c.remote_ts, Ts{host("198.51.100.7")});
            }
        }
    }
}

TEST(MobikeV2Transport, Version1RewritesTransportSelectorsLocally) {
    // RFC 4555 says nothing of transport mode, but selectors left on the old
    // address would refuse the SA's own packets: both ends rewrite them
    // locally, as strongSwan does (specs §4), without the version 2 checks.
    Pair p({.r_versions = {1}, .transport = true});
    ASSERT_EQ(p.sa(p.i).mobike_version, 1);
    ASSERT_TRUE(p.move(kI2, kR4500).ok());
    ASSERT_TRUE(p.moved());
    EXPECT_EQ(p.i->installed[0].local, kI2);
    EXPECT_EQ(p.i->installed[0].local_ts, Ts{host("198.51.100.7")});
    EXPECT_EQ(p.r->installed[0].remote_ts, Ts{host("198.51.100.7")});
}

}  // namespace
}  // namespace mobiked::sim
