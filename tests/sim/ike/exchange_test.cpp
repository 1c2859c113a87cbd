// Whole IKEv2 exchanges between two engines on the simulated network.
#include <gtest/gtest.h>

#include "sim/ike/sim_network.hpp"
#include "wire/message.hpp"

namespace mobiked::sim {
namespace {

const Endpoint kInitiator{*IpAddress::parse("192.0.2.1"), 500};
const Endpoint kResponder{*IpAddress::parse("192.0.2.2"), 500};

struct Pair {
    Network net;
    Node* i = nullptr;
    Node* r = nullptr;
    std::uint64_t sa_id = 0;

    explicit Pair(const PairOptions& o = {}, std::uint64_t seed = 1) : net(seed) {
        i = &net.add_node("moon", {"192.0.2.1"}, initiator_config(o), seed * 2 + 1);
        r = &net.add_node("sun", {"192.0.2.2"}, responder_config(o), seed * 2 + 2);
    }
    void initiate() {
        Output out;
        auto id = i->engine->initiate("s2s", "", kInitiator, kResponder, net.now(), out);
        ASSERT_TRUE(id.ok()) << id.error();
        sa_id = *id;
        net.apply(*i, out);
    }
    bool both_established() const {
        return i->has_event(Event::Kind::child_established) && r->has_event(Event::Kind::child_established);
    }
    bool settled() const {
        auto failed = [](const Node* n) { return n->has_event(Event::Kind::ike_failed); };
        return both_established() || (failed(i) && (failed(r) || r->engine->ike_sa_count() == 0 ||
                                                     r->has_event(Event::Kind::ike_established)));
    }
};

wire::Header header_of(const Datagram& dg) {
    // The non-ESP marker is the daemon's business; engines see bare IKE.
    return std::get<wire::Header>(wire::decode_header(dg.data));
}

TEST(Exchange, PskEstablishesIkeAndChildWithMatchingKeys) {
    Pair p;
    p.initiate();
    // IKE_SA_INIT { SA, KE, Ni, N(NATD_S), N(NATD_D) } -->
    // <-- IKE_SA_INIT { SA, KE, Nr, N(NATD_S), N(NATD_D) }
    // IKE_AUTH { IDi, AUTH, SAi2, TSi, TSr, N(MOBIKE_SUPPORTED) } -->
    // <-- IKE_AUTH { IDr, AUTH, SAr2, TSi, TSr, N(MOBIKE_SUPPORTED) }
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(5)));
    EXPECT_EQ(p.net.delivered(), 4u);

    auto si = p.i->engine->list_sas(), sr = p.r->engine->list_sas();
    ASSERT_EQ(si.size(), 1u);
    ASSERT_EQ(sr.size(), 1u);
    EXPECT_EQ(si[0].state, IkeState::established);
    EXPECT_EQ(sr[0].state, IkeState::established);
    EXPECT_EQ(si[0].spi_i, sr[0].spi_i);
    EXPECT_EQ(si[0].spi_r, sr[0].spi_r);
    EXPECT_EQ(si[0].remote_id, "sun");
    EXPECT_EQ(sr[0].remote_id, "moon");
    EXPECT_TRUE(si[0].mobike);
    EXPECT_EQ(si[0].proposal, "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519");
    // MOBIKE moves IKE to port 4500 after IKE_SA_INIT (RFC 4555 §3.3).
    EXPECT_EQ(si[0].remote.port, 4500);
    EXPECT_EQ(sr[0].remote.port, 4500);

    ASSERT_EQ(p.i->installed.size(), 1u);
    ASSERT_EQ(p.r->installed.size(), 1u);
    const auto& ci = p.i->installed[0];
    const auto& cr = p.r->installed[0];
    EXPECT_EQ(ci.spi_in, cr.spi_out);
    EXPECT_EQ(ci.spi_out, cr.spi_in);
    EXPECT_GT(ci.spi_in, 255u);
    EXPECT_EQ(ci.outbound.encr_key, cr.inbound.encr_key);
    EXPECT_EQ(ci.inbound.encr_key, cr.outbound.encr_key);
    EXPECT_NE(ci.inbound.encr_key, ci.outbound.encr_key);
    EXPECT_EQ(ci.outbound.encr_key.size(), 20u);  // AES-128 key + 4-byte salt
    EXPECT_EQ(ci.local_ts, cr.remote_ts);
    EXPECT_EQ(ci.local_ts[0].to_string(), "10.1.0.0/16");
    EXPECT_EQ(ci.remote_ts[0].to_string(), "10.2.0.0/16");
    EXPECT_FALSE(ci.udp_encap);
}

TEST(Exchange, CbcHmacModp2048Establishes) {
    PairOptions o;
    o.initiator_ike = o.responder_ike = "aes256-sha256-modp2048";
    o.initiator_esp = o.responder_esp = "aes256-sha256";
    Pair p(o);
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(5)));
    const auto& ci = p.i->installed.at(0);
    const auto& cr = p.r->installed.at(0);
    EXPECT_EQ(ci.outbound.integ_key, cr.inbound.integ_key);
    EXPECT_EQ(ci.outbound.integ_key.size(), 32u);
    EXPECT_EQ(ci.outbound.encr_key.size(), 32u);
    EXPECT_EQ(p.i->engine->list_sas()[0].proposal, "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048");
}

TEST(Exchange, WrongPskRejectedOnBothSides) {
    PairOptions o;
    o.responder_psk = "a different secret";
    Pair p(o);
    p.initiate();
    // The responder cannot verify AUTH, answers AUTHENTICATION_FAILED and drops the SA.
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(5)));
    p.net.run_for(std::chrono::seconds(1));
    EXPECT_TRUE(p.r->has_event(Event::Kind::ike_failed));
    EXPECT_EQ(p.i->engine->ike_sa_count(), 0u);
    EXPECT_EQ(p.r->engine->ike_sa_count(), 0u);
    EXPECT_TRUE(p.i->installed.empty());
    EXPECT_TRUE(p.r->installed.empty());
    bool told = false;
    for (const auto& e : p.i->events) told |= e.kind == Event::Kind::error_received && e.detail == "AUTHENTICATION_FAILED";
    EXPECT_TRUE(told);
}

TEST(Exchange, NoCommonProposal) {
    PairOptions o;
    o.initiator_ike = "aes256gcm16-prfsha384-ecp384";
    o.responder_ike = "aes128gcm16-prfsha256-x25519";
    Pair p(o);
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(5)));
    EXPECT_EQ(p.r->engine->ike_sa_count(), 0u);  // the responder kept no state
    bool told = false;
    for (const auto& e : p.i->events) told |= e.detail == "NO_PROPOSAL_CHOSEN";
    EXPECT_TRUE(told);
}

TEST(Exchange, NoCommonEspProposalKeepsIkeSaButFailsChild) {
    PairOptions o;
    o.initiator_esp = "aes256gcm16";
    o.responder_esp = "aes128gcm16";
    Pair p(o);
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::child_failed); }, std::chrono::seconds(5)));
    EXPECT_TRUE(p.i->has_event(Event::Kind::ike_established));
    EXPECT_TRUE(p.r->has_event(Event::Kind::ike_established));
    EXPECT_TRUE(p.i->installed.empty());
    EXPECT_TRUE(p.r->installed.empty());
}

TEST(Exchange, InvalidKePayloadRetryWithPeersGroup) {
    PairOptions o;
    o.initiator_ike = "aes128gcm16-prfsha256-x25519-ecp256";  // offers x25519 first
    o.responder_ike = "aes128gcm16-prfsha256-ecp256";
    Pair p(o);
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(5)));
    EXPECT_EQ(p.net.delivered(), 6u);  // one extra IKE_SA_INIT round trip
    EXPECT_EQ(p.i->engine->list_sas()[0].proposal, "AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_256");
}

TEST(Exchange, CookieRoundWhenResponderIsBusy) {
    PairOptions o;
    o.cookie_threshold = 0;  // demand cookies from everyone
    Pair p(o);
    std::vector<bool> first_is_cookie;
    p.net.set_filter([&](Datagram& dg) {
        auto h = header_of(dg);
        if (h.exchange == wire::ExchangeType::ike_sa_init && !h.is_response()) {
            auto m = std::get<wire::Message>(wire::decode_message(dg.data));
            const auto* n = std::get_if<wire::NotifyPayload>(&m.payloads.front().body);
            first_is_cookie.push_back(n && n->type == wire::notify::cookie);
        }
        return Verdict::deliver;
    });
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(5)));
    // First request without a cookie, the second one echoing it as first payload.
    ASSERT_EQ(first_is_cookie.size(), 2u);
    EXPECT_FALSE(first_is_cookie[0]);
    EXPECT_TRUE(first_is_cookie[1]);
}

TEST(Exchange, ForgedCookieIsRefused) {
    PairOptions o;
    o.cookie_threshold = 0;
    Pair p(o);
    int cookie_replies = 0;
    p.net.set_filter([&](Datagram& dg) {
        auto h = header_of(dg);
        if (h.exchange != wire::ExchangeType::ike_sa_init) return Verdict::deliver;
        auto m = std::get<wire::Message>(wire::decode_message(dg.data));
        if (h.is_response()) {
            cookie_replies += wire::find_notify(m.payloads, wire::notify::cookie) != nullptr;
            return Verdict::deliver;
        }
        // Flip a bit of any cookie the initiator echoes.
        if (auto* n = std::get_if<wire::NotifyPayload>(&m.payloads.front().body); n && n->type == wire::notify::cookie) {
            n->data.back() ^= 1;
            dg.data = wire::encode_message(m.header, m.payloads);
        }
        return Verdict::deliver;
    });
    p.initiate();
    p.net.run_for(std::chrono::seconds(2));
    EXPECT_FALSE(p.both_established());
    EXPECT_EQ(p.r->engine->ike_sa_count(), 0u);
    EXPECT_GE(cookie_replies, 2);
}

TEST(Exchange, DuplicatedRequestAnsweredFromCache) {
    Pair p;
    int auth_requests = 0;
    p.net.set_filter([&](Datagram& dg) {
        auto h = header_of(dg);
        if (h.exchange == wire::ExchangeType::ike_auth && !h.is_response()) {
            ++auth_requests;
            return Verdict::duplicate;
        }
        return Verdict::deliver;
    });
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(5)));
    p.net.run_for(std::chrono::seconds(1));
    EXPECT_EQ(auth_requests, 1);
    // The duplicate got a second identical response; nothing was created twice.
    EXPECT_EQ(p.r->count_events(Event::Kind::ike_established), 1u);
    EXPECT_EQ(p.r->count_events(Event::Kind::child_established), 1u);
    EXPECT_EQ(p.r->installed.size(), 1u);
    EXPECT_EQ(p.r->sent, 3u);  // INIT response, AUTH response, AUTH response again
    EXPECT_EQ(p.i->engine->list_sas().at(0).state, IkeState::established);
}

TEST(Exchange, LostResponseIsRetransmitted) {
    Pair p;
    int dropped = 0;
    p.net.set_filter([&](Datagram& dg) {
        auto h = header_of(dg);
        if (h.exchange == wire::ExchangeType::ike_auth && h.is_response() && dropped == 0) {
            ++dropped;
            return Verdict::drop;
        }
        return Verdict::deliver;
    });
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(10)));
    EXPECT_EQ(dropped, 1);
    // The first retransmit goes after the 2 s default timeout.
    EXPECT_GE(p.net.now(), std::chrono::seconds(2));
    EXPECT_EQ(p.r->count_events(Event::Kind::child_established), 1u);
}

void expect_deleted_everywhere(Pair& p) {
    EXPECT_EQ(p.i->engine->ike_sa_count(), 0u);
    EXPECT_EQ(p.r->engine->ike_sa_count(), 0u);
    EXPECT_TRUE(p.i->installed.empty());
    EXPECT_TRUE(p.r->installed.empty());
    EXPECT_TRUE(p.i->has_event(Event::Kind::ike_deleted));
    EXPECT_TRUE(p.r->has_event(Event::Kind::ike_deleted));
}

TEST(Exchange, DeleteFromInitiator) {
    Pair p;
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(5)));
    Output out;
    ASSERT_TRUE(p.i->engine->terminate_ike(p.sa_id, p.net.now(), out).ok());
    p.net.apply(*p.i, out);
    p.net.run_for(std::chrono::seconds(1));
    expect_deleted_everywhere(p);
}

TEST(Exchange, DeleteFromResponder) {
    Pair p;
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(5)));
    Output out;
    auto id = p.r->engine->list_sas().at(0).id;
    ASSERT_TRUE(p.r->engine->terminate_ike(id, p.net.now(), out).ok());
    p.net.apply(*p.r, out);
    p.net.run_for(std::chrono::seconds(1));
    expect_deleted_everywhere(p);
}

TEST(Exchange, DeleteChildOnly) {
    Pair p;
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(5)));
    auto info = p.r->engine->list_sas().at(0);
    Output out;
    ASSERT_TRUE(p.r->engine->terminate_child(info.id, info.children.at(0).child_id, p.net.now(), out).ok());
    p.net.apply(*p.r, out);
    p.net.run_for(std::chrono::seconds(1));
    EXPECT_TRUE(p.i->installed.empty());
    EXPECT_TRUE(p.r->installed.empty());
    EXPECT_EQ(p.i->engine->ike_sa_count(), 1u);
    EXPECT_EQ(p.r->engine->ike_sa_count(), 1u);
}

// RFC 7296 §2.11: a response goes to the address and port its request came from,
// also when that is not the IKE SA's peer address. strongSwan probes a new path
// after a move (RFC 4555 §3.5) with an INFORMATIONAL from its new address and
// retries until the answer arrives there.
TEST(Exchange, ResponseGoesToTheRequestsSource) {
    Pair p;
    p.i->addresses.push_back(*IpAddress::parse("192.0.2.11"));
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(5)));
    const Endpoint moved{*IpAddress::parse("192.0.2.11"), 500};
    int moved_requests = 0;
    std::vector<std::string> responses_to;
    p.net.set_filter([&](Datagram& dg) {
        auto h = header_of(dg);
        if (h.exchange != wire::ExchangeType::informational) return Verdict::deliver;
        if (!h.is_response() && dg.local.address == kInitiator.address) {
            dg.local = moved;
            ++moved_requests;
        } else if (h.is_response()) {
            responses_to.push_back(dg.remote.address.to_string());
        }
        return Verdict::deliver;
    });
    auto info = p.i->engine->list_sas().at(0);
    Output out;
    ASSERT_TRUE(p.i->engine->terminate_child(info.id, info.children.at(0).child_id, p.net.now(), out).ok());
    p.net.apply(*p.i, out);
    p.net.run_for(std::chrono::seconds(1));
    EXPECT_EQ(moved_requests, 1);
    ASSERT_EQ(responses_to.size(), 1u);
    EXPECT_EQ(responses_to[0], "192.0.2.11");
    EXPECT_TRUE(p.i->installed.empty());
    EXPECT_TRUE(p.r->installed.empty());
}

TEST(Exchange, UnresponsivePeerTimesOutCleanly) {
    Pair p;
    p.net.set_filter([](Datagram&) { return Verdict::drop; });
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(400)));
    // Default schedule: 2 s * (1 + 1.5 + ... + 1.5^8) ~ 150 s, 9 sends.
    EXPECT_GT(p.net.now(), std::chrono::seconds(140));
    EXPECT_LT(p.net.now(), std::chrono::seconds(160));
    EXPECT_EQ(p.i->engine->ike_sa_count(), 0u);
    EXPECT_FALSE(p.i->engine->next_deadline().has_value());
    EXPECT_EQ(p.i->sent, 9u);
}

TEST(Exchange, UnexpectedResponderIdentityRejected) {
    Pair p;
    Config c = initiator_config({});
    c.connections[0].remote.id = *Identity::parse("mars");
    c.secrets[0].ids.push_back(*Identity::parse("mars"));
    p.i->engine->load_config(c);
    p.initiate();
    ASSERT_TRUE(p.net.run_until([&] { return p.i->has_event(Event::Kind::ike_failed); }, std::chrono::seconds(5)));
    EXPECT_TRUE(p.i->installed.empty());
}

// Under 30% random loss at the default timers, nearly every attempt
// establishes; every failure ends cleanly with nothing left behind.
TEST(Exchange, ThirtyPercentLossTwoHundredSeededRuns) {
    int established = 0, failed_cleanly = 0;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        Pair p({}, seed);
        // Liveness checks let a responder whose peer vanished clean up too.
        Config rc = responder_config({});
        rc.connections[0].dpd_delay = std::chrono::seconds(30);
        p.r->engine->load_config(rc);
        p.net.set_loss(0.30);
        p.initiate();
        p.net.run_until([&] { return p.both_established(); }, std::chrono::seconds(400));
        if (p.both_established()) {
            ++established;
            EXPECT_EQ(p.i->installed.size(), 1u) << "seed " << seed;
            EXPECT_EQ(p.r->installed.size(), 1u) << "seed " << seed;
            EXPECT_EQ(p.i->installed[0].outbound.encr_key, p.r->installed[0].inbound.encr_key) << "seed " << seed;
            continue;
        }
        for (const auto* n : {p.i, p.r})
            for (const auto& e : n->events)
                if (e.kind == Event::Kind::ike_failed)
                    std::printf("seed %llu %s failed at %.1f s: %s\n", static_cast<unsigned long long>(seed),
                                n->name.c_str(), to_ms(e.at) / 1000, e.detail.c_str());
        // Let every timer run out: both sides must end with no state at all.
        p.net.set_loss(1.0);
        p.net.run_for(std::chrono::seconds(400));
        const bool clean = p.i->engine->ike_sa_count() == 0 && p.r->engine->ike_sa_count() == 0 &&
                           p.i->installed.empty() && p.r->installed.empty() &&
                           !p.i->engine->next_deadline().has_value() && !p.r->engine->next_deadline().has_value();
        failed_cleanly += clean;
        EXPECT_TRUE(clean) << "seed " << seed;
    }
    EXPECT_GE(established, 198);
    RecordProperty("established", established);
    std::printf("30%% loss: %d/200 established, %d failed cleanly\n", established, failed_cleanly);
}

}  // namespace
}  // namespace mobiked::sim

namespace mobiked::sim {
namespace {

// RFC 7296 §2.4: INITIAL_CONTACT on a peer's first SA replaces its stale ones.
TEST(InitialContact, RebootedPeerReplacesItsStaleSa) {
    Network net(111);
    Node& before = net.add_node("moon-before-reboot", {"192.0.2.1"}, initiator_config({}), 112);
    Node& r = net.add_node("sun", {"192.0.2.2"}, responder_config({}), 113);
    Node& after = net.add_node("moon-after-reboot", {"192.0.2.3"}, initiator_config({}), 114);
    Output out;
    ASSERT_TRUE(before.engine->initiate("s2s", "", kInitiator, kResponder, net.now(), out).ok());
    net.apply(before, out);
    ASSERT_TRUE(net.run_until([&] { return r.count_events(Event::Kind::child_established) == 1; }, std::chrono::seconds(5)));
    ASSERT_TRUE(after.engine->initiate("s2s", "", {*IpAddress::parse("192.0.2.3"), 500}, kResponder, net.now(), out).ok());
    net.apply(after, out);
    ASSERT_TRUE(net.run_until([&] { return r.count_events(Event::Kind::child_established) == 2; }, std::chrono::seconds(5)));
    EXPECT_TRUE(after.logged("IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH SA TSi TSr N(MOBIKE_SUP) ]"));
    EXPECT_EQ(r.engine->ike_sa_count(), 1u);
    EXPECT_EQ(r.installed.size(), 1u);
    EXPECT_EQ(r.engine->list_sas().at(0).remote.address.to_string(), "192.0.2.3");
}

TEST(InitialContact, SecondSaOfARunningPeerDoesNotClaimIt) {
    Network net(115);
    Node& i = net.add_node("moon", {"192.0.2.1"}, initiator_config({}), 116);
    Node& r = net.add_node("sun", {"192.0.2.2"}, responder_config({}), 117);
    for (int k = 0; k < 2; ++k) {
        Output out;
        ASSERT_TRUE(i.engine->initiate("s2s", "", kInitiator, kResponder, net.now(), out).ok());
        net.apply(i, out);
        ASSERT_TRUE(net.run_until([&] { return r.count_events(Event::Kind::child_established) == std::size_t(k + 1); },
                                  std::chrono::seconds(5)));
    }
    EXPECT_TRUE(i.logged("IKE_AUTH request 1 [ IDi IDr AUTH SA TSi TSr N(MOBIKE_SUP) ]"));
    EXPECT_EQ(r.engine->ike_sa_count(), 2u);
}

}  // namespace
}  // namespace mobiked::sim
