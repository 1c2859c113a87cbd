// Control protocol: rekey and monitor requests, event lines, lifetimes in
// list-sas and metrics in status.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon/control.hpp"

using namespace mobiked;
using namespace mobiked::daemon;
using nlohmann::json;

TEST(ControlRekey, Requests) {
    auto ike = parse_control_request(R"({"cmd":"rekey","ike_id":3})");
    ASSERT_TRUE(ike.ok()) << ike.error();
    EXPECT_EQ(ike->cmd, ControlCommand::rekey);
    EXPECT_EQ(ike->ike_id, 3u);
    EXPECT_FALSE(ike->child_id);
    auto child = parse_control_request(R"({"cmd":"rekey","ike_id":3,"child_id":9})");
    ASSERT_TRUE(child.ok()) << child.error();
    EXPECT_EQ(child->child_id, 9u);
    for (const char* bad : {R"({"cmd":"rekey"})", R"({"cmd":"rekey","ike_id":"3"})", R"({"cmd":"rekey","ike_id":-1})",
                            R"({"cmd":"rekey","ike_id":1,"child_id":4294967296})", R"({"cmd":"rekey","ike_id":1,"child_id":1.5})",
                            R"({"cmd":"rekey","ike_id":1,"conn":"x"})"})
        EXPECT_FALSE(parse_control_request(bad).ok()) << bad;
}

TEST(ControlMonitor, Request) {
    auto m = parse_control_request(R"({"cmd":"monitor"})");
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->cmd, ControlCommand::monitor);
    EXPECT_FALSE(parse_control_request(R"({"cmd":"monitor","count":3})").ok());
    json ack = json::parse(response_monitoring());
    EXPECT_TRUE(ack.at("ok").get<bool>());
}

TEST(ControlMonitor, EventLines) {
    MonitorEvent m;
    m.event.kind = ike::Event::Kind::ike_moved;
    m.event.ike_sa_id = 4;
    m.event.connection = "roam";
    m.wall_s = 1700000000.25;
    m.local = Endpoint{*IpAddress::parse("192.0.2.10"), 4500};
    m.remote = Endpoint{*IpAddress::parse("198.51.100.1"), 4500};
    m.took = std::chrono::microseconds(12500);
    m.origin = "address_change";
    std::string line = monitor_event_line(m);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    json j = json::parse(line);
    EXPECT_EQ(j.at("event"), "ike-moved");
    EXPECT_EQ(j.at("ike_id"), 4);
    EXPECT_EQ(j.at("conn"), "roam");
    EXPECT_FALSE(j.at("error").get<bool>());
    EXPECT_DOUBLE_EQ(j.at("took_ms").get<double>(), 12.5);
    EXPECT_EQ(j.at("origin"), "address_change");
    EXPECT_EQ(j.at("local"), m.local->to_string());

    MonitorEvent f;
    f.event.kind = ike::Event::Kind::ike_failed;
    f.event.detail = std::string("bad \xff\xfe bytes\nnewline");  // peer-chosen text never breaks the line
    std::string fl = monitor_event_line(f);
    EXPECT_EQ(fl.find('\n'), std::string::npos);
    json fj = json::parse(fl);
    EXPECT_TRUE(fj.at("error").get<bool>());
    EXPECT_FALSE(fj.contains("local"));
    EXPECT_TRUE(is_error_event(ike::Event::Kind::child_failed));
    EXPECT_TRUE(is_error_event(ike::Event::Kind::error_received));
    EXPECT_FALSE(is_error_event(ike::Event::Kind::child_rekeyed));
}

TEST(ControlResponse, SasShowLifetimes) {
    ike::IkeSaInfo sa;
    sa.id = 1;
    sa.state = ike::IkeState::established;
    const Time now = std::chrono::seconds(1000);
    sa.established_at = std::chrono::seconds(900);
    sa.rekey_at = std::chrono::seconds(4600);
    ike::ChildSaInfo c;
    c.child_id = 2;
    c.rekey_at = std::chrono::seconds(1300);
    c.expire_at = std::chrono::seconds(1500);
    sa.children.push_back(c);
    ike::ChildSaInfo rekeying;  // rekey started: no soft deadline any more
    rekeying.child_id = 3;
    sa.children.push_back(rekeying);
    json j = json::parse(response_sas({sa}, now));
    const json& s = j.at("ike_sas").at(0);
    EXPECT_EQ(s.at("established_s"), 100);
    EXPECT_EQ(s.at("rekey_in_s"), 3600);
    EXPECT_EQ(s.at("children").at(0).at("rekey_in_s"), 300);
    EXPECT_EQ(s.at("children").at(0).at("expires_in_s"), 500);
    EXPECT_TRUE(s.at("children").at(1).at("rekey_in_s").is_null());
}

TEST(ControlResponse, StatusCarriesMetrics) {
    DaemonStatus st;
    st.version = "0.1.0";
    st.metrics_endpoint = "127.0.0.1:9464";
    st.metrics.retransmits = 2;
    Bytes hdr(28, 0);
    hdr[18] = 35;
    hdr[19] = 0x08;
    st.metrics.messages.count(IkeMessageCounters::kSent, hdr);
    st.metrics.moves.confirmed("explicit_request", std::chrono::milliseconds(8));
    st.metrics.events["ike_established"] = 1;
    json j = json::parse(response_status(st));
    EXPECT_EQ(j.at("metrics_endpoint"), "127.0.0.1:9464");
    const json& m = j.at("metrics");
    EXPECT_EQ(m.at("retransmits"), 2);
    EXPECT_EQ(m.at("ike_messages").at("sent").at("IKE_AUTH").at("request"), 1);
    EXPECT_FALSE(m.at("ike_messages").at("received").contains("IKE_AUTH"));
    EXPECT_EQ(m.at("moves").at("completed").at("explicit_request"), 1);
    EXPECT_DOUBLE_EQ(m.at("moves").at("last_confirm_ms").get<double>(), 8.0);
    EXPECT_EQ(m.at("events").at("ike_established"), 1);
}
