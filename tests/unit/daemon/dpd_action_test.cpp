// dpd_action (clear | restart | trap): the configuration key and the daemon's
// decision on an engine event (daemon/dpd.hpp).
#include <gtest/gtest.h>

#include <algorithm>

#include "daemon/config_file.hpp"
#include "daemon/dpd.hpp"

using namespace mobiked;
using namespace mobiked::daemon;

namespace {

class NoCredentials final : public CredentialLoader {
public:
    Result<CertificateFile> certificates(const std::string& path) const override { return Error{"no " + path}; }
    Result<std::shared_ptr<crypto::PrivateKey>> private_key(const std::string& path) const override {
        return Error{"no " + path};
    }
};

ConfigParseResult parse_conn(const std::string& line, const std::string& remote = "    remote_addrs = [\"192.0.2.2\"];") {
    const std::string text = "connections = {\n  c = {\n" + remote + "\n" + line +
                             "\n    local = { auth = \"psk\"; id = \"a\"; };\n    remote = { auth = \"psk\"; id = \"b\"; };\n  };\n};\n";
    return parse_config_text(text, "test.conf", "/etc/mobiked", NoCredentials{});
}

bool has_error(const ConfigParseResult& r, const std::string& fragment) {
    return std::any_of(r.errors.begin(), r.errors.end(),
                       [&](const std::string& e) { return e.find(fragment) != std::string::npos; });
}

ike::Event dead(const std::string& conn) {
    ike::Event e;
    e.kind = ike::Event::Kind::ike_failed;
    e.ike_sa_id = 7;
    e.connection = conn;
    e.detail = "giving up after 5 retransmits" + std::string(ike::kPeerDead);
    return e;
}

}  // namespace

TEST(DpdAction, ParsedWithClearAsDefault) {
    auto r = parse_conn("");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config.ike.connections.at(0).dpd_action, ike::DpdAction::clear);
    for (auto [text, want] : std::vector<std::pair<std::string, ike::DpdAction>>{
             {"clear", ike::DpdAction::clear}, {"restart", ike::DpdAction::restart}, {"trap", ike::DpdAction::trap}}) {
        auto p = parse_conn("    dpd_delay = \"10s\"; dpd_action = \"" + text + "\";");
        ASSERT_TRUE(p.ok()) << text;
        EXPECT_EQ(p.config.ike.connections.at(0).dpd_action, want) << text;
    }
}

TEST(DpdAction, BadValuesAreErrors) {
    auto r = parse_conn("    dpd_action = \"hold\";");
    EXPECT_TRUE(has_error(r, "test.conf:4:")) << (r.errors.empty() ? "" : r.errors[0]);
    EXPECT_TRUE(has_error(r, "must be clear, restart or trap"));
    EXPECT_FALSE(parse_conn("    dpd_action = 1;").ok());
    // restart and trap need someone to initiate to
    EXPECT_TRUE(has_error(parse_conn("    dpd_action = \"restart\";", ""), "needs a concrete remote_addrs"));
    EXPECT_TRUE(has_error(parse_conn("    dpd_action = \"trap\";", ""), "needs a concrete remote_addrs"));
    EXPECT_TRUE(parse_conn("    dpd_action = \"clear\";", "").ok());
}

TEST(DpdAction, OnlyADeadPeerOfAConfiguredConnectionActs) {
    auto r = parse_conn("    dpd_delay = 5; dpd_action = \"restart\";");
    ASSERT_TRUE(r.ok());
    const ike::Config& cfg = r.config.ike;
    EXPECT_EQ(dead_peer_action(dead("c"), cfg), ike::DpdAction::restart);
    EXPECT_EQ(dead_peer_action(dead("gone"), cfg), std::nullopt);  // connection removed by a reload
    ike::Event e = dead("c");
    e.detail = "giving up after 5 retransmits";  // IKE_SA_INIT / IKE_AUTH: never established
    EXPECT_EQ(dead_peer_action(e, cfg), std::nullopt);
    e.detail = "authentication of peer failed";
    EXPECT_EQ(dead_peer_action(e, cfg), std::nullopt);
    e = dead("c");
    e.kind = ike::Event::Kind::ike_deleted;  // the peer said goodbye: not dead
    EXPECT_EQ(dead_peer_action(e, cfg), std::nullopt);

    auto t = parse_conn("    dpd_action = \"trap\";");
    EXPECT_EQ(dead_peer_action(dead("c"), t.config.ike), ike::DpdAction::trap);
    auto c = parse_conn("    dpd_action = \"clear\";");
    EXPECT_EQ(dead_peer_action(dead("c"), c.config.ike), std::nullopt);  // the engine already cleared it
}
