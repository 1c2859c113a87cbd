// The control protocol: newline-delimited JSON over a unix stream socket.
// One request object per line, one response object per line:
//   -> {"cmd":"initiate","conn":"s2s","child":"net","timeout":10}
//   <- {"ok":true,"ike_sa":{...}}    or    {"ok":false,"error":"..."}
// Requests are untrusted input: parse_control_request validates size, depth,
// types and unknown fields and never throws. All nlohmann/json use lives in
// control_json.cpp so the heavy header is compiled once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/time.hpp"
#include "daemon/metrics.hpp"
#include "daemon/path_manager.hpp"
#include "ike/engine.hpp"

namespace mobiked::daemon {

inline constexpr std::size_t kMaxRequestLine = 64 * 1024;
inline constexpr std::size_t kMaxRequestDepth = 4;
inline constexpr double kMaxInitiateTimeout = 600;

enum class ControlCommand { status, list_conns, list_sas, initiate, terminate, load, export_keys, move, rekey, monitor };

struct ControlRequest {
    ControlCommand cmd = ControlCommand::status;
    std::string conn;
    std::string child;
    std::optional<std::uint64_t> ike_id;
    std::optional<std::uint32_t> child_id;  // rekey: this CHILD_SA instead of the IKE SA
    Duration timeout = std::chrono::seconds(10);
    std::string dir;
    std::string local;   // move: new local address
    std::string remote;  // move: new remote address (optional: keep the peer's)
};

Result<ControlRequest> parse_control_request(std::string_view line);

struct DaemonStatus {
    std::string version;
    Duration uptime{};
    std::size_t connections = 0;
    std::size_t ike_sas = 0;
    std::size_t half_open = 0;
    std::size_t child_sas = 0;
    std::map<std::string, std::size_t> ike_sas_by_state;
    std::uint64_t datagrams_in = 0;
    std::uint64_t datagrams_out = 0;
    std::uint64_t dropped = 0;      // malformed, unknown socket, send failures
    std::uint64_t esp_dropped = 0;  // ESP on port 4500 while there is no data plane
    std::string tun;                // the data plane's TUN device; empty: none
    std::map<std::string, std::uint64_t> dataplane;  // data-plane counters by name
    MetricsSnapshot metrics;       // exchanges, retransmissions, events, moves
    std::string metrics_endpoint;  // "127.0.0.1:9464"; empty: not served
};

// One engine event as `monitor` subscribers get it (one JSON line each).
struct MonitorEvent {
    ike::Event event;
    double wall_s = 0;  // Unix time, seconds
    std::optional<Endpoint> local, remote;  // the IKE SA's path, when it still exists
    std::string proposal;                   // ike_established / ike_rekeyed
    std::optional<Duration> took;           // ike_moved: start of our move to confirmation
    std::string origin;                     // ike_moved: address_change, explicit_request, peer
};
// Whether the event is one of the error kinds (ike_failed, child_failed, error_received).
bool is_error_event(ike::Event::Kind k);

// One CHILD_SA's traffic as the data plane counted it (inner bytes).
struct ChildTraffic {
    std::uint64_t packets_in = 0, bytes_in = 0, packets_out = 0, bytes_out = 0;
    std::uint64_t drops_in = 0, drops_out = 0;
};
using TrafficBySpi = std::map<std::uint32_t, ChildTraffic>;  // by inbound SPI

// Response builders; each returns one JSON object without a trailing newline.
std::string response_error(std::string_view message);
std::string response_errors(std::string_view message, const std::vector<std::string>& details);
std::string response_status(const DaemonStatus& s);
std::string response_conns(const ike::Config& config);
// Children found in `traffic` (by inbound SPI) carry packets/bytes/drops each way.
std::string response_sas(const std::vector<ike::IkeSaInfo>& sas, Time now, const TrafficBySpi& traffic = {});
// The same with each IKE SA's MOBIKE move history (PathManager, by IKE SA id).
using MoveHistories = std::map<std::uint64_t, std::vector<MoveRecord>>;
// ...and, with `paths`, its candidate address pairs and their state.
using PathCandidates = std::map<std::uint64_t, std::vector<PathCandidate>>;
std::string response_sas(const std::vector<ike::IkeSaInfo>& sas, Time now, const TrafficBySpi& traffic,
                         const MoveHistories& moves, const PathCandidates& paths = {});
std::string response_rekey(std::uint64_t ike_id, std::optional<std::uint32_t> child_id);
std::string response_monitoring();
std::string monitor_event_line(const MonitorEvent& m);
std::string response_move(std::uint64_t ike_id, const Endpoint& local, const Endpoint& remote);
std::string response_initiated(const ike::IkeSaInfo& sa, Time now, const std::vector<std::string>& warnings);
std::string response_terminated(const std::vector<std::uint64_t>& ids);
std::string response_loaded(std::size_t connections);
// `ike_file`: the ikev2_decryption_table written too (daemon.export_ike_keys), or empty.
std::string response_exported(const std::string& path, std::size_t records, const std::vector<std::string>& skipped,
                              const std::string& ike_file = "", std::size_t ike_records = 0);

std::string spi64_hex(std::uint64_t spi);  // 16 hex digits
std::string spi32_hex(std::uint32_t spi);  // 8 hex digits

}  // namespace mobiked::daemon
