// PAD identity patterns (RFC 4301 §4.4.3.1; seed 001's gateway: "Name:
// company.com" PROTECTs the traffic of every users@company.com): a remote id
// "*@domain" / "*.domain" accepts a family of authenticated identities and
// refuses others even when their certificate comes from the same CA.
#include <gtest/gtest.h>

#include "ike/proposals.hpp"
#include "sim/ike/sim_network.hpp"
#include "support/pki_fixture.hpp"

namespace mobiked::sim {
namespace {

using crypto::test::Issued;
using crypto::test::test_pki;

Identity id(const std::string& s) { return *Identity::parse(s); }

TEST(IdentityPattern, UserAtDomain) {
    const Identity p = id("*@company.com");
    EXPECT_TRUE(p.is_pattern());
    EXPECT_TRUE(p.matches(id("user1@company.com")));
    EXPECT_TRUE(p.matches(id("User2@Company.COM")));
    EXPECT_FALSE(p.matches(id("intruder@example.net")));
    EXPECT_FALSE(p.matches(id("user@evil-company.com")));
    EXPECT_FALSE(p.matches(id("@company.com")));       // FQDN, not a user FQDN
    EXPECT_FALSE(p.matches(id("company.com")));
    EXPECT_FALSE(p.matches(id("a@b@company.com")));    // one user part
    EXPECT_FALSE(p.matches(id("user1@company.com.evil.net")));
    EXPECT_FALSE(p.matches(Identity{wire::IdType::rfc822_addr, to_bytes(std::string_view("@company.com")), false}));
}

TEST(IdentityPattern, FqdnBelowDomain) {
    const Identity p = id("*.company.com");
    EXPECT_TRUE(p.is_pattern());
    EXPECT_TRUE(p.matches(id("laptop.company.com")));
    EXPECT_TRUE(p.matches(id("a.b.company.com")));
    EXPECT_FALSE(p.matches(id("company.com")));
    EXPECT_FALSE(p.matches(id("xcompany.com")));
    EXPECT_FALSE(p.matches(id("user@laptop.company.com")));
}

TEST(IdentityPattern, OnlyTheConfiguredSideIsAPattern) {
    // An identity received from the network is only ever the argument of
    // matches(): a peer calling itself "*@company.com" matches no one but a
    // pattern of the configuration (and its certificate must name it).
    const Identity received = Identity::from_payload({wire::IdType::rfc822_addr, to_bytes(std::string_view("*@company.com"))});
    EXPECT_FALSE(id("user1@company.com").matches(received));
    EXPECT_FALSE(id("*@example.net").matches(received));
    EXPECT_FALSE(id("user1@company.com").is_pattern());
    EXPECT_FALSE(id("%any").is_pattern());
    EXPECT_FALSE(id("*").is_pattern());
    EXPECT_FALSE(id("1.2.3.4").is_pattern());
}

std::vector<crypto::Certificate> certs(const std::string& pem) { return *crypto::Certificate::from_pem(as_view(pem)); }

Config cert_config(const std::string& local, const std::string& remote, const Issued& leaf, const std::string& my_id,
                   const std::string& peer_id) {
    Config c;
    ConnectionConfig conn;
    conn.name = "rw";
    conn.local_addrs = {*IpAddress::parse(local)};
    conn.remote_hosts = {remote};
    conn.ike_proposals = *parse_proposals({"aes256gcm16-prfsha384-ecp256"}, wire::ProtocolId::ike);
    conn.local.method = AuthMethod::pubkey;
    conn.local.id = id(my_id);
    conn.local.certificates = certs(leaf.cert_pem);
    conn.local.certificates.push_back(certs(test_pki().intermediate.cert_pem).front());
    conn.local.private_key = std::make_shared<crypto::PrivateKey>(*crypto::PrivateKey::from_pem(as_view(leaf.key_pem)));
    conn.remote.method = AuthMethod::pubkey;
    conn.remote.id = id(peer_id);
    conn.remote.trust_anchors = certs(test_pki().root.cert_pem);
    ChildConfig child;
    child.name = "net";
    child.local_ts = {*TsSpec::parse("dynamic")};
    child.remote_ts = {*TsSpec::parse("dynamic")};
    child.mode = IpsecMode::transport;
    child.esp_proposals = *parse_proposals({"aes256gcm16"}, wire::ProtocolId::esp);
    conn.children.push_back(child);
    c.connections.push_back(conn);
    return c;
}

struct Pair {
    Network net;
    Node* i;
    Node* r;
    Pair(const std::string& i_id, const std::string& i_expects, const std::string& r_expects,
         Duration i_dpd = Duration::zero()) {
        Config ic = cert_config("192.0.2.1", "192.0.2.2", test_pki().leaf_rsa, i_id, i_expects);
        ic.connections[0].dpd_delay = i_dpd;
        ic.connections[0].retransmit = {std::chrono::seconds(1), 1.5, 3, Duration::zero()};
        i = &net.add_node("client", {"192.0.2.1"}, ic, 21);
        r = &net.add_node("gw", {"192.0.2.2"},
                          cert_config("192.0.2.2", "%any", test_pki().leaf_ecdsa, "ecdsa.example.org", r_expects), 22);
        Output out;
        EXPECT_TRUE(i->engine->initiate("rw", "", {*IpAddress::parse("192.0.2.1"), 500},
                                        {*IpAddress::parse("192.0.2.2"), 500}, net.now(), out).ok());
        net.apply(*i, out);
    }
};

TEST(PadPattern, UserOfTheDomainAccepted) {
    // leaf_rsa carries email:vpn@example.org; the initiator's remote id is a
    // pattern too, so it sends no IDr.
    Pair p("vpn@example.org", "*.example.org", "*@example.org");
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::child_established) &&
                                             p.r->has_event(Event::Kind::child_established); },
                                std::chrono::seconds(5)));
    EXPECT_EQ(p.r->engine->list_sas().at(0).remote_id, "vpn@example.org");
    EXPECT_EQ(p.i->engine->list_sas().at(0).remote_id, "ecdsa.example.org");
    EXPECT_FALSE(p.i->logged("IDr AUTH"));
}

TEST(PadPattern, ValidCertificateOfAnotherDomainRefused) {
    // Same CA, valid signature, identity bound to the certificate, but the
    // PAD entry only admits *@company.com: AUTHENTICATION_FAILED, no SA.
    Pair p("vpn@example.org", "ecdsa.example.org", "*@company.com");
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(5)));
    EXPECT_TRUE(p.r->has_event(Event::Kind::ike_failed));
    bool refused = false;
    for (const auto& e : p.r->events) refused |= e.detail.find("no connection accepts peer identity") != std::string::npos;
    EXPECT_TRUE(refused);
    bool auth_failed = false;
    for (const auto& e : p.i->events) auth_failed |= e.detail.find("AUTHENTICATION_FAILED") != std::string::npos;
    EXPECT_TRUE(auth_failed);
    EXPECT_EQ(p.r->engine->ike_sa_count(), 0u);
    EXPECT_TRUE(p.r->installed.empty());
    EXPECT_TRUE(p.i->installed.empty());
}

// DPD (RFC 7296 §2.4): an established SA whose liveness check gives up ends
// with ike_failed "...: peer dead", which the daemon's dpd_action acts on; a
// handshake that never got an answer does not say so.
TEST(DeadPeer, LivenessTimeoutSaysPeerDead) {
    Pair p("vpn@example.org", "ecdsa.example.org", "*@example.org", std::chrono::seconds(5));
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::child_established); }, std::chrono::seconds(5)));
    p.net.set_filter([](Datagram&) { return Verdict::drop; });  // the gateway vanishes
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(60)));
    std::string detail;
    for (const auto& e : p.i->events)
        if (e.kind == Event::Kind::ike_failed) detail = e.detail;
    EXPECT_TRUE(detail.ends_with(kPeerDead)) << detail;
    EXPECT_EQ(p.i->engine->ike_sa_count(), 0u);
    EXPECT_TRUE(p.i->installed.empty());
}

TEST(DeadPeer, UnansweredHandshakeIsNotADeadPeer) {
    Network net;
    Node& i = net.add_node("client", {"192.0.2.1"},
                           cert_config("192.0.2.1", "192.0.2.2", test_pki().leaf_rsa, "vpn@example.org", "%any"), 31);
    net.set_filter([](Datagram&) { return Verdict::drop; });
    Output out;
    ASSERT_TRUE(i.engine->initiate("rw", "", {*IpAddress::parse("192.0.2.1"), 500}, {*IpAddress::parse("192.0.2.2"), 500},
                                   net.now(), out).ok());
    net.apply(i, out);
    ASSERT_TRUE(net.run_until([&] { return i.has_event(Event::Kind::ike_failed); }, std::chrono::seconds(400)));
    for (const auto& e : i.events) {
        if (e.kind == Event::Kind::ike_failed) {
            EXPECT_FALSE(e.detail.ends_with(kPeerDead)) << e.detail;
        }
    }
}

}  // namespace
}  // namespace mobiked::sim
