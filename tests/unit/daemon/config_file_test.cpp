#include "daemon/config_file.hpp"
#include "ike/proposals.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace mobiked;
using namespace mobiked::daemon;

namespace {

// Records the paths asked for; "missing" in a path fails like an absent file.
class FakeCredentials final : public CredentialLoader {
public:
    mutable std::vector<std::string> asked;
    Result<CertificateFile> certificates(const std::string& path) const override {
        asked.push_back(path);
        if (path.find("missing") != std::string::npos) return Error{"cannot open " + path};
        return CertificateFile{{crypto::Certificate(nullptr)}, to_bytes(std::string_view("subject"))};
    }
    Result<std::shared_ptr<crypto::PrivateKey>> private_key(const std::string& path) const override {
        asked.push_back(path);
        if (path.find("missing") != std::string::npos) return Error{"cannot open " + path};
        return std::make_shared<crypto::PrivateKey>(nullptr);
    }
};

ConfigParseResult parse(const std::string& text, const FakeCredentials& creds = FakeCredentials{}) {
    return parse_config_text(text, "test.conf", "/etc/mobiked", creds);
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

const char* kMinimalConn = R"(
connections = {
  c = {
    remote_addrs = ["192.0.2.2"];
    local = { auth = "psk"; id = "a"; };
    remote = { auth = "psk"; id = "b"; };
  };
};
)";

}  // namespace

TEST(ConfigFile, ShippedExamplesParse) {
    FakeCredentials creds;
    for (const char* name : {"s2s-initiator.conf", "s2s-responder.conf"}) {
        auto r = parse_config_file(std::string(MOBIKED_SOURCE_DIR) + "/config/examples/" + name, creds);
        EXPECT_TRUE(r.ok()) << name << "\n" << dump(r);
        ASSERT_EQ(r.config.ike.connections.size(), 1u);
        EXPECT_EQ(r.config.ike.secrets.size(), 1u);
    }
}

TEST(ConfigFile, FullExampleTranslated) {
    auto r = parse_config_file(std::string(MOBIKED_SOURCE_DIR) + "/config/examples/s2s-initiator.conf",
                               FakeCredentials{});
    ASSERT_TRUE(r.ok()) << dump(r);
    const auto& d = r.config.daemon;
    EXPECT_EQ(d.control_socket, "/run/mobiked/control.sock");
    EXPECT_EQ(d.ike_port, 500);
    EXPECT_EQ(d.natt_port, 4500);
    EXPECT_EQ(d.log_levels.at("ike"), "debug");
    const auto& c = r.config.ike.connections[0];
    EXPECT_EQ(c.name, "s2s");
    ASSERT_EQ(c.local_addrs.size(), 1u);
    EXPECT_EQ(c.local_addrs[0].to_string(), "192.0.2.1");
    ASSERT_EQ(c.remote_hosts.size(), 1u);
    EXPECT_EQ(c.remote_hosts[0], "192.0.2.2");
    EXPECT_EQ(c.ike_proposals.size(), 1u);
    EXPECT_TRUE(c.mobike);
    EXPECT_FALSE(c.encap_force);
    EXPECT_EQ(c.ike_lifetimes.rekey_time, std::chrono::seconds(14400));
    EXPECT_EQ(c.ike_lifetimes.life_time, std::chrono::seconds(15840));
    EXPECT_EQ(c.retransmit.tries, 5u);
    EXPECT_DOUBLE_EQ(c.retransmit.base, 1.8);
    EXPECT_EQ(c.retransmit.timeout, std::chrono::seconds(4));
    EXPECT_EQ(c.local.method, ike::AuthMethod::psk);
    EXPECT_EQ(c.local.id.to_string(), "initiator");
    EXPECT_EQ(c.remote.id.to_string(), "responder");
    ASSERT_EQ(c.children.size(), 1u);
    const auto& ch = c.children[0];
    EXPECT_EQ(ch.name, "net");
    EXPECT_EQ(ch.local_ts.at(0).to_string(), "198.51.100.0/26");
    EXPECT_EQ(ch.remote_ts.at(0).to_string(), "198.51.100.64/26");
    EXPECT_EQ(ch.mode, ike::IpsecMode::tunnel);
    EXPECT_EQ(ch.start_action, ike::StartAction::none);
    EXPECT_EQ(ch.lifetimes.rekey_time, std::chrono::seconds(3600));
    const auto& sec = r.config.ike.secrets[0];
    EXPECT_EQ(sec.ids.size(), 2u);
    EXPECT_EQ(to_hex(sec.secret).substr(0, 8), "6d6f6269");
}

TEST(ConfigFile, DefaultsApplied) {
    auto r = parse(kMinimalConn);
    ASSERT_TRUE(r.ok()) << dump(r);
    const auto& c = r.config.ike.connections[0];
    EXPECT_EQ(c.ike_proposals, ike::default_ike_proposals());
    EXPECT_TRUE(c.remote.id.to_string() == "b");
    EXPECT_EQ(r.config.daemon.control_socket, kDefaultControlSocket);
    EXPECT_EQ(r.config.ike.cookie_threshold, 1000u);
}

TEST(ConfigFile, DataPlaneWorkers) {
    EXPECT_EQ(parse(kMinimalConn).config.daemon.workers, 0u);  // auto: one per CPU
    EXPECT_EQ(parse("daemon = {\n  workers = 3;\n};\n").config.daemon.workers, 3u);
    auto a = parse("daemon = {\n  workers = \"auto\";\n};\n");
    EXPECT_TRUE(a.errors.empty()) << dump(a);
    EXPECT_EQ(a.config.daemon.workers, 0u);
    auto zero = parse("daemon = {\n  workers = 0;\n};\n");
    EXPECT_TRUE(has_error(zero, "test.conf:2:", "between 1 and 64")) << dump(zero);
    auto word = parse("daemon = {\n  tun = \"mk0\";\n  workers = \"many\";\n};\n");
    EXPECT_TRUE(has_error(word, "test.conf:3:", "\"auto\" or a number")) << dump(word);
}

TEST(ConfigFile, SyntaxErrorHasLine) {
    auto r = parse("daemon = {\n  ike_port = 500;\n  natt_port = = 4500;\n};\n");
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:3:", "")) << dump(r);
}

TEST(ConfigFile, UnknownKeyRejectedWithLine) {
    auto r = parse("daemon = {\n  ike_port = 500;\n  ike_prot = 501;\n};\n");
    EXPECT_TRUE(has_error(r, "test.conf:3:", "unknown setting 'ike_prot'")) << dump(r);
    auto top = parse("\n\nconection = {};\n");
    EXPECT_TRUE(has_error(top, "test.conf:3:", "unknown setting 'conection'")) << dump(top);
}

TEST(ConfigFile, WrongTypesReported) {
    auto r = parse(R"(daemon = {
  ike_port = "500";
  control_socket = 7;
};
connections = {
  c = {
    mobike = "yes";
    remote_addrs = [1, 2];
    local = { auth = "psk"; id = "a"; };
    remote = { auth = "psk"; id = "b"; };
    retransmit = { tries = 1.5; };
  };
};
)");
    EXPECT_TRUE(has_error(r, "test.conf:2:", "must be an integer")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:3:", "must be a string")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:7:", "must be true or false")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:8:", "only strings")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:11:", "must be an integer")) << dump(r);
    EXPECT_EQ(r.errors.size(), 5u) << dump(r);
}

TEST(ConfigFile, BadValuesReported) {
    auto r = parse(R"(daemon = { ike_port = 70000; log = { ike = "loud"; foo = "info"; }; };
connections = {
  c = {
    remote_addrs = ["not-an-ip"];
    proposals = ["aes128gcm16-bogus-x25519"];
    local = { auth = "psk"; id = "%any"; };
    remote = { auth = "rsa"; id = "b"; };
    children = {
      n = { local_ts = ["10.0.0.0/33"]; mode = "tunel"; start_action = "go"; esp_proposals = []; };
    };
  };
};
)");
    EXPECT_TRUE(has_error(r, "test.conf:1:", "between 1 and 65535")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:1:", "log level for 'ike'")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:1:", "unknown log subsystem 'foo'")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:4:", "not-an-ip")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:5:", "proposals")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:6:", "cannot be %any")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:7:", "psk or pubkey")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:9:", "local_ts")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:9:", "tunnel or transport")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:9:", "none, start or trap")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:9:", "must not be empty")) << dump(r);
}

TEST(ConfigFile, MissingRequiredSettings) {
    auto r = parse("connections = {\n  c = {\n    local = { auth = \"psk\"; };\n  };\n};\n");
    EXPECT_TRUE(has_error(r, "test.conf:2:", "needs a 'remote' group")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:3:", "needs 'id'")) << dump(r);
    auto s = parse("secrets = {\n  x = { ids = [\"a\"]; };\n};\n");
    EXPECT_TRUE(has_error(s, "test.conf:2:", "needs 'secret'")) << dump(s);
}

TEST(ConfigFile, StartNeedsRemoteAddress) {
    auto r = parse(R"(connections = { c = {
  local = { auth = "psk"; id = "a"; }; remote = { auth = "psk"; };
  children = { n = { start_action = "start"; }; };
}; };)");
    EXPECT_TRUE(has_error(r, "test.conf:1:", "start_action = start needs")) << dump(r);
}

TEST(ConfigFile, SecretNeverInMessages) {
    const std::string secret = "0xZZsupersecretvalue";
    auto r = parse("secrets = {\n  x = { ids = [\"a\"]; secret = \"" + secret + "\"; };\n  y = { secret = 1234567; };\n"
                   "  z = { secret = \"plainsecret\"; bogus = 1; };\n};\n");
    EXPECT_TRUE(has_error(r, "test.conf:2:", "invalid hex")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:3:", "must be a string")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:4:", "unknown setting 'bogus'")) << dump(r);
    for (const auto& e : r.errors) {
        EXPECT_EQ(e.find("supersecret"), std::string::npos) << e;
        EXPECT_EQ(e.find("1234567"), std::string::npos) << e;
        EXPECT_EQ(e.find("plainsecret"), std::string::npos) << e;
    }
}

TEST(ConfigFile, RelativePathsResolveAgainstConfigDir) {
    FakeCredentials creds;
    auto r = parse(R"(connections = { c = {
  local = { auth = "pubkey"; id = "a"; certs = ["certs/a.pem", "/abs/chain.pem"]; key = "../keys/a.key"; };
  remote = { auth = "pubkey"; cacerts = ["ca.pem"]; };
}; };)", creds);
    ASSERT_TRUE(r.ok()) << dump(r);
    std::vector<std::string> want{"/etc/mobiked/certs/a.pem", "/abs/chain.pem", "/etc/keys/a.key", "/etc/mobiked/ca.pem"};
    EXPECT_EQ(creds.asked, want);
    EXPECT_EQ(r.config.ike.connections[0].local.certificates.size(), 2u);
}

TEST(ConfigFile, MissingFilesReportedWithLine) {
    auto r = parse("connections = { c = {\n  local = { auth = \"pubkey\"; id = \"a\";\n"
                   "    certs = [\"missing.pem\"];\n    key = \"missing.key\"; };\n"
                   "  remote = { auth = \"pubkey\"; };\n}; };\n");
    EXPECT_TRUE(has_error(r, "test.conf:3:", "/etc/mobiked/missing.pem")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:4:", "missing.key")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:5:", "needs 'cacerts'")) << dump(r);
}

TEST(ConfigFile, ConfigFileFromDisk) {
    auto dir = std::filesystem::temp_directory_path() / ("mobiked-cfg-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "m.conf") << "daemon = {\n  natt_port = 500;\n};\n";
    auto r = parse_config_file((dir / "m.conf").string(), FakeCredentials{});
    EXPECT_TRUE(has_error(r, (dir / "m.conf").string() + ":2:", "must differ")) << dump(r);
    auto missing = parse_config_file((dir / "none.conf").string(), FakeCredentials{});
    EXPECT_FALSE(missing.ok());
    std::filesystem::remove_all(dir);
}

TEST(ConfigFile, IncludeAndOversizeRejected) {
    auto r = parse("\n@include \"/etc/passwd\"\n");
    EXPECT_TRUE(has_error(r, "test.conf:2:", "@include")) << dump(r);
    std::string big(kMaxConfigBytes + 1, '#');
    EXPECT_FALSE(parse(big).ok());
}

TEST(ConfigFile, CountsBounded) {
    std::string text = "connections = {\n";
    for (std::size_t i = 0; i <= kMaxConnections; ++i) text += "c" + std::to_string(i) + " = {};\n";
    text += "};\n";
    auto r = parse(text);
    EXPECT_TRUE(has_error(r, "test.conf:1:", "more than")) << dump(r);
}

TEST(ConfigFile, ErrorCountBounded) {
    std::string text = "daemon = {\n";
    for (int i = 0; i < 500; ++i) text += "x" + std::to_string(i) + " = 1;\n";
    text += "};\n";
    auto r = parse(text);
    EXPECT_EQ(r.errors.size(), kMaxErrors + 1);
}

TEST(ConfigFile, DurationsWithSuffix) {
    auto r = parse(R"(connections = { c = { rekey_time = "4h"; life_time = "5h"; dpd_delay = "30s";
  local = { auth = "psk"; id = "a"; }; remote = { auth = "psk"; };
  children = { n = { rekey_time = "1h"; life_time = "30m"; }; };
}; };)");
    EXPECT_TRUE(has_error(r, "test.conf:3:", "must not be shorter")) << dump(r);
    EXPECT_EQ(r.config.ike.connections[0].ike_lifetimes.life_time, std::chrono::hours(5));
    EXPECT_EQ(r.config.ike.connections[0].dpd_delay, std::chrono::seconds(30));
}

TEST(ConfigFile, PoolsAndVirtualIps) {
    auto r = parse(R"(
pools = {
  users = { addrs = "10.9.0.0/24"; dns = ["10.2.0.53", "2001:db8::53"]; };
  range = { addrs = "10.8.0.10-10.8.0.20"; };
  v6 = { addrs = "fd00:9::/120"; };
};
connections = {
  gw = {
    pools = ["users", "v6"];
    local = { auth = "psk"; id = "gw"; };
    remote = { auth = "psk"; };
    children = { net = { local_ts = ["10.1.0.0/24"]; remote_ts = ["dynamic"]; }; };
  };
  client = {
    remote_addrs = ["192.0.2.1"];
    vips = ["0.0.0.0", "::"];
    local = { auth = "psk"; id = "user1@company.com"; };
    remote = { auth = "psk"; id = "gw"; };
  };
};
)");
    ASSERT_TRUE(r.errors.empty()) << dump(r);
    ASSERT_EQ(r.config.ike.pools.size(), 3u);
    const auto& users = r.config.ike.pools[0];
    EXPECT_EQ(users.name, "users");
    // A prefix gives up its network and broadcast addresses, as in strongSwan.
    EXPECT_EQ(users.range.first, *IpAddress::parse("10.9.0.1"));
    EXPECT_EQ(users.range.last, *IpAddress::parse("10.9.0.254"));
    ASSERT_EQ(users.dns.size(), 2u);
    EXPECT_EQ(users.dns[0], *IpAddress::parse("10.2.0.53"));
    EXPECT_EQ(r.config.ike.pools[1].range.first, *IpAddress::parse("10.8.0.10"));
    EXPECT_EQ(r.config.ike.pools[1].range.last, *IpAddress::parse("10.8.0.20"));
    EXPECT_EQ(r.config.ike.pools[2].range.first, *IpAddress::parse("fd00:9::1"));
    EXPECT_EQ(r.config.ike.pools[2].range.last, *IpAddress::parse("fd00:9::ff"));
    const auto* gw = r.config.ike.find_connection("gw");
    ASSERT_NE(gw, nullptr);
    EXPECT_EQ(gw->pools, (std::vector<std::string>{"users", "v6"}));
    EXPECT_TRUE(gw->request_virtual_ips.empty());
    const auto* client = r.config.ike.find_connection("client");
    ASSERT_NE(client, nullptr);
    EXPECT_TRUE(client->pools.empty());
    EXPECT_EQ(client->request_virtual_ips,
              (std::vector<IpAddress::Family>{IpAddress::Family::v4, IpAddress::Family::v6}));
}

TEST(ConfigFile, PoolErrorsHaveLines) {
    auto r = parse(R"(pools = {
  a = { addrs = "10.9.0.1/24"; };
  b = { addrs = "10.9.0.9-10.9.0.1"; };
  c = { addrs = "10.9.0.1-fd00::1"; };
  d = { dns = ["10.0.0.1"]; };
  e = { addrs = "10.9.0.0/24"; dns = ["nope"]; size = 3; };
};
connections = {
  c = {
    remote_addrs = ["192.0.2.2"];
    pools = ["users"];
    vips = ["10.0.0.1"];
    local = { auth = "psk"; id = "a"; };
    remote = { auth = "psk"; id = "b"; };
  };
};
)");
    EXPECT_TRUE(has_error(r, "test.conf:2:", "is not a prefix")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:3:", "is not a prefix")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:4:", "is not a prefix")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:5:", "needs 'addrs'")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:6:", "'nope' is not an IP address")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:6:", "unknown setting 'size'")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:11:", "no pool named 'users'")) << dump(r);
    EXPECT_TRUE(has_error(r, "test.conf:12:", "must be 0.0.0.0 or ::")) << dump(r);
}

namespace mobiked::daemon {
namespace {

TEST(ConfigFile, DosLimitsAndFragmentSize) {
    std::string text = std::string("daemon = { half_open_per_source = 8; max_half_open = 5000; };\n") + kMinimalConn;
    text.replace(text.find("local = "), 0, "fragment_size = 1000;\n    ");
    auto r = parse(text);
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config.ike.half_open_per_source, 8u);
    EXPECT_EQ(r.config.ike.max_half_open, 5000u);
    EXPECT_EQ(r.config.ike.connections[0].fragment_size, 1000u);
    auto bad = parse(std::string("daemon = {\n  max_half_open = 0;\n};\n"));
    EXPECT_TRUE(has_error(bad, "test.conf:2:", "")) << dump(bad);
}

}  // namespace
}  // namespace mobiked::daemon
