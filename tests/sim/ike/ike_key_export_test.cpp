// Config::export_ike_keys: the engine keeps each IKE SA's SK_e*/SK_a* for the
// Wireshark export (Engine::ike_sa_keys) only when asked, across IKE rekeys,
// and keeps deleted IKE SAs' keys for a while (docs/wireshark.md).
#include <gtest/gtest.h>

#include "sim/ike/sim_network.hpp"

namespace mobiked::sim {
namespace {

const Endpoint kI{*IpAddress::parse("192.0.2.1"), 500};
const Endpoint kR{*IpAddress::parse("192.0.2.2"), 500};

struct Established {
    Network net{31};
    Node* i;
    Node* r;
    explicit Established(bool export_keys) {
        Config ic = initiator_config({}), rc = responder_config({});
        ic.export_ike_keys = rc.export_ike_keys = export_keys;
        i = &net.add_node("moon", {"192.0.2.1"}, ic, 32);
        r = &net.add_node("sun", {"192.0.2.2"}, rc, 33);
        Output out;
        EXPECT_TRUE(i->engine->initiate("s2s", "", kI, kR, net.now(), out).ok());
        net.apply(*i, out);
        EXPECT_TRUE(net.run_until([&] { return r->has_event(Event::Kind::child_established) &&
                                               i->has_event(Event::Kind::child_established); },
                                  std::chrono::seconds(5)));
    }
    IkeSaInfo ike(Node* n) { return n->engine->list_sas().at(0); }
};

TEST(IkeKeyExport, OffByDefault) {
    Established e(Config{}.export_ike_keys);
    EXPECT_TRUE(e.i->engine->ike_sa_keys(e.net.now()).empty());
    EXPECT_TRUE(e.r->engine->ike_sa_keys(e.net.now()).empty());
}

TEST(IkeKeyExport, BothSidesExportTheSameKeys) {
    Established e(true);
    auto ki = e.i->engine->ike_sa_keys(e.net.now());
    auto kr = e.r->engine->ike_sa_keys(e.net.now());
    ASSERT_EQ(ki.size(), 1u);
    ASSERT_EQ(kr.size(), 1u);
    auto info = e.ike(e.i);
    EXPECT_EQ(ki[0].spi_i, info.spi_i);
    EXPECT_EQ(ki[0].spi_r, info.spi_r);
    EXPECT_EQ(ki[0].spi_i, kr[0].spi_i);
    EXPECT_FALSE(ki[0].sk_ei.empty());
    EXPECT_NE(ki[0].sk_ei, ki[0].sk_er);
    EXPECT_EQ(ki[0].sk_ei, kr[0].sk_ei);
    EXPECT_EQ(ki[0].sk_er, kr[0].sk_er);
    EXPECT_EQ(ki[0].sk_ai, kr[0].sk_ai);
    EXPECT_FALSE(ki[0].deleted);
}

TEST(IkeKeyExport, IkeRekeyKeepsOldAndNewThenForgetsOld) {
    Established e(true);
    auto old = e.ike(e.i);
    auto old_keys = e.i->engine->ike_sa_keys(e.net.now()).at(0);
    Output out;
    ASSERT_TRUE(e.i->engine->rekey_ike(old.id, e.net.now(), out).ok());
    e.net.apply(*e.i, out);
    e.net.run_for(std::chrono::seconds(2));
    ASSERT_EQ(e.i->engine->ike_sa_count(), 1u);
    auto now_sa = e.ike(e.i);
    for (Node* n : {e.i, e.r}) {
        auto keys = n->engine->ike_sa_keys(e.net.now());
        ASSERT_EQ(keys.size(), 2u);  // the successor, then the deleted predecessor
        EXPECT_EQ(keys[0].spi_i, now_sa.spi_i);
        EXPECT_FALSE(keys[0].deleted);
        EXPECT_NE(keys[0].sk_ei, old_keys.sk_ei);
        EXPECT_EQ(keys[1].spi_i, old.spi_i);
        EXPECT_TRUE(keys[1].deleted);
        EXPECT_EQ(keys[1].sk_ei, old_keys.sk_ei);
    }
    // Deleted IKE SAs' keys go after 10 minutes.
    auto later = e.net.now() + std::chrono::minutes(11);
    auto keys = e.i->engine->ike_sa_keys(later);
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_FALSE(keys[0].deleted);
}

TEST(IkeKeyExport, SwitchedOffByReloadForgetsKeys) {
    Established e(true);
    Config c = e.i->engine->config();
    c.export_ike_keys = false;
    e.i->engine->load_config(c);
    EXPECT_TRUE(e.i->engine->ike_sa_keys(e.net.now()).empty());
    c.export_ike_keys = true;
    e.i->engine->load_config(c);
    EXPECT_TRUE(e.i->engine->ike_sa_keys(e.net.now()).empty());  // wiped, not kept aside
}

}  // namespace
}  // namespace mobiked::sim
