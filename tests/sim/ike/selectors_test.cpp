// Traffic-selector negotiation (RFC 7296 §2.9) and error answers of §2.21.
#include <gtest/gtest.h>

#include "ike/proposals.hpp"
#include "ike/traffic_selectors.hpp"
#include "sim/ike/sim_network.hpp"
#include "support/pki_fixture.hpp"

namespace mobiked::sim {
namespace {

const Endpoint kI{*IpAddress::parse("192.0.2.1"), 500};
const Endpoint kR{*IpAddress::parse("192.0.2.2"), 500};

TrafficSelectorRange ts(const std::string& s) {
    auto spec = *TsSpec::parse(s);
    return {spec.range, spec.protocol, spec.port_first, spec.port_last};
}

TEST(Narrowing, TriggerPacketFirstAndResponderNarrowsToItsPolicy) {
    PairOptions o;
    Network net(3);
    Config ic = initiator_config(o);
    ic.connections[0].children[0].local_ts = {*TsSpec::parse("10.1.0.0/16")};
    ic.connections[0].children[0].remote_ts = {*TsSpec::parse("10.0.0.0/8")};  // wants more than allowed
    Config rc = responder_config(o);  // allows 10.2.0.0/16 === 10.1.0.0/16
    Node& i = net.add_node("moon", {"192.0.2.1"}, ic, 5);
    Node& r = net.add_node("sun", {"192.0.2.2"}, rc, 6);
    PacketTrigger trigger{ts("10.1.2.3/32[udp/5000]"), ts("10.2.9.9/32[udp/53]")};
    Output out;
    ASSERT_TRUE(i.engine->initiate("s2s", "", kI, kR, net.now(), out, &trigger).ok());
    net.apply(i, out);
    ASSERT_TRUE(net.run_until([&] { return i.has_event(Event::Kind::child_established); }, std::chrono::seconds(5)));
    const auto& c = i.installed.at(0);
    // The responder kept the packet's selectors inside its policy and cut the
    // rest to what it allows; the /32 inside the allowed range is not repeated.
    EXPECT_EQ(to_string(c.remote_ts), "10.2.0.0/16");
    EXPECT_EQ(to_string(c.local_ts), "10.1.0.0/16");
    EXPECT_EQ(to_string(r.installed.at(0).local_ts), "10.2.0.0/16");
}

TEST(Narrowing, UnacceptableSecondSelectorIsDropped) {
    PairOptions o;
    Network net(4);
    Config ic = initiator_config(o);
    ic.connections[0].children[0].remote_ts = {*TsSpec::parse("10.2.0.0/16"), *TsSpec::parse("10.9.0.0/16")};
    Node& i = net.add_node("moon", {"192.0.2.1"}, ic, 7);
    Node& r = net.add_node("sun", {"192.0.2.2"}, responder_config(o), 8);
    Output out;
    ASSERT_TRUE(i.engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
    net.apply(i, out);
    ASSERT_TRUE(net.run_until([&] { return i.has_event(Event::Kind::child_established); }, std::chrono::seconds(5)));
    EXPECT_EQ(to_string(i.installed.at(0).remote_ts), "10.2.0.0/16");
    // The responder says it dropped a selector another CHILD_SA might carry.
    EXPECT_TRUE(r.logged("IKE_AUTH response 1 [ IDr AUTH N(MOBIKE_SUP) SA TSi TSr N(ADDITIONAL_TS_POSSIBLE) ]"));
}

TEST(Narrowing, DisjointSelectorsGiveTsUnacceptable) {
    PairOptions o;
    Network net(5);
    Config ic = initiator_config(o);
    ic.connections[0].children[0].remote_ts = {*TsSpec::parse("172.16.0.0/12")};
    Node& i = net.add_node("moon", {"192.0.2.1"}, ic, 9);
    Node& r = net.add_node("sun", {"192.0.2.2"}, responder_config(o), 10);
    Output out;
    ASSERT_TRUE(i.engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
    net.apply(i, out);
    ASSERT_TRUE(net.run_until([&] { return i.has_event(Event::Kind::child_failed); }, std::chrono::seconds(5)));
    bool ts_unacceptable = false;
    for (const auto& e : i.events) ts_unacceptable |= e.detail.find("TS_UNACCEPTABLE") != std::string::npos;
    EXPECT_TRUE(ts_unacceptable);
    EXPECT_TRUE(i.installed.empty());
    EXPECT_TRUE(r.installed.empty());
    EXPECT_TRUE(i.has_event(Event::Kind::ike_established));  // the IKE SA itself stands
}

TEST(Narrowing, NarrowKeepsOnlySelectorsNotCoveredByOthers) {
    auto out = narrow({ts("10.1.2.3/32"), ts("10.0.0.0/8")}, {ts("10.1.0.0/16")});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].to_string(), "10.1.0.0/16");
    auto two = narrow({ts("10.1.2.3/32"), ts("10.0.0.0/8")}, {ts("10.1.0.0/16"), ts("10.7.0.0/16")});
    EXPECT_EQ(to_string(two), "10.1.0.0/16 10.7.0.0/16");
    EXPECT_TRUE(narrow({ts("10.0.0.0/8")}, {ts("192.168.0.0/16")}).empty());
    auto ports = narrow({ts("10.0.0.0/8[tcp/1000-2000]")}, {ts("10.1.0.0/16[tcp/1500-3000]")});
    EXPECT_EQ(to_string(ports), "10.1.0.0/16[6/1500-2000]");
    EXPECT_TRUE(narrow({ts("10.0.0.0/8[tcp]")}, {ts("10.0.0.0/8[udp]")}).empty());
}

TEST(ErrorAnswers, UnknownSpiGetsRateLimitedInvalidIkeSpi) {
    PairOptions o;
    Network net(6);
    Node& i = net.add_node("moon", {"192.0.2.1"}, initiator_config(o), 11);
    Node& r = net.add_node("sun", {"192.0.2.2"}, responder_config(o), 12);
    (void)i;
    wire::Header h;
    h.spi_i = 0x1122334455667788ull;
    h.spi_r = 0x99aabbccddeeff00ull;
    h.exchange = wire::ExchangeType::informational;
    h.flags = wire::flags::initiator;
    h.message_id = 7;
    wire::EncryptedPayload sk{wire::PayloadType::none, Bytes(32, 0xab)};
    Bytes bogus = wire::encode_message(h, {{wire::PayloadType::sk, false, sk}});
    std::size_t answers = 0;
    for (int k = 0; k < 50; ++k) {
        Output out;
        r.engine->on_datagram({kR, kI, bogus}, net.now(), out);
        for (const auto& dg : out.datagrams) {
            auto m = std::get<wire::Message>(wire::decode_message(dg.data));
            ASSERT_TRUE(m.header.is_response());
            EXPECT_EQ(m.header.spi_i, h.spi_i);
            EXPECT_EQ(m.header.spi_r, h.spi_r);
            EXPECT_EQ(m.header.message_id, 7u);
            ASSERT_NE(wire::find_notify(m.payloads, wire::notify::invalid_ike_spi), nullptr);
            ++answers;
        }
    }
    EXPECT_EQ(answers, 10u);  // 10 per second, the rest unanswered
    EXPECT_EQ(r.engine->ike_sa_count(), 0u);
    // A bogus *response* is never answered.
    h.flags = wire::flags::response;
    Output out;
    r.engine->on_datagram({kR, kI, wire::encode_message(h, {{wire::PayloadType::sk, false, sk}})},
                          net.now() + std::chrono::seconds(5), out);
    EXPECT_TRUE(out.datagrams.empty());
}

TEST(ErrorAnswers, ResponderRefusesAnIdrItIsNot) {
    PairOptions o;
    Network net(7);
    Config ic = initiator_config(o);
    ic.connections[0].remote.id = *Identity::parse("mars");  // sent as IDr; the responder is "sun"
    ic.secrets[0].ids.push_back(*Identity::parse("mars"));
    Node& i = net.add_node("moon", {"192.0.2.1"}, ic, 13);
    Node& r = net.add_node("sun", {"192.0.2.2"}, responder_config(o), 14);
    Output out;
    ASSERT_TRUE(i.engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
    net.apply(i, out);
    ASSERT_TRUE(net.run_until([&] { return i.has_event(Event::Kind::ike_failed) && r.has_event(Event::Kind::ike_failed); },
                              std::chrono::seconds(5)));
    EXPECT_EQ(i.engine->ike_sa_count(), 0u);
    EXPECT_EQ(r.engine->ike_sa_count(), 0u);
    bool told = false;
    for (const auto& e : i.events) told |= e.detail == "AUTHENTICATION_FAILED";
    EXPECT_TRUE(told);
}

}  // namespace
}  // namespace mobiked::sim
