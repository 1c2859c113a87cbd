#include <gtest/gtest.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>

#include "daemon/address_monitor.hpp"
#include "daemon/control.hpp"
#include "daemon/path_manager.hpp"

using namespace mobiked;
using namespace mobiked::daemon;
using namespace std::chrono_literals;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
Endpoint ep(const char* s, std::uint16_t port = 4500) { return Endpoint{ip(s), port}; }

ike::IkeSaInfo sa(std::uint64_t id, const char* local, const char* remote, bool initiator = true, bool mobike = true) {
    ike::IkeSaInfo s;
    s.id = id;
    s.state = ike::IkeState::established;
    s.initiator = initiator;
    s.mobike = mobike;
    s.local = ep(local);
    s.remote = ep(remote);
    return s;
}

PathManager::RouteLookup fixed(std::optional<const char*> src) {
    return [src](const IpAddress&) { return src ? std::optional<IpAddress>(ip(*src)) : std::nullopt; };
}

const Time t0 = std::chrono::seconds(100);

}  // namespace

TEST(PathManager, NewAddressAloneMovesNothing) {
    PathManager pm;
    auto d = pm.evaluate({sa(1, "192.0.2.1", "203.0.113.2")}, {ip("192.0.2.1"), ip("192.0.2.11")}, fixed("192.0.2.1"), t0);
    EXPECT_TRUE(d.empty());
    EXPECT_FALSE(pm.recheck_at());
}

TEST(PathManager, RemovedAddressMovesToRouteSource) {
    PathManager pm;
    auto d = pm.evaluate({sa(1, "192.0.2.1", "203.0.113.2")}, {ip("198.51.100.1")}, fixed("198.51.100.1"), t0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].ike_sa_id, 1u);
    EXPECT_EQ(d[0].local, ep("198.51.100.1"));
    EXPECT_EQ(d[0].remote, ep("203.0.113.2"));
    EXPECT_NE(d[0].reason.find("gone"), std::string::npos);
}

TEST(PathManager, RoutePreferenceChangeMoves) {
    PathManager pm;
    auto d = pm.evaluate({sa(1, "192.0.2.1", "203.0.113.2")}, {ip("192.0.2.1"), ip("198.51.100.1")},
                         fixed("198.51.100.1"), t0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_NE(d[0].reason.find("prefers"), std::string::npos);
}

TEST(PathManager, OnlyEstablishedInitiatorWithMobike) {
    PathManager pm;
    auto responder = sa(1, "192.0.2.1", "203.0.113.2", false);
    auto no_mobike = sa(2, "192.0.2.1", "203.0.113.2", true, false);
    auto connecting = sa(3, "192.0.2.1", "203.0.113.2");
    connecting.state = ike::IkeState::auth_sent;
    EXPECT_TRUE(pm.evaluate({responder, no_mobike, connecting}, {ip("198.51.100.1")}, fixed("198.51.100.1"), t0).empty());
}

TEST(PathManager, UnsettledRouteIsRecheckedThenFallsBack) {
    PathManager pm;
    std::vector<ike::IkeSaInfo> sas{sa(1, "192.0.2.1", "203.0.113.2")};
    AddressSet now_addrs{ip("198.51.100.1"), ip("2001:db8::1")};
    // The route still names the removed address (routes not updated yet).
    EXPECT_TRUE(pm.evaluate(sas, now_addrs, fixed("192.0.2.1"), t0).empty());
    ASSERT_TRUE(pm.recheck_at());
    EXPECT_EQ(*pm.recheck_at(), t0 + PathManager::kRecheck);
    // Settled a moment later.
    auto d = pm.evaluate(sas, now_addrs, fixed("198.51.100.1"), t0 + 20ms);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_FALSE(pm.recheck_at());
    // No route at all for longer than kSettle: any address of the family.
    PathManager pm2;
    EXPECT_TRUE(pm2.evaluate(sas, now_addrs, fixed(std::nullopt), t0).empty());
    EXPECT_TRUE(pm2.evaluate(sas, now_addrs, fixed(std::nullopt), t0 + 500ms).empty());
    d = pm2.evaluate(sas, now_addrs, fixed(std::nullopt), t0 + PathManager::kSettle);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].local, ep("198.51.100.1"));
}

TEST(PathManager, ConfiguredLocalAddressesOnly) {
    PathManager pm;
    auto s = sa(1, "192.0.2.11", "203.0.113.2");
    s.connection = "c";
    PathManager::Pinned pinned{{"c", {ip("192.0.2.11"), ip("198.51.100.11")}}};
    AddressSet all{ip("192.0.2.1"), ip("192.0.2.11"), ip("198.51.100.1"), ip("198.51.100.11")};
    // The route prefers the primary 192.0.2.1, but the SA stays on its configured address.
    EXPECT_TRUE(pm.evaluate({s}, all, fixed("192.0.2.1"), t0, pinned).empty());
    // Gone: to the other configured address, not to the route's source.
    all.erase(ip("192.0.2.11"));
    auto d = pm.evaluate({s}, all, fixed("192.0.2.1"), t0, pinned);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].local, ep("198.51.100.11"));
    // No configured address left: nothing.
    all.erase(ip("198.51.100.11"));
    EXPECT_TRUE(pm.evaluate({s}, all, fixed("192.0.2.1"), t0, pinned).empty());
}

TEST(PathManager, HistoryOursAndPeers) {
    PathManager pm;
    pm.established(1, ep("192.0.2.1"), ep("203.0.113.2"));
    pm.started(1, MoveRecord::Origin::address_change, "gone", ep("192.0.2.1"), ep("203.0.113.2"), ep("198.51.100.1"),
               ep("203.0.113.2"), t0);
    EXPECT_TRUE(pm.pending(1));
    pm.moved(1, ep("198.51.100.1"), ep("203.0.113.2"), t0 + 3ms);
    EXPECT_FALSE(pm.pending(1));
    ASSERT_EQ(pm.history(1).size(), 1u);
    EXPECT_TRUE(pm.history(1)[0].confirmed);
    EXPECT_EQ(*pm.history(1)[0].took, 3ms);
    pm.moved(1, ep("198.51.100.1"), ep("203.0.113.2"), t0 + 4ms);  // repeated commit: nothing new
    EXPECT_EQ(pm.history(1).size(), 1u);
    // A responder's SA: the peer moved.
    pm.established(2, ep("203.0.113.2"), ep("192.0.2.1"));
    pm.moved(2, ep("203.0.113.2"), ep("198.51.100.1"), t0);
    ASSERT_EQ(pm.history(2).size(), 1u);
    EXPECT_EQ(pm.history(2)[0].origin, MoveRecord::Origin::peer);
    EXPECT_EQ(pm.history(2)[0].from_remote, ep("192.0.2.1"));
    // Superseded move, then the newer one confirmed.
    pm.started(1, MoveRecord::Origin::address_change, "a", ep("198.51.100.1"), ep("203.0.113.2"), ep("198.51.100.11"),
               ep("203.0.113.2"), t0 + 10ms);
    pm.started(1, MoveRecord::Origin::explicit_request, "b", ep("198.51.100.11"), ep("203.0.113.2"), ep("192.0.2.5"),
               ep("203.0.113.2"), t0 + 11ms);
    pm.moved(1, ep("192.0.2.5"), ep("203.0.113.2"), t0 + 15ms);
    const auto& h = pm.history(1);
    ASSERT_EQ(h.size(), 3u);
    EXPECT_TRUE(h[1].superseded);
    EXPECT_TRUE(h[2].confirmed);
    EXPECT_EQ(*h[2].took, 4ms);
    // IKE rekey: the successor inherits it; delete forgets it.
    pm.renamed(1, 7);
    EXPECT_TRUE(pm.history(1).empty());
    EXPECT_EQ(pm.history(7).size(), 3u);
    pm.forget(7);
    EXPECT_TRUE(pm.history(7).empty());
}

TEST(PathManager, ListSasJsonCarriesMoves) {
    PathManager pm;
    pm.started(1, MoveRecord::Origin::explicit_request, "mobikectl move", ep("192.0.2.1"), ep("203.0.113.2"),
               ep("198.51.100.1"), ep("203.0.113.2"), t0);
    pm.moved(1, ep("198.51.100.1"), ep("203.0.113.2"), t0 + 2ms);
    auto s = response_sas({sa(1, "198.51.100.1", "203.0.113.2")}, t0 + 1s, {}, pm.all());
    EXPECT_NE(s.find("\"moves\":[{"), std::string::npos) << s;
    EXPECT_NE(s.find("\"origin\":\"explicit\""), std::string::npos) << s;
    EXPECT_NE(s.find("\"took_ms\":2.0"), std::string::npos) << s;
    EXPECT_NE(s.find("\"state\":\"done\""), std::string::npos) << s;
}

TEST(ControlRequest, Move) {
    auto r = parse_control_request(R"({"cmd":"move","ike_id":3,"local":"198.51.100.1"})");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->cmd, ControlCommand::move);
    EXPECT_EQ(*r->ike_id, 3u);
    EXPECT_EQ(r->local, "198.51.100.1");
    EXPECT_FALSE(parse_control_request(R"({"cmd":"move","ike_id":3})"));
    EXPECT_FALSE(parse_control_request(R"({"cmd":"move","ike_id":3,"local":"nope"})"));
    EXPECT_FALSE(parse_control_request(R"({"cmd":"move","local":"192.0.2.1"})"));
    EXPECT_FALSE(parse_control_request(R"({"cmd":"move","ike_id":3,"local":"192.0.2.1","conn":"x"})"));
}

// ---------------------------------------------------------------- AddressTable

namespace {

struct Msg {
    std::vector<std::uint8_t> buf;
    void attr(std::uint16_t type, const void* data, std::size_t len) {
        std::size_t at = buf.size();
        buf.resize(at + RTA_SPACE(len));
        auto* rta = reinterpret_cast<rtattr*>(buf.data() + at);
        rta->rta_type = type;
        rta->rta_len = static_cast<std::uint16_t>(RTA_LENGTH(len));
        std::memcpy(RTA_DATA(rta), data, len);
    }
    void finish() { reinterpret_cast<nlmsghdr*>(buf.data())->nlmsg_len = static_cast<std::uint32_t>(buf.size()); }
};

std::vector<std::uint8_t> addr_msg(bool add, const char* a, int ifindex, std::uint32_t flags = 0,
                                   std::uint8_t scope = RT_SCOPE_UNIVERSE) {
    IpAddress x = ip(a);
    Msg m;
    m.buf.resize(NLMSG_LENGTH(sizeof(ifaddrmsg)));
    auto* nh = reinterpret_cast<nlmsghdr*>(m.buf.data());
    nh->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
    auto* ifa = static_cast<ifaddrmsg*>(NLMSG_DATA(nh));
    ifa->ifa_family = x.is_v4() ? AF_INET : AF_INET6;
    ifa->ifa_index = static_cast<std::uint32_t>(ifindex);
    ifa->ifa_scope = scope;
    ifa->ifa_flags = static_cast<std::uint8_t>(flags);
    m.buf.resize(NLMSG_ALIGN(m.buf.size()));
    m.attr(IFA_ADDRESS, x.bytes().data(), x.size());
    m.attr(IFA_FLAGS, &flags, 4);
    m.finish();
    return m.buf;
}

std::vector<std::uint8_t> link_msg(int ifindex, const char* name, unsigned flags) {
    Msg m;
    m.buf.resize(NLMSG_LENGTH(sizeof(ifinfomsg)));
    auto* nh = reinterpret_cast<nlmsghdr*>(m.buf.data());
    nh->nlmsg_type = RTM_NEWLINK;
    auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(nh));
    ifi->ifi_index = ifindex;
    ifi->ifi_flags = flags;
    m.buf.resize(NLMSG_ALIGN(m.buf.size()));
    m.attr(IFLA_IFNAME, name, std::strlen(name) + 1);
    m.finish();
    return m.buf;
}

std::vector<AddressChange> feed(AddressTable& t, const std::vector<std::uint8_t>& b) {
    std::vector<AddressChange> c;
    t.apply(b.data(), b.size(), c);
    return c;
}

}  // namespace

TEST(AddressTable, TracksUsableAddresses) {
    AddressTable t({"mktun"});
    feed(t, link_msg(1, "lo", IFF_UP | IFF_RUNNING | IFF_LOOPBACK));
    feed(t, link_msg(2, "eth0", IFF_UP | IFF_RUNNING));
    feed(t, link_msg(3, "mktun", IFF_UP | IFF_RUNNING));
    feed(t, addr_msg(true, "127.0.0.1", 1, 0, RT_SCOPE_HOST));
    feed(t, addr_msg(true, "10.1.0.1", 1));       // a global address on lo counts
    feed(t, addr_msg(false, "10.1.0.1", 1));
    feed(t, addr_msg(true, "10.9.0.1", 3));       // on our TUN
    feed(t, addr_msg(true, "fe80::1", 2));        // link-local
    feed(t, addr_msg(true, "2001:db8::5", 2, IFA_F_TENTATIVE));
    feed(t, addr_msg(true, "2001:db8::6", 2, IFA_F_DEPRECATED));
    auto c = feed(t, addr_msg(true, "192.0.2.1", 2));
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].kind, AddressChange::Kind::added);
    EXPECT_EQ(c[0].ifname, "eth0");
    EXPECT_EQ(t.usable(), (AddressSet{ip("192.0.2.1")}));
    // DAD finished: the tentative address becomes usable.
    c = feed(t, addr_msg(true, "2001:db8::5", 2));
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(t.usable(), (AddressSet{ip("192.0.2.1"), ip("2001:db8::5")}));
    // Link down: its addresses are unusable, up again: back.
    c = feed(t, link_msg(2, "eth0", IFF_UP));
    EXPECT_EQ(c.size(), 3u);  // link_down + 2 removed
    EXPECT_TRUE(t.usable().empty());
    feed(t, link_msg(2, "eth0", IFF_UP | IFF_RUNNING));
    EXPECT_EQ(t.usable().size(), 2u);
    c = feed(t, addr_msg(false, "192.0.2.1", 2));
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].kind, AddressChange::Kind::removed);
    EXPECT_EQ(c[0].address, ip("192.0.2.1"));
    EXPECT_EQ(t.usable(), (AddressSet{ip("2001:db8::5")}));
}

namespace {

std::vector<std::uint8_t> route_msg(bool add, int oif, std::uint8_t table = RT_TABLE_MAIN) {
    Msg m;
    m.buf.resize(NLMSG_LENGTH(sizeof(rtmsg)));
    auto* nh = reinterpret_cast<nlmsghdr*>(m.buf.data());
    nh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    auto* rt = static_cast<rtmsg*>(NLMSG_DATA(nh));
    rt->rtm_family = AF_INET;
    rt->rtm_table = table;
    rt->rtm_type = RTN_UNICAST;
    m.buf.resize(NLMSG_ALIGN(m.buf.size()));
    std::uint32_t o = static_cast<std::uint32_t>(oif);
    m.attr(RTA_OIF, &o, 4);
    m.finish();
    return m.buf;
}

ike::IkeSaInfo sa_with_peers(std::uint64_t id, const char* local, const char* remote, std::vector<const char*> peers) {
    auto s = sa(id, local, remote);
    for (auto* p : peers) s.peer_addresses.push_back(ip(p));
    return s;
}

}  // namespace

TEST(AddressTable, MainTableRouteChangesAreReportedOthersNot) {
    AddressTable t({"mktun"});
    feed(t, link_msg(2, "eth0", IFF_UP | IFF_RUNNING));
    feed(t, link_msg(3, "mktun", IFF_UP | IFF_RUNNING));
    auto c = feed(t, route_msg(true, 2));
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].kind, AddressChange::Kind::route_changed);
    EXPECT_EQ(c[0].ifname, "eth0");
    EXPECT_EQ(feed(t, route_msg(false, 2)).size(), 1u);
    EXPECT_TRUE(feed(t, route_msg(true, 2, 200)).empty());  // another table (ours is policy-routed)
    EXPECT_TRUE(feed(t, route_msg(true, 3)).empty());       // through our TUN
    EXPECT_TRUE(t.usable().empty());                        // routes change no address
}

TEST(PathManager, FailoverTriesOtherLocalAddressesFirstThenOtherPeerAddresses) {
    PathManager pm;
    const AddressSet local{ip("192.0.2.1"), ip("198.51.100.1")};
    auto s = sa_with_peers(1, "192.0.2.1", "203.0.113.2", {"203.0.113.2", "203.0.113.9"});
    // The route still prefers the silent link's address: the pick is pinned.
    auto d = pm.failover(s, local, fixed("192.0.2.1"));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->local, ep("198.51.100.1"));
    EXPECT_EQ(d->remote, ep("203.0.113.2"));
    EXPECT_TRUE(d->pin);
    EXPECT_EQ(d->origin, MoveRecord::Origin::path_failure);
    pm.started(1, d->origin, d->reason, s.local, s.remote, d->local, d->remote, t0);
    // That pair fails too: the other peer address (the first pair failed
    // already), from the other local address first.
    s.local = d->local;
    auto d2 = pm.failover(s, local, fixed("192.0.2.1"));
    ASSERT_TRUE(d2);
    EXPECT_EQ(d2->local, ep("192.0.2.1"));
    EXPECT_EQ(d2->remote, ep("203.0.113.9"));
    s.local = d2->local;
    s.remote = d2->remote;
    auto d3 = pm.failover(s, local, fixed("192.0.2.1"));
    ASSERT_TRUE(d3);
    EXPECT_EQ(d3->local, ep("198.51.100.1"));
    EXPECT_EQ(d3->remote.address, ip("203.0.113.9"));
    // Every pair failed once: round again (links come back), other local address first.
    s.local = d3->local;
    auto d3b = pm.failover(s, local, fixed("192.0.2.1"));
    ASSERT_TRUE(d3b);
    EXPECT_EQ(d3b->local, ep("192.0.2.1"));
    EXPECT_EQ(d3b->remote.address, ip("203.0.113.9"));
    // A confirmed move starts the list over.
    pm.moved(1, d3->local, d3->remote, t0 + 1s);
    s.local = d3->local;
    s.remote = d3->remote;
    auto d4 = pm.failover(s, local, fixed("192.0.2.1"));
    ASSERT_TRUE(d4);
    EXPECT_NE(d4->local.address, s.local.address);
}

TEST(PathManager, FailoverCandidatesListEveryUntriedPairBestFirstForOneProbe) {
    PathManager pm;
    const AddressSet local{ip("192.0.2.1"), ip("198.51.100.1")};
    auto s = sa_with_peers(1, "192.0.2.1", "203.0.113.2", {"203.0.113.2", "203.0.113.9"});
    auto c = pm.failover_candidates(s, local, fixed("192.0.2.1"));
    // Other local address first (to each peer address), then the other peer
    // address from the failed local one; the failed pair itself is not there.
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0].local, ep("198.51.100.1"));
    EXPECT_EQ(c[0].remote, ep("203.0.113.2"));
    EXPECT_EQ(c[1].local, ep("198.51.100.1"));
    EXPECT_EQ(c[1].remote.address, ip("203.0.113.9"));
    EXPECT_EQ(c[2].local, ep("192.0.2.1"));
    EXPECT_EQ(c[2].remote.address, ip("203.0.113.9"));
    EXPECT_TRUE(c[0].pin);   // the route prefers the silent link's address
    EXPECT_FALSE(c[2].pin);
    // Listing marks nothing tried: the same list again.
    EXPECT_EQ(pm.failover_candidates(s, local, fixed("192.0.2.1")).size(), 3u);
    // While they are probed, list-sas says so.
    pm.probing(1, c);
    std::size_t probing = 0;
    for (const auto& k : pm.candidates(s, local)) probing += k.state == PathCandidate::State::probing ? 1 : 0;
    EXPECT_EQ(probing, 3u);
    // The probe's answer was c[1]; when that path fails in turn, the rest.
    pm.chose(1, c[1]);
    for (const auto& k : pm.candidates(s, local)) EXPECT_NE(k.state, PathCandidate::State::probing);
    s.local = c[1].local;
    s.remote = c[1].remote;
    auto again = pm.failover_candidates(s, local, fixed("192.0.2.1"));
    // (The first pair failed earlier; the other local address comes first again.)
    ASSERT_EQ(again.size(), 2u);
    EXPECT_EQ(again[0].local, ep("192.0.2.1"));
    EXPECT_EQ(again[0].remote.address, ip("203.0.113.9"));
    EXPECT_EQ(again[1].local, ep("198.51.100.1"));
    EXPECT_EQ(again[1].remote.address, ip("203.0.113.2"));
}

TEST(PathManager, FailoverWithNothingElseToTry) {
    PathManager pm;
    auto s = sa(1, "192.0.2.1", "203.0.113.2");
    EXPECT_FALSE(pm.failover(s, {ip("192.0.2.1")}, fixed("192.0.2.1")));
    EXPECT_FALSE(pm.failover(sa(2, "192.0.2.1", "203.0.113.2", false), {ip("192.0.2.1"), ip("198.51.100.1")},
                             fixed("192.0.2.1")));  // responders never fail over
}

TEST(PathManager, AfterFailoverTheRoutePreferenceDoesNotPullTheSaBack) {
    PathManager pm;
    const AddressSet local{ip("192.0.2.1"), ip("198.51.100.1")};
    auto s = sa(1, "192.0.2.1", "203.0.113.2");
    auto d = pm.failover(s, local, fixed("192.0.2.1"));
    ASSERT_TRUE(d);
    pm.started(1, d->origin, d->reason, s.local, s.remote, d->local, d->remote, t0);
    s.local = d->local;
    // The route keeps preferring the silent link: no move back.
    EXPECT_TRUE(pm.evaluate({s}, local, fixed("192.0.2.1"), t0 + 1s).empty());
    // The failover address itself goes: that does move.
    auto back = pm.evaluate({s}, {ip("192.0.2.1")}, fixed("192.0.2.1"), t0 + 2s);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].local, ep("192.0.2.1"));
}

TEST(PathManager, ResponderLeavingItsAnnouncedAddressesIsFollowed) {
    PathManager pm;
    auto s = sa_with_peers(1, "192.0.2.1", "203.0.113.2", {"203.0.113.9"});
    auto d = pm.evaluate({s}, {ip("192.0.2.1")}, fixed("192.0.2.1"), t0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].remote.address, ip("203.0.113.9"));
    EXPECT_EQ(d[0].local, ep("192.0.2.1"));
    EXPECT_EQ(d[0].origin, MoveRecord::Origin::peer_addresses);
    // Still listed: nothing to do.
    EXPECT_TRUE(pm.evaluate({sa_with_peers(1, "192.0.2.1", "203.0.113.2", {"203.0.113.2", "203.0.113.9"})},
                            {ip("192.0.2.1")}, fixed("192.0.2.1"), t0)
                    .empty());
}

TEST(PathManager, CandidatePathsAndTheirState) {
    PathManager pm;
    const AddressSet local{ip("192.0.2.1"), ip("198.51.100.1"), ip("2001:db8::1")};
    auto s = sa_with_peers(1, "192.0.2.1", "203.0.113.2", {"203.0.113.2", "203.0.113.9"});
    auto c = pm.candidates(s, local);
    ASSERT_EQ(c.size(), 4u);  // 2 v4 locals x 2 peers; the v6 address pairs with nothing
    EXPECT_EQ(c[0].local, ip("192.0.2.1"));
    EXPECT_EQ(c[0].remote, ip("203.0.113.2"));
    EXPECT_EQ(c[0].state, PathCandidate::State::current);
    EXPECT_EQ(c[1].state, PathCandidate::State::available);
    // The current path goes silent and failover tries another: both show it.
    s.path_failed = true;
    auto d = pm.failover(s, local, fixed("192.0.2.1"));
    ASSERT_TRUE(d);
    c = pm.candidates(s, local);
    EXPECT_EQ(c[0].state, PathCandidate::State::failed);
    EXPECT_EQ(candidate_state_name(c[0].state), "failed");
    // A confirmed move forgets the failures.
    pm.moved(1, d->local, d->remote, t0);
    s.local = d->local;
    s.path_failed = false;
    c = pm.candidates(s, local);
    EXPECT_EQ(std::count_if(c.begin(), c.end(), [](const PathCandidate& p) { return p.state == PathCandidate::State::failed; }), 0);
    EXPECT_EQ(std::count_if(c.begin(), c.end(), [](const PathCandidate& p) { return p.state == PathCandidate::State::current; }), 1);
}
