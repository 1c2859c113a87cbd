// mobike_versions (MOBIKEv2 version negotiation) in the configuration file.
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

ConfigParseResult parse_conn(const std::string& versions_line) {
    const std::string text = "connections = {\n  c = {\n    remote_addrs = [\"192.0.2.2\"];\n" + versions_line +
                             "\n    local = { auth = \"psk\"; id = \"a\"; };\n    remote = { auth = \"psk\"; id = \"b\"; };\n  };\n};\n";
    return parse_config_text(text, "test.conf", "/etc/mobiked", NoCredentials{});
}

bool has_error(const ConfigParseResult& r, const std::string& prefix, const std::string& fragment) {
    return std::any_of(r.errors.begin(), r.errors.end(), [&](const std::string& e) {
        return e.rfind(prefix, 0) == 0 && e.find(fragment) != std::string::npos;
    });
}

std::string dump(const ConfigParseResult& r) {
    std::string s;
    for (const auto& e : r.errors) s += e + "\n";
    return s;
}

}  // namespace

TEST(ConfigMobikeVersions, DefaultOffersVersions1And2) {
    auto r = parse_conn("");
    ASSERT_TRUE(r.errors.empty()) << dump(r);
    EXPECT_EQ(r.config.ike.connections.at(0).mobike_versions, (std::vector<std::uint8_t>{1, 2}));
}

TEST(ConfigMobikeVersions, ListsAreTaken) {
    for (auto [line, want] : std::vector<std::pair<std::string, std::vector<std::uint8_t>>>{
             {"    mobike_versions = [1];", {1}},
             {"    mobike_versions = [2, 1];", {2, 1}},
             {"    mobike_versions = (1, 2, 255);", {1, 2, 255}}}) {
        auto r = parse_conn(line);
        ASSERT_TRUE(r.errors.empty()) << line << "\n" << dump(r);
        EXPECT_EQ(r.config.ike.connections.at(0).mobike_versions, want) << line;
    }
}

TEST(ConfigMobikeVersions, BadValuesReportedWithLine) {
    EXPECT_TRUE(has_error(parse_conn("    mobike_versions = [1, 3];"), "test.conf:4:", "unknown MOBIKE version 3"));
    EXPECT_TRUE(has_error(parse_conn("    mobike_versions = [0];"), "test.conf:4:", "between 1 and 255"));
    EXPECT_TRUE(has_error(parse_conn("    mobike_versions = [255];"), "test.conf:4:", "needs version 1 or 2"));
    EXPECT_TRUE(has_error(parse_conn("    mobike_versions = [];"), "test.conf:4:", "needs version 1 or 2"));
    EXPECT_TRUE(has_error(parse_conn("    mobike_versions = 2;"), "test.conf:4:", "must be a list"));
    EXPECT_TRUE(has_error(parse_conn("    mobike_versions = [\"2\"];"), "test.conf:4:", "must be an integer"));
}
