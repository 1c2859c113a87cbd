// Every shipped example (config/examples/*.conf) stays valid: the same parse
// as `mobiked --check-config`, with credentials accepted by path (the files
// are the operator's; tests/netns/cli_test.sh runs the real binary on the
// examples with a generated PKI).
#include <gtest/gtest.h>

#include <filesystem>

#include "daemon/config_file.hpp"

using namespace mobiked;
using namespace mobiked::daemon;

namespace {

class AnyCredentials final : public CredentialLoader {
public:
    mutable std::vector<std::string> asked;
    Result<CertificateFile> certificates(const std::string& path) const override {
        asked.push_back(path);
        return CertificateFile{{crypto::Certificate(nullptr)}, to_bytes(std::string_view("subject"))};
    }
    Result<std::shared_ptr<crypto::PrivateKey>> private_key(const std::string& path) const override {
        asked.push_back(path);
        return std::make_shared<crypto::PrivateKey>(nullptr);
    }
};

}  // namespace

TEST(ConfigExamples, EveryExampleChecksClean) {
    const std::filesystem::path dir = std::filesystem::path(MOBIKED_SOURCE_DIR) / "config" / "examples";
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".conf") continue;
        ++n;
        AnyCredentials creds;
        auto r = parse_config_file(entry.path().string(), creds);
        std::string errors;
        for (const auto& e : r.errors) errors += e + "\n";
        EXPECT_TRUE(r.ok()) << entry.path() << "\n" << errors;
        EXPECT_FALSE(r.config.ike.connections.empty()) << entry.path();
        // Relative credential paths resolve inside the config's directory.
        for (const auto& p : creds.asked) EXPECT_EQ(p.rfind(dir.string(), 0), 0u) << p;
    }
    EXPECT_GE(n, 5u) << "site-to-site (2), remote-access gateway, roaming client, transport host";
}

TEST(ConfigExamples, UseCasesAreCovered) {
    const std::string dir = std::string(MOBIKED_SOURCE_DIR) + "/config/examples/";
    AnyCredentials creds;
    auto gw = parse_config_file(dir + "remote-access-gateway.conf", creds);
    ASSERT_TRUE(gw.ok());
    EXPECT_FALSE(gw.config.ike.pools.empty());
    EXPECT_FALSE(gw.config.daemon.metrics.empty());
    auto client = parse_config_file(dir + "roaming-client.conf", creds);
    ASSERT_TRUE(client.ok());
    EXPECT_TRUE(client.config.ike.connections[0].mobike);
    EXPECT_FALSE(client.config.ike.connections[0].request_virtual_ips.empty());
    auto host = parse_config_file(dir + "transport-host.conf", creds);
    ASSERT_TRUE(host.ok());
    EXPECT_EQ(host.config.ike.connections[0].children[0].mode, ike::IpsecMode::transport);
}
