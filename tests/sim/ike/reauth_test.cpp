// Reauthentication, make-before-break (RFC 7296 §2.8.3, reauth_time): a new
// IKE SA with full IKE_SA_INIT + IKE_AUTH and the same CHILD_SAs, then the old
// SA is deleted; never a moment without the CHILD_SAs installed.
#include <gtest/gtest.h>

#include <algorithm>

#include "sim/ike/sim_network.hpp"
#include "wire/message.hpp"

namespace mobiked::sim {
namespace {

using namespace std::chrono_literals;

const Endpoint kI{*IpAddress::parse("192.0.2.1"), 500};
const Endpoint kI2_4500{*IpAddress::parse("198.51.100.7"), 4500};
const Endpoint kR{*IpAddress::parse("192.0.2.2"), 500};
const Endpoint kR4500{*IpAddress::parse("192.0.2.2"), 4500};

wire::Header header_of(const Datagram& dg) { return std::get<wire::Header>(wire::decode_header(dg.data)); }

// Two children ("net", "net2") so the second is made again with CREATE_CHILD_SA.
void two_children(Config& ic, Config& rc) {
    for (Config* c : {&ic, &rc}) {
        ChildConfig second = c->connections.at(0).children.at(0);
        second.name = "net2";
        const bool init = c == &ic;
        second.local_ts = {*TsSpec::parse(init ? "10.3.0.0/16" : "10.4.0.0/16")};
        second.remote_ts = {*TsSpec::parse(init ? "10.4.0.0/16" : "10.3.0.0/16")};
        c->connections.at(0).children.push_back(second);
    }
}

struct ReauthPair {
    Network net;
    Node* i;
    Node* r;
    Time established{};
    std::uint64_t old_i = 0, old_r = 0;
    ReauthPair(Duration reauth, std::vector<std::string> initiator_addrs = {"192.0.2.1"}, std::uint64_t seed = 71)
        : net(seed) {
        Config ic = initiator_config({}), rc = responder_config({});
        two_children(ic, rc);
        ic.connections.at(0).reauth_time = reauth;
        rc.connections.at(0).local_addrs.clear();  // may announce any address (MOBIKE)
        i = &net.add_node("moon", initiator_addrs, ic, seed + 1);
        r = &net.add_node("sun", {"192.0.2.2"}, rc, seed + 2);
        Output out;
        EXPECT_TRUE(i->engine->initiate("s2s", "net", kI, kR, net.now(), out).ok());
        net.apply(*i, out);
        EXPECT_TRUE(net.run_until([&] { return r->has_event(Event::Kind::child_established) && i->has_event(Event::Kind::child_established); }, 5s));
        established = net.now();
        old_i = i->engine->list_sas().at(0).id;
        old_r = r->engine->list_sas().at(0).id;
        Output o2;
        EXPECT_TRUE(i->engine->create_child(old_i, "net2", net.now(), o2).ok());
        net.apply(*i, o2);
        EXPECT_TRUE(net.run_until([&] { return i->installed.size() == 2 && r->installed.size() == 2; }, 5s));
    }
    // Installed CHILD_SAs by child name, at least one each, on both nodes.
    static bool both_children(const Node& n) {
        auto has = [&](const char* name) {
            return std::any_of(n.installed.begin(), n.installed.end(),
                               [&](const InstallChildSa& c) { return c.child_name == name; });
        };
        return has("net") && has("net2");
    }
    // Runs until the old IKE SA is gone on both ends, checking at every step
    // that both children stay installed on both nodes.
    bool run_reauth(Duration limit, bool& gap) {
        gap = false;
        return net.run_until(
            [&] {
                if (!both_children(*i) || !both_children(*r)) gap = true;
                auto gone = [](Node& n, std::uint64_t id) {
                    auto sas = n.engine->list_sas();
                    return sas.size() == 1 && sas[0].id != id && sas[0].state == IkeState::established &&
                           sas[0].children.size() == 2;
                };
                return gone(*i, old_i) && gone(*r, old_r);
            },
            limit);
    }
    const Event* event(const Node& n, Event::Kind k) const {
        for (const auto& e : n.events)
            if (e.kind == k) return &e;
        return nullptr;
    }
};

std::size_t auth_requests_with_initial_contact(const Node& n) {
    return static_cast<std::size_t>(std::count_if(n.log.begin(), n.log.end(), [](const std::string& l) {
        return l.find("sending IKE_AUTH request") != std::string::npos && l.find("INIT_CONTACT") != std::string::npos;
    }));
}

TEST(Reauth, AtTheConfiguredTimeNewSaWithAllChildrenThenOldDeleted) {
    ReauthPair p(60s);
    const auto old_children = p.i->installed;
    bool gap = false;
    ASSERT_TRUE(p.run_reauth(120s, gap));
    EXPECT_FALSE(gap) << "a moment without both CHILD_SAs installed";
    // When: reauth_time minus up to 10 % jitter.
    const Event* re = p.event(*p.i, Event::Kind::ike_reauthenticated);
    ASSERT_NE(re, nullptr);
    EXPECT_EQ(re->detail, std::to_string(p.old_i));
    EXPECT_GE(re->at - p.established, 54s);
    EXPECT_LE(re->at - p.established, 61s);
    // A full handshake, the second child by CREATE_CHILD_SA, no INITIAL_CONTACT.
    auto si = p.i->engine->list_sas().at(0);
    EXPECT_NE(si.spi_i, 0u);
    EXPECT_EQ(p.i->count_events(Event::Kind::ike_established), 2u);
    EXPECT_EQ(p.r->count_events(Event::Kind::ike_established), 2u);
    EXPECT_EQ(auth_requests_with_initial_contact(*p.i), 1u);
    EXPECT_EQ(p.i->count_events(Event::Kind::ike_rekeyed), 0u);
    EXPECT_TRUE(p.i->logged("reauthenticating as IKE SA " + std::to_string(si.id)));
    // New keys and SPIs for both children, paired across the nodes.
    ASSERT_EQ(p.i->installed.size(), 2u);
    ASSERT_EQ(p.r->installed.size(), 2u);
    for (const auto& c : p.i->installed) {
        EXPECT_EQ(c.ike_sa_id, si.id);
        for (const auto& o : old_children) EXPECT_NE(c.spi_in, o.spi_in);
        const InstallChildSa* peer = p.r->child_by_spi_in(c.spi_out);
        ASSERT_NE(peer, nullptr);
        EXPECT_EQ(peer->spi_out, c.spi_in);
        EXPECT_EQ(peer->inbound.encr_key, c.outbound.encr_key);
    }
    // The old SA went after the new one was complete, by our Delete.
    const Event* del = nullptr;
    for (const auto& e : p.i->events)
        if (e.kind == Event::Kind::ike_deleted && e.ike_sa_id == p.old_i) del = &e;
    ASSERT_NE(del, nullptr);
    EXPECT_GE(del->at, re->at);
    EXPECT_TRUE(p.r->has_event(Event::Kind::ike_deleted));
    // And the new SA reauthenticates again one reauth_time later.
    p.old_i = si.id;
    p.old_r = p.r->engine->list_sas().at(0).id;
    ASSERT_TRUE(p.run_reauth(120s, gap));
    EXPECT_FALSE(gap);
    EXPECT_EQ(p.i->count_events(Event::Kind::ike_reauthenticated), 2u);
}

TEST(Reauth, MobikeStateCarriesOver) {
    ReauthPair p(60s, {"192.0.2.1", "198.51.100.7"});
    // The responder announces a second address; the initiator moves to its second one.
    Output out;
    p.r->addresses.push_back(*IpAddress::parse("203.0.113.9"));
    p.r->engine->set_local_addresses({*IpAddress::parse("192.0.2.2"), *IpAddress::parse("203.0.113.9")}, p.net.now(), out);
    p.net.apply(*p.r, out);
    Output mv;
    ASSERT_TRUE(p.i->engine->move(p.old_i, kI2_4500, kR4500, p.net.now(), mv).ok());
    p.net.apply(*p.i, mv);
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_moved) &&
                                             p.i->engine->list_sas().at(0).peer_addresses.size() == 2; },
                                10s))
        << "moved " << p.i->has_event(Event::Kind::ike_moved) << ", peer addresses "
        << p.i->engine->list_sas().at(0).peer_addresses.size() << [&] {
               std::string s;
               for (auto& l : p.r->log) s += "\n R " + l;
               for (auto& l : p.i->log) s += "\n I " + l;
               return s;
           }();
    const IkeSaInfo before = p.i->engine->list_sas().at(0);
    ASSERT_EQ(before.local.address, kI2_4500.address);
    bool gap = false;
    ASSERT_TRUE(p.run_reauth(120s, gap));
    EXPECT_FALSE(gap);
    const IkeSaInfo after = p.i->engine->list_sas().at(0);
    EXPECT_NE(after.id, before.id);
    // Same path (the moved one), same MOBIKE version, address list and NAT state.
    EXPECT_EQ(after.local.address, before.local.address);
    EXPECT_EQ(after.remote.address, before.remote.address);
    EXPECT_TRUE(after.mobike);
    EXPECT_EQ(after.mobike_version, before.mobike_version);
    EXPECT_EQ(after.peer_addresses, before.peer_addresses);
    EXPECT_EQ(after.nat_local, before.nat_local);
    EXPECT_EQ(after.nat_remote, before.nat_remote);
    for (const auto& c : p.i->installed) EXPECT_EQ(c.local.address, kI2_4500.address);
    // The responder's view of us follows too.
    EXPECT_EQ(p.r->engine->list_sas().at(0).remote.address, kI2_4500.address);
}

TEST(Reauth, LostMessagesDuringReauthAreRetransmitted) {
    ReauthPair p(60s);
    int auth_dropped = 0, create_dropped = 0, delete_dropped = 0;
    p.net.set_filter([&](Datagram& dg) {
        if (p.net.now() < p.established + 50s) return Verdict::deliver;
        auto h = header_of(dg);
        if (h.exchange == wire::ExchangeType::ike_auth && !h.is_response() && auth_dropped < 1) {
            ++auth_dropped;
            return Verdict::drop;
        }
        if (h.exchange == wire::ExchangeType::create_child_sa && h.is_response() && create_dropped < 1) {
            ++create_dropped;
            return Verdict::drop;
        }
        if (h.exchange == wire::ExchangeType::informational && !h.is_response() && delete_dropped < 1) {
            ++delete_dropped;
            return Verdict::drop;
        }
        return Verdict::deliver;
    });
    bool gap = false;
    ASSERT_TRUE(p.run_reauth(120s, gap));
    EXPECT_FALSE(gap);
    EXPECT_EQ(auth_dropped, 1);
    EXPECT_EQ(create_dropped, 1);
    EXPECT_EQ(delete_dropped, 1);
    EXPECT_TRUE(p.i->logged("retransmit 1 of request 1"));
    EXPECT_EQ(p.i->installed.size(), 2u);
    EXPECT_EQ(p.r->installed.size(), 2u);
}

TEST(Reauth, FailedReauthKeepsTheOldSaAndRetries) {
    ReauthPair p(60s);
    // The responder is unreachable for new IKE SAs for a while: every
    // IKE_SA_INIT is lost until the new SA gives up.
    bool block = true;
    p.net.set_filter([&](Datagram& dg) {
        return block && header_of(dg).exchange == wire::ExchangeType::ike_sa_init ? Verdict::drop : Verdict::deliver;
    });
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, 400s));
    // The old SA and its children were never touched.
    auto sas = p.i->engine->list_sas();
    ASSERT_EQ(sas.size(), 1u);
    EXPECT_EQ(sas[0].id, p.old_i);
    EXPECT_TRUE(ReauthPair::both_children(*p.i));
    EXPECT_TRUE(ReauthPair::both_children(*p.r));
    EXPECT_TRUE(p.i->logged("failed; retrying later"));
    block = false;
    bool gap = false;
    ASSERT_TRUE(p.run_reauth(60s, gap));
    EXPECT_FALSE(gap);
    EXPECT_EQ(p.i->count_events(Event::Kind::ike_reauthenticated), 1u);
}

TEST(Reauth, OffByDefault) {
    ReauthPair p(Duration::zero());
    p.net.run_for(3h);
    EXPECT_EQ(p.i->count_events(Event::Kind::ike_reauthenticated), 0u);
    EXPECT_EQ(p.i->engine->list_sas().size(), 1u);
}

}  // namespace
}  // namespace mobiked::sim
