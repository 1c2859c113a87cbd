// reauth_time: the configuration key (RFC 7296 §2.8.3 reauthentication).
#include <gtest/gtest.h>

#include <algorithm>

#include "daemon/config_file.hpp"

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

ConfigParseResult parse_conn(const std::string& line) {
    const std::string text = "connections = {\n  c = {\n    remote_addrs = [\"192.0.2.2\"];\n" + line +
                             "\n    local = { auth = \"psk\"; id = \"a\"; };\n    remote = { auth = \"psk\"; id = \"b\"; };\n  };\n};\n";
    return parse_config_text(text, "test.conf", "/etc/mobiked", NoCredentials{});
}

bool has_error(const ConfigParseResult& r, const std::string& fragment) {
    return std::any_of(r.errors.begin(), r.errors.end(),
                       [&](const std::string& e) { return e.find(fragment) != std::string::npos; });
}

}  // namespace

TEST(ConfigReauth, OffByDefaultAndParsedAsDuration) {
    auto r = parse_conn("");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config.ike.connections.at(0).reauth_time, Duration::zero());
    r = parse_conn("    reauth_time = \"2h\";");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config.ike.connections.at(0).reauth_time, std::chrono::hours(2));
    r = parse_conn("    reauth_time = 30;");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config.ike.connections.at(0).reauth_time, std::chrono::seconds(30));
    r = parse_conn("    reauth_time = 0;");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config.ike.connections.at(0).reauth_time, Duration::zero());
}

TEST(ConfigReauth, BadValuesAreErrorsWithFileAndLine) {
    auto r = parse_conn("    reauth_time = \"soon\";");
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(has_error(r, "test.conf:4: 'connections.c.reauth_time': bad duration")) << ::testing::PrintToString(r.errors);
    r = parse_conn("    reauth_time = 0.5;");
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(has_error(r, "test.conf:4: 'connections.c.reauth_time' must be 0 (off) or at least 1 second"))
        << ::testing::PrintToString(r.errors);
    r = parse_conn("    reauth_time = -3;");
    EXPECT_FALSE(r.ok());
}
