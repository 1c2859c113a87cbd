// Denial-of-service resistance (RFC 7296 §2.6): a bounded IKE_SA_INIT flood
// from spoofed sources does not keep a legitimate client out, and state for
// half-open SAs stays bounded.
#include <gtest/gtest.h>

#include "sim/ike/sim_network.hpp"

namespace mobiked::sim {
namespace {

const Endpoint kI{*IpAddress::parse("192.0.2.1"), 500};
const Endpoint kR{*IpAddress::parse("192.0.2.2"), 500};

// A genuine IKE_SA_INIT request, to be replayed with other SPIs and sources.
Bytes capture_init_request() {
    Network net(101);
    Node& i = net.add_node("moon", {"192.0.2.1"}, initiator_config({}), 102);
    Output out;
    EXPECT_TRUE(i.engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
    return out.datagrams.at(0).data;
}

Datagram spoofed(const Bytes& request, std::uint32_t k) {
    Datagram dg{kR, {IpAddress::v4(0x0a000000u + k), 500}, request};
    store_be64(dg.data.data(), 0x5000000000000000ull + k);  // SPIi
    return dg;
}

TEST(DoS, SpoofedFloodDoesNotStopALegitimateClient) {
    PairOptions o;
    o.cookie_threshold = 100;
    Network net(103);
    Node& i = net.add_node("moon", {"192.0.2.1"}, initiator_config(o), 104);
    Node& r = net.add_node("sun", {"192.0.2.2"}, responder_config(o), 105);
    const Bytes request = capture_init_request();
    std::size_t cookies = 0;
    for (std::uint32_t k = 1; k <= 5000; ++k) {
        Output out;
        r.engine->on_datagram(spoofed(request, k), net.now(), out);
        for (const auto& dg : out.datagrams) {
            auto m = std::get<wire::Message>(wire::decode_message(dg.data));
            cookies += wire::find_notify(m.payloads, wire::notify::cookie) != nullptr;
        }
    }
    // Past the threshold the responder answers with cookies and keeps nothing.
    EXPECT_EQ(r.engine->half_open_count(), 100u);
    EXPECT_EQ(r.engine->ike_sa_count(), 100u);
    EXPECT_EQ(cookies, 4900u);
    // The legitimate client answers the cookie challenge and gets in.
    Output out;
    ASSERT_TRUE(i.engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
    net.apply(i, out);
    ASSERT_TRUE(net.run_until([&] { return i.has_event(Event::Kind::child_established); }, std::chrono::seconds(5)));
    // The spoofed half-open SAs expire on their own.
    net.run_for(std::chrono::seconds(60));
    EXPECT_EQ(r.engine->half_open_count(), 0u);
    EXPECT_EQ(r.engine->ike_sa_count(), 1u);
}

TEST(DoS, OneSourceCannotHoldMoreThanItsShare) {
    PairOptions o;
    o.cookie_threshold = 100000;
    Network net(106);
    Node& r = net.add_node("sun", {"192.0.2.2"}, responder_config(o), 107);
    const Bytes request = capture_init_request();
    for (std::uint32_t k = 1; k <= 500; ++k) {
        Datagram dg = spoofed(request, k);
        dg.remote.address = *IpAddress::parse("198.51.100.99");  // one flooding host
        Output out;
        r.engine->on_datagram(dg, net.now(), out);
    }
    EXPECT_EQ(r.engine->half_open_count(), 64u);  // half_open_per_source default
    // Another host is not affected.
    Output out;
    r.engine->on_datagram(spoofed(request, 9999), net.now(), out);
    EXPECT_EQ(r.engine->half_open_count(), 65u);
}

}  // namespace
}  // namespace mobiked::sim
