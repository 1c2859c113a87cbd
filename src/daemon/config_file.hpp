// The daemon's configuration file (libconfig syntax, documented in
// docs/config.md) translated into ike::Config plus the daemon's own settings.
//
// Every problem is reported as "FILE:LINE: message" and parsing goes on so a
// single run lists all of them. Messages never contain secret values.
// Credentials are read through a CredentialLoader so tests and the fuzzer do
// not need real files or a linked PKI implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/time.hpp"
#include "crypto/pki.hpp"
#include "ike/config.hpp"

namespace mobiked::daemon {

inline constexpr std::size_t kMaxConfigBytes = 1 << 20;
inline constexpr std::size_t kMaxConnections = 256;
inline constexpr std::size_t kMaxChildren = 64;
inline constexpr std::size_t kMaxSecrets = 1024;
inline constexpr std::size_t kMaxPools = 64;
inline constexpr std::size_t kMaxListItems = 64;
inline constexpr std::size_t kMaxErrors = 100;

inline constexpr const char* kDefaultControlSocket = "/run/mobiked/control.sock";

struct DaemonSettings {
    std::string control_socket = kDefaultControlSocket;
    std::uint16_t ike_port = 500;
    std::uint16_t natt_port = 4500;
    // The data plane's TUN device; empty: no data plane (ESP is counted and dropped).
    std::string tun_name = "mobiked0";
    // NAT-T keepalive period (RFC 3948 §4) for IKE SAs behind a NAT; 0 = off.
    Duration nat_keepalive = std::chrono::seconds(20);
    unsigned tun_mtu = 1500;  // routes get less: the path MTU minus their SA's overhead
    // RFC 4301 §5.2 outside the TUN: the daemon's nftables table (docs/dataplane.md).
    bool enforce = true;
    // DISCARD policies (remote selectors, any local address), after every PROTECT one.
    std::vector<ike::TsSpec> discard;
    // Inner IPv4 packets too big for their SA's path: "copy" (ICMP when DF is set),
    // "set" (always ICMP), "clear" (never: the outer packet is fragmented).
    std::string df_bit = "copy";
    // Segmentation offloads on the packet path: UDP GSO/GRO on the NAT-T
    // sockets, TSO/checksum offload on the TUN. Off only to measure or to
    // work around a kernel that mishandles them.
    bool offload = true;
    // Data-plane threads, each reading its own TUN queue; 0 = one per CPU
    // core the daemon may run on (at most kMaxAutoWorkers).
    unsigned workers = 0;
    static constexpr unsigned kMaxWorkers = 64, kMaxAutoWorkers = 8;
    // subsystem -> level name ("debug", "info", "warning", "error", "off");
    // "default" applies to subsystems not listed.
    std::map<std::string, std::string> log_levels{{"default", "info"}};
    // Prometheus endpoint "ADDRESS:PORT" ("[v6]:PORT"), HTTP GET /metrics; empty: off.
    std::string metrics;
};

struct LoadedConfig {
    DaemonSettings daemon;
    ike::Config ike;
};

struct ConfigParseResult {
    LoadedConfig config;              // meaningful only when errors is empty
    std::vector<std::string> errors;  // "FILE:LINE: message"
    bool ok() const { return errors.empty(); }
};

// Reads certificates and keys named in the config. Paths are already
// resolved against the config file's directory when they reach here.
struct CertificateFile {
    std::vector<crypto::Certificate> certificates;  // never empty
    Bytes first_subject_der;  // the default local identity for pubkey auth
};

class CredentialLoader {
public:
    virtual ~CredentialLoader() = default;
    virtual Result<CertificateFile> certificates(const std::string& path) const = 0;
    virtual Result<std::shared_ptr<crypto::PrivateKey>> private_key(const std::string& path) const = 0;
};

// Loads through crypto::Certificate / crypto::PrivateKey (credentials.cpp).
std::unique_ptr<CredentialLoader> make_file_credential_loader();

// `display_name` is used in messages; `base_dir` resolves relative paths.
ConfigParseResult parse_config_text(std::string_view text, const std::string& display_name,
                                    const std::string& base_dir, const CredentialLoader& creds);

// Reads at most kMaxConfigBytes from `path` and parses it.
ConfigParseResult parse_config_file(const std::string& path, const CredentialLoader& creds);

// Known logging subsystems, for validation and the daemon's logger setup.
const std::vector<std::string>& log_subsystems();
bool is_log_level(std::string_view level);

}  // namespace mobiked::daemon
