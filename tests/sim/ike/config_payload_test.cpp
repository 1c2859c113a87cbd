// Configuration Payload (RFC 7296 §2.19): inner addresses from gateway pools,
// leases per identity, exhaustion, and a client claiming another's address.
#include <gtest/gtest.h>

#include "ike/address_pool.hpp"
#include "ike/proposals.hpp"
#include "ike/traffic_selectors.hpp"
#include "sim/ike/sim_network.hpp"

namespace mobiked::sim {
namespace {

const Endpoint kGw{*IpAddress::parse("192.0.2.2"), 500};
const std::string kPsk = "remote access secret";

Config gateway(const std::string& pool_range) {
    Config c;
    ConnectionConfig conn;
    conn.name = "ra";
    conn.remote_hosts = {"%any"};
    conn.ike_proposals = *parse_proposals({"aes128gcm16-prfsha256-x25519"}, wire::ProtocolId::ike);
    conn.local.id = *Identity::parse("vpn.company.com");
    conn.remote.id = *Identity::parse("%any");
    conn.pools = {"users"};
    ChildConfig child;
    child.name = "office";
    child.local_ts = {*TsSpec::parse("10.2.0.0/16")};
    child.remote_ts = {*TsSpec::parse("dynamic")};
    conn.children.push_back(child);
    c.connections.push_back(conn);
    auto base = pool_range.substr(0, pool_range.find('/'));
    c.pools.push_back({"users", *AddressRange::from_prefix(*IpAddress::parse(base), std::stoi(pool_range.substr(pool_range.find('/') + 1))),
                       {*IpAddress::parse("10.2.0.53")}});
    c.secrets.push_back({{*Identity::parse("%any")}, to_bytes(kPsk)});
    return c;
}

Config client(const std::string& id, const std::string& local_ts = "dynamic") {
    Config c;
    ConnectionConfig conn;
    conn.name = "ra";
    conn.remote_hosts = {"192.0.2.2"};
    conn.ike_proposals = *parse_proposals({"aes128gcm16-prfsha256-x25519"}, wire::ProtocolId::ike);
    conn.local.id = *Identity::parse(id);
    conn.remote.id = *Identity::parse("vpn.company.com");
    conn.request_virtual_ips = {IpAddress::Family::v4};
    ChildConfig child;
    child.name = "office";
    child.local_ts = {*TsSpec::parse(local_ts)};
    child.remote_ts = {*TsSpec::parse("10.2.0.0/16")};
    conn.children.push_back(child);
    c.connections.push_back(conn);
    c.secrets.push_back({{*Identity::parse(id), *Identity::parse("vpn.company.com")}, to_bytes(kPsk)});
    return c;
}

struct RemoteAccess {
    Network net{61};
    Node* gw;
    explicit RemoteAccess(const std::string& pool = "10.9.0.0/30") {
        gw = &net.add_node("gw", {"192.0.2.2"}, gateway(pool), 62);
    }
    Node& add_client(const std::string& name, const std::string& addr, Config c, std::uint64_t seed) {
        return net.add_node(name, {addr}, std::move(c), seed);
    }
    bool connect(Node& c, const std::string& addr) {
        Output out;
        if (!c.engine->initiate("ra", "", {*IpAddress::parse(addr), 500}, kGw, net.now(), out).ok()) return false;
        net.apply(c, out);
        const auto before = c.count_events(Event::Kind::ike_established) + c.count_events(Event::Kind::ike_failed);
        return net.run_until([&] { return c.count_events(Event::Kind::ike_established) + c.count_events(Event::Kind::ike_failed) > before; },
                             std::chrono::seconds(5)) && (net.run_for(std::chrono::milliseconds(100)), true);
    }
    void disconnect(Node& c) {
        Output out;
        ASSERT_TRUE(c.engine->terminate_ike(c.engine->list_sas().at(0).id, net.now(), out).ok());
        net.apply(c, out);
        net.run_for(std::chrono::seconds(1));
    }
};

TEST(ConfigPayload, ClientGetsAddressAndSelectorsNarrowToIt) {
    RemoteAccess ra;
    Node& u1 = ra.add_client("user1", "192.0.2.11", client("user1@company.com"), 63);
    ASSERT_TRUE(ra.connect(u1, "192.0.2.11"));
    auto sa = u1.engine->list_sas().at(0);
    ASSERT_EQ(sa.virtual_ips.size(), 1u);
    EXPECT_EQ(sa.virtual_ips[0].to_string(), "10.9.0.0");
    EXPECT_TRUE(u1.has_event(Event::Kind::virtual_ip));
    ASSERT_EQ(u1.installed.size(), 1u);
    EXPECT_EQ(to_string(u1.installed[0].local_ts), "10.9.0.0/32");
    EXPECT_EQ(to_string(ra.gw->installed.at(0).remote_ts), "10.9.0.0/32");
    EXPECT_EQ(ra.gw->engine->list_sas().at(0).virtual_ips.at(0).to_string(), "10.9.0.0");
    EXPECT_TRUE(u1.logged("sending IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH CP SA TSi TSr N(MOBIKE_SUP) ]"));
    EXPECT_TRUE(u1.logged("received IKE_AUTH response 1 [ IDr AUTH N(MOBIKE_SUP) CP SA TSi TSr ]"));
}

TEST(ConfigPayload, DistinctUsersDistinctAddressesSameUserSameAddressBack) {
    RemoteAccess ra;
    Node& u1 = ra.add_client("user1", "192.0.2.11", client("user1@company.com"), 64);
    Node& u2 = ra.add_client("user2", "192.0.2.12", client("user2@company.com"), 65);
    ASSERT_TRUE(ra.connect(u1, "192.0.2.11"));
    ASSERT_TRUE(ra.connect(u2, "192.0.2.12"));
    const auto a1 = u1.engine->list_sas().at(0).virtual_ips.at(0), a2 = u2.engine->list_sas().at(0).virtual_ips.at(0);
    EXPECT_NE(a1, a2);
    ra.disconnect(u1);
    ASSERT_EQ(ra.gw->engine->ike_sa_count(), 1u);
    ASSERT_TRUE(ra.connect(u1, "192.0.2.11"));  // reconnect: the same lease
    EXPECT_EQ(u1.engine->list_sas().at(0).virtual_ips.at(0), a1);
}

TEST(ConfigPayload, ExhaustedPoolRefusesTheChildNotTheOthers) {
    RemoteAccess ra("10.9.0.0/32");  // one address
    Node& u1 = ra.add_client("user1", "192.0.2.11", client("user1@company.com"), 66);
    Node& u2 = ra.add_client("user2", "192.0.2.12", client("user2@company.com"), 67);
    ASSERT_TRUE(ra.connect(u1, "192.0.2.11"));
    ASSERT_TRUE(ra.connect(u2, "192.0.2.12"));
    EXPECT_EQ(u1.installed.size(), 1u);
    EXPECT_TRUE(u2.installed.empty());
    EXPECT_TRUE(u2.engine->list_sas().at(0).virtual_ips.empty());
    EXPECT_TRUE(ra.gw->logged("sending IKE_AUTH response 1 [ IDr AUTH N(MOBIKE_SUP) N(INTERNAL_ADDRESS_FAILURE) ]"));
    // Once user1 leaves, user2's next attempt gets the address.
    ra.disconnect(u1);
    ra.disconnect(u2);
    ASSERT_TRUE(ra.connect(u2, "192.0.2.12"));
    EXPECT_EQ(u2.installed.size(), 1u);
}

TEST(ConfigPayload, ClaimingAnotherUsersAddressIsRefused) {
    RemoteAccess ra;
    Node& u1 = ra.add_client("user1", "192.0.2.11", client("user1@company.com"), 68);
    ASSERT_TRUE(ra.connect(u1, "192.0.2.11"));  // user1 holds 10.9.0.0
    // user2 insists on traffic selectors for user1's address.
    Node& u2 = ra.add_client("user2", "192.0.2.12", client("user2@company.com", "10.9.0.0/32"), 69);
    ASSERT_TRUE(ra.connect(u2, "192.0.2.12"));
    EXPECT_TRUE(u2.installed.empty());
    bool refused = false;
    for (const auto& e : u2.events) refused |= e.detail.find("TS_UNACCEPTABLE") != std::string::npos;
    EXPECT_TRUE(refused);
    EXPECT_EQ(ra.gw->installed.size(), 1u);  // only user1's
}

TEST(AddressPool, LeasesAreStableBoundedAndReused) {
    AddressPool pool("p", *AddressRange::from_prefix(*IpAddress::parse("10.0.0.0"), 30));
    EXPECT_EQ(pool.size(), 4u);
    auto a = pool.acquire("a"), b = pool.acquire("b");
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, *b);
    pool.release("a");
    EXPECT_EQ(*pool.acquire("a"), *a);
    pool.acquire("c");
    pool.acquire("d");
    EXPECT_FALSE(pool.acquire("e").has_value());  // all four online
    pool.release("b");
    auto e = pool.acquire("e");  // takes b's offline lease
    ASSERT_TRUE(e);
    EXPECT_EQ(*e, *b);
    EXPECT_EQ(pool.online(), 4u);
    AddressPool v6("v6", *AddressRange::from_prefix(*IpAddress::parse("2001:db8::"), 64));
    EXPECT_EQ(v6.size(), AddressPool::kMaxAddresses);
    EXPECT_EQ(v6.acquire("x")->to_string(), "2001:db8::");
    EXPECT_EQ(v6.acquire("y")->to_string(), "2001:db8::1");
}

}  // namespace
}  // namespace mobiked::sim

namespace mobiked::sim {
namespace {

TEST(ConfigPayload, LeaseSurvivesAnIkeRekeyStartedByTheGateway) {
    RemoteAccess ra;
    Node& u1 = ra.add_client("user1", "192.0.2.11", client("user1@company.com"), 70);
    ASSERT_TRUE(ra.connect(u1, "192.0.2.11"));
    Output out;
    ASSERT_TRUE(ra.gw->engine->rekey_ike(ra.gw->engine->list_sas().at(0).id, ra.net.now(), out).ok());
    ra.net.apply(*ra.gw, out);
    ra.net.run_for(std::chrono::seconds(2));
    auto gw = ra.gw->engine->list_sas().at(0);
    ASSERT_TRUE(gw.initiator);  // the gateway is now the original initiator
    ASSERT_EQ(gw.virtual_ips.size(), 1u);
    // The client rekeys its CHILD_SA over the new IKE SA: the gateway narrows
    // the client's selectors to the lease again, not to its outer address.
    auto cl = u1.engine->list_sas().at(0);
    ASSERT_TRUE(u1.engine->rekey_child(cl.id, cl.children.at(0).child_id, ra.net.now(), out).ok());
    ra.net.apply(u1, out);
    ra.net.run_for(std::chrono::seconds(2));
    EXPECT_EQ(u1.count_events(Event::Kind::child_established), 2u);  // really rekeyed
    EXPECT_FALSE(u1.has_event(Event::Kind::child_failed));
    ASSERT_EQ(ra.gw->installed.size(), 1u);
    EXPECT_NE(ra.gw->installed[0].spi_out, cl.children.at(0).spi_in);
    EXPECT_EQ(to_string(ra.gw->installed[0].remote_ts), "10.9.0.0/32");
    EXPECT_EQ(to_string(u1.installed.at(0).local_ts), "10.9.0.0/32");
}

}  // namespace
}  // namespace mobiked::sim
