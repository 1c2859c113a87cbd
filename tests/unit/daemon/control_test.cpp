#include <gtest/gtest.h>

#include "daemon/control.hpp"

using namespace mobiked;
using namespace mobiked::daemon;

TEST(ControlRequest, ValidCommands) {
    auto s = parse_control_request(R"({"cmd":"list-sas"})");
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_EQ(s->cmd, ControlCommand::list_sas);
    auto i = parse_control_request(R"({"cmd":"initiate","conn":"s2s","child":"net","timeout":2.5})");
    ASSERT_TRUE(i.ok()) << i.error();
    EXPECT_EQ(i->conn, "s2s");
    EXPECT_EQ(i->child, "net");
    EXPECT_EQ(i->timeout, std::chrono::milliseconds(2500));
    auto t = parse_control_request(R"({"cmd":"terminate","ike_id":7})");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->ike_id, 7u);
    auto e = parse_control_request(R"({"cmd":"export-keys","dir":"/tmp/x"})");
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->dir, "/tmp/x");
}

TEST(ControlRequest, InitiateDefaultTimeout) {
    auto i = parse_control_request(R"({"cmd":"initiate","conn":"c"})");
    ASSERT_TRUE(i.ok());
    EXPECT_EQ(i->timeout, std::chrono::seconds(10));
}

TEST(ControlRequest, HostileInputRejected) {
    const char* bad[] = {
        "",
        "not json",
        "[]",
        "42",
        R"({"cmd":5})",
        R"({"cmd":"reboot"})",
        R"({"cmd":"status","extra":1})",
        R"({"cmd":"initiate"})",
        R"({"cmd":"initiate","conn":7})",
        R"({"cmd":"initiate","conn":""})",
        R"({"cmd":"initiate","conn":"c","timeout":"10"})",
        R"({"cmd":"initiate","conn":"c","timeout":-1})",
        R"({"cmd":"initiate","conn":"c","timeout":1e308})",
        R"({"cmd":"terminate"})",
        R"({"cmd":"terminate","ike_id":1,"conn":"c"})",
        R"({"cmd":"terminate","ike_id":-3})",
        R"({"cmd":"terminate","ike_id":1.5})",
        R"({"cmd":"terminate","ike_id":"1"})",
        R"({"cmd":"export-keys"})",
        R"({"cmd":"export-keys","dir":["a"]})",
        R"({"cmd":"initiate","conn":"a\u0000b"})",
        R"({"cmd":"status"} trailing)",
        "{\"cmd\":\"status\",\"x\":\"\xff\xfe\"}",
    };
    for (const char* b : bad) EXPECT_FALSE(parse_control_request(b).ok()) << b;
}

TEST(ControlRequest, DeepNestingAndSizeBounded) {
    std::string deep(10000, '[');
    auto r = parse_control_request(deep);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("nested"), std::string::npos);
    std::string quoted_brackets = R"({"cmd":"initiate","conn":"[[[[[[[[[[[[{{{{{{{"})";
    EXPECT_TRUE(parse_control_request(quoted_brackets).ok());
    std::string huge = R"({"cmd":"initiate","conn":")" + std::string(kMaxRequestLine, 'a') + "\"}";
    EXPECT_FALSE(parse_control_request(huge).ok());
    std::string long_name = R"({"cmd":"initiate","conn":")" + std::string(300, 'a') + "\"}";
    EXPECT_FALSE(parse_control_request(long_name).ok());
}

TEST(ControlResponse, ErrorsAreJsonAndSafe) {
    EXPECT_EQ(response_error("bad \"thing\""), R"({"error":"bad \"thing\"","ok":false})");
    // Invalid UTF-8 from a peer's identity must not throw.
    std::string r = response_error(std::string("id \xff\xfe"));
    EXPECT_NE(r.find("\"ok\":false"), std::string::npos);
}

TEST(ControlResponse, SasFormatsSpis) {
    ike::IkeSaInfo sa;
    sa.id = 3;
    sa.connection = "s2s";
    sa.state = ike::IkeState::established;
    sa.spi_i = 0x0123456789abcdefULL;
    sa.spi_r = 0x42;
    ike::ChildSaInfo c;
    c.name = "net";
    c.spi_in = 0xc0ffee;
    c.spi_out = 0xdeadbeef;
    sa.children.push_back(c);
    std::string j = response_sas({sa}, Time{});
    EXPECT_NE(j.find("\"spi_i\":\"0123456789abcdef\""), std::string::npos) << j;
    EXPECT_NE(j.find("\"spi_r\":\"0000000000000042\""), std::string::npos) << j;
    EXPECT_NE(j.find("\"spi_in\":\"00c0ffee\""), std::string::npos) << j;
    EXPECT_NE(j.find("\"spi_out\":\"deadbeef\""), std::string::npos) << j;
}

TEST(ControlResponse, SasShowVirtualIpsBySide) {
    ike::IkeSaInfo client;
    client.id = 1;
    client.initiator = true;
    client.virtual_ips = {*IpAddress::parse("10.9.0.1")};
    ike::ChildSaInfo c;
    c.name = "net";
    c.local_ts = {{*AddressRange::from_prefix(*IpAddress::parse("10.9.0.1"), 32), 0, 0, 65535}};
    c.remote_ts = {{*AddressRange::from_prefix(*IpAddress::parse("10.1.0.0"), 24), 0, 0, 65535}};
    client.children.push_back(c);
    ike::IkeSaInfo gateway = client;
    gateway.id = 2;
    gateway.initiator = true;  // e.g. after the gateway rekeyed the IKE SA: the selectors decide
    std::swap(gateway.children[0].local_ts, gateway.children[0].remote_ts);
    std::string j = response_sas({client, gateway}, Time{});
    auto first = j.find("\"local_vips\":[\"10.9.0.1\"]");
    auto second = j.find("\"remote_vips\":[\"10.9.0.1\"]");
    EXPECT_NE(first, std::string::npos) << j;
    EXPECT_NE(second, std::string::npos) << j;
    EXPECT_NE(j.find("\"remote_vips\":[]"), std::string::npos) << j;
    EXPECT_NE(j.find("\"local_vips\":[]"), std::string::npos) << j;
}
