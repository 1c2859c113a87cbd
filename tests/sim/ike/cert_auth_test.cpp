// Certificate authentication (RFC 7296 §2.15, RFC 7427, RFC 4945 §3.1)
// between two engines, with a test PKI generated at run time.
#include <gtest/gtest.h>

#include "ike/proposals.hpp"
#include "sim/ike/sim_network.hpp"
#include "support/pki_fixture.hpp"

namespace mobiked::sim {
namespace {

using crypto::test::Issued;
using crypto::test::test_pki;

std::vector<crypto::Certificate> certs(const std::string& pem) {
    return *crypto::Certificate::from_pem(as_view(pem));
}

struct Side {
    const Issued* leaf;
    std::string id;
    std::string trusted_root_pem;
};

Config cert_config(const std::string& local, const std::string& remote, const Side& me, const std::string& peer_id) {
    Config c;
    ConnectionConfig conn;
    conn.name = "s2s";
    conn.local_addrs = {*IpAddress::parse(local)};
    conn.remote_hosts = {remote};
    conn.ike_proposals = *parse_proposals({"aes256gcm16-prfsha384-ecp256"}, wire::ProtocolId::ike);
    conn.local.method = AuthMethod::pubkey;
    conn.local.id = *Identity::parse(me.id);
    conn.local.certificates = certs(me.leaf->cert_pem);
    conn.local.certificates.push_back(certs(test_pki().intermediate.cert_pem).front());
    conn.local.private_key = std::make_shared<crypto::PrivateKey>(*crypto::PrivateKey::from_pem(as_view(me.leaf->key_pem)));
    conn.remote.method = AuthMethod::pubkey;
    conn.remote.id = *Identity::parse(peer_id);
    conn.remote.trust_anchors = certs(me.trusted_root_pem);
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

struct CertPair {
    Network net;
    Node* i;
    Node* r;
    CertPair(const Side& initiator, const std::string& expect_r, const Side& responder, const std::string& expect_i) {
        i = &net.add_node("moon", {"192.0.2.1"}, cert_config("192.0.2.1", "192.0.2.2", initiator, expect_r), 11);
        r = &net.add_node("sun", {"192.0.2.2"}, cert_config("192.0.2.2", "%any", responder, expect_i), 12);
        Output out;
        auto id = i->engine->initiate("s2s", "", {*IpAddress::parse("192.0.2.1"), 500},
                                      {*IpAddress::parse("192.0.2.2"), 500}, net.now(), out);
        EXPECT_TRUE(id.ok());
        net.apply(*i, out);
    }
    bool established() const {
        return i->has_event(Event::Kind::child_established) && r->has_event(Event::Kind::child_established);
    }
};

const std::string& root() { return test_pki().root.cert_pem; }

TEST(CertAuth, RsaInitiatorEcdsaResponderWithChain) {
    CertPair p({&test_pki().leaf_rsa, "rsa.example.org", root()}, "ecdsa.example.org",
               {&test_pki().leaf_ecdsa, "ecdsa.example.org", root()}, "rsa.example.org");
    ASSERT_TRUE(p.net.run_until([&] { return p.established(); }, std::chrono::seconds(5)));
    EXPECT_EQ(p.i->engine->list_sas()[0].remote_id, "ecdsa.example.org");
    EXPECT_EQ(p.r->engine->list_sas()[0].remote_id, "rsa.example.org");
    // Transport mode with dynamic selectors: each side's own address.
    const auto& c = p.i->installed.at(0);
    EXPECT_EQ(c.mode, IpsecMode::transport);
    EXPECT_EQ(c.local_ts.at(0).to_string(), "192.0.2.1/32");
    EXPECT_EQ(c.remote_ts.at(0).to_string(), "192.0.2.2/32");
}

TEST(CertAuth, Ed25519Responder) {
    CertPair p({&test_pki().leaf_ecdsa, "ecdsa.example.org", root()}, "ed25519.example.org",
               {&test_pki().leaf_ed25519, "ed25519.example.org", root()}, "ecdsa.example.org");
    ASSERT_TRUE(p.net.run_until([&] { return p.established(); }, std::chrono::seconds(5)));
}

TEST(CertAuth, EmailIdentityFromSubjectAltName) {
    CertPair p({&test_pki().leaf_rsa, "vpn@example.org", root()}, "ecdsa.example.org",
               {&test_pki().leaf_ecdsa, "ecdsa.example.org", root()}, "vpn@example.org");
    ASSERT_TRUE(p.net.run_until([&] { return p.established(); }, std::chrono::seconds(5)));
}

TEST(CertAuth, UntrustedInitiatorCertificateRejectedByResponder) {
    // Same name, valid signature, but issued by a CA the responder does not trust.
    CertPair p({&test_pki().other_leaf, "rsa.example.org", root()}, "ecdsa.example.org",
               {&test_pki().leaf_ecdsa, "ecdsa.example.org", root()}, "rsa.example.org");
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(5)));
    EXPECT_TRUE(p.r->has_event(Event::Kind::ike_failed));
    EXPECT_EQ(p.r->engine->ike_sa_count(), 0u);
    EXPECT_TRUE(p.i->installed.empty());
    EXPECT_TRUE(p.r->installed.empty());
}

TEST(CertAuth, UntrustedResponderCertificateRejectedByInitiator) {
    CertPair p({&test_pki().leaf_ecdsa, "ecdsa.example.org", root()}, "rsa.example.org",
               {&test_pki().other_leaf, "rsa.example.org", test_pki().other_root.cert_pem}, "ecdsa.example.org");
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(5)));
    EXPECT_FALSE(p.i->has_event(Event::Kind::ike_established));
    EXPECT_TRUE(p.i->installed.empty());
    // The initiator told the responder (AUTHENTICATION_FAILED in an
    // INFORMATIONAL, RFC 7296 §2.21.2), which dropped its established SA.
    ASSERT_TRUE(p.net.run_until([&] { return p.r->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(1)));
    EXPECT_EQ(p.r->engine->ike_sa_count(), 0u);
    EXPECT_TRUE(p.r->installed.empty());
}

TEST(CertAuth, IdentityNotInCertificateRejected) {
    // A valid certificate for rsa.example.org cannot claim another name.
    CertPair p({&test_pki().leaf_rsa, "mallory.example.org", root()}, "ecdsa.example.org",
               {&test_pki().leaf_ecdsa, "ecdsa.example.org", root()}, "%any");
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(5)));
    EXPECT_TRUE(p.r->has_event(Event::Kind::ike_failed));
    bool bound = false;
    for (const auto& e : p.r->events) bound |= e.detail.find("not bound to certificate") != std::string::npos;
    EXPECT_TRUE(bound);
}

}  // namespace
}  // namespace mobiked::sim

namespace mobiked::sim {
namespace {

// RFC 7383: certificate chains in IKE_AUTH exceed small path MTUs.
TEST(Fragmentation, CertificateChainsPassA576BytePath) {
    Network net(91);
    Side a{&test_pki().leaf_rsa, "rsa.example.org", root()}, b{&test_pki().leaf_ecdsa, "ecdsa.example.org", root()};
    Config ic = cert_config("192.0.2.1", "192.0.2.2", a, "ecdsa.example.org");
    Config rc = cert_config("192.0.2.2", "%any", b, "rsa.example.org");
    ic.connections[0].fragment_size = rc.connections[0].fragment_size = 576;
    Node& i = net.add_node("moon", {"192.0.2.1"}, ic, 92);
    Node& r = net.add_node("sun", {"192.0.2.2"}, rc, 93);
    std::size_t largest = 0, dropped = 0;
    net.set_filter([&](Datagram& dg) {
        auto h = std::get<wire::Header>(wire::decode_header(dg.data));
        if (h.exchange != wire::ExchangeType::ike_sa_init) largest = std::max(largest, dg.data.size());
        // Lose the second fragment of the first IKE_AUTH request once.
        if (h.exchange == wire::ExchangeType::ike_auth && !h.is_response() && dropped == 0 && dg.data.size() > 400) {
            auto m = std::get<wire::Message>(wire::decode_message(dg.data));
            const auto* f = std::get_if<wire::EncryptedFragmentPayload>(&m.payloads.back().body);
            if (f && f->fragment_number == 2) {
                ++dropped;
                return Verdict::drop;
            }
        }
        return Verdict::deliver;
    });
    Output out;
    ASSERT_TRUE(i.engine->initiate("s2s", "", {*IpAddress::parse("192.0.2.1"), 500}, {*IpAddress::parse("192.0.2.2"), 500},
                                   net.now(), out).ok());
    net.apply(i, out);
    ASSERT_TRUE(net.run_until([&] { return i.has_event(Event::Kind::child_established) && r.has_event(Event::Kind::child_established); },
                              std::chrono::seconds(10)));
    EXPECT_EQ(dropped, 1u);
    EXPECT_TRUE(i.logged("sending IKE_AUTH request 1 [ IDi CERT CERT N(INIT_CONTACT) CERTREQ IDr AUTH "
                         "N(USE_TRANSPORT_MODE) SA TSi TSr N(MOBIKE_SUP) ] to 192.0.2.2:4500 in 4 fragments"));
    // Every message after IKE_SA_INIT fits 576 - IPv4 20 - UDP 8 - marker 4.
    EXPECT_LE(largest, 544u);
    EXPECT_GT(largest, 400u);
}

}  // namespace
}  // namespace mobiked::sim
