// The I/O shell around the sans-I/O engine: one epoll loop over the UDP
// sockets, a timerfd armed from engine.next_deadline(), a signalfd and the
// control socket. Single-threaded, so the engine needs no locking.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "crypto/random.hpp"
#include "daemon/address_monitor.hpp"
#include "daemon/config_file.hpp"
#include "daemon/control.hpp"
#include "daemon/metrics.hpp"
#include "daemon/esp_export.hpp"
#include "daemon/path_manager.hpp"
#include "daemon/sa_table.hpp"
#include "daemon/udp_io.hpp"
#include "dataplane/dataplane.hpp"
#include "ike/engine.hpp"

namespace mobiked::daemon {

inline constexpr const char* kVersion = "0.1.0";

Time monotonic_now();

class ControlServer;

class Daemon {
public:
    Daemon(std::string config_path, LoadedConfig config, std::unique_ptr<CredentialLoader> creds);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Binds sockets and the control socket, then starts connections with
    // start_action = start. Must succeed before run().
    Status init();
    // Runs until SIGINT/SIGTERM; then deletes all IKE SAs and returns the exit code.
    int run();

private:
    struct Pending {
        std::uint64_t client = 0;
        Time deadline{};
        std::vector<std::string> warnings;
    };
    struct Counters {
        std::uint64_t in = 0, out = 0, dropped = 0, esp_dropped = 0, keepalives = 0;
    };

    void dispatch(int fd, std::uint32_t events);
    void on_udp(int fd);
    void on_slot(bool natt, std::size_t slot);
    void on_datagram(bool natt, std::size_t slot, std::size_t offset, std::size_t length);
    void on_timer();
    bool on_signal();  // true: shut down
    void process(ike::Output& out);
    void send(const ike::Datagram& d);
    void apply(const ike::SaCommand& c);
    void on_event(const ike::Event& e);
    void on_virtual_ip_event(const ike::Event& e);
    void arm_timer();
    void send_keepalives(Time now);
    void expire_pending();
    int epoll_timeout_ms() const;
    void start_connections();
    void shutdown();

    void on_request(std::uint64_t client, std::string_view line);
    void cmd_initiate(std::uint64_t client, const ControlRequest& r);
    void cmd_terminate(std::uint64_t client, const ControlRequest& r);
    void cmd_load(std::uint64_t client);
    void cmd_export(std::uint64_t client, const ControlRequest& r);
    // rekey, monitor, metrics (daemon_control.cpp)
    void cmd_rekey(std::uint64_t client, const ControlRequest& r);
    void cmd_monitor(std::uint64_t client);
    Status start_metrics();
    void observe_event(const ike::Event& e);  // metrics and monitor subscribers
    MetricsSnapshot metrics_snapshot() const;
    DaemonStatus status() const;
    Result<std::uint64_t> initiate(const std::string& conn, const std::string& child,
                                   const ike::PacketTrigger* trigger = nullptr);
    Status reload();
    void start_dataplane();
    void load_traps();
    void on_acquire(const dataplane::AcquireRequest& r);
    void on_dead_peer(const ike::Event& e);  // dpd_action restart / trap
    void on_lifetime_notices();
    TrafficBySpi child_traffic() const;
    // MOBIKE (address_monitor.cpp, path_manager.cpp)
    void start_address_monitor();
    void on_address_changes();
    void evaluate_paths(Time now);
    void cmd_move(std::uint64_t client, const ControlRequest& r);
    void track_path_event(const ike::Event& e);
    // Starts the engine moves a path manager decided; pins sources as needed.
    void start_moves(const std::vector<MoveDecision>& decisions, const std::vector<ike::IkeSaInfo>& sas, Time now,
                     ike::Output& out);
    void failover(std::uint64_t ike_sa_id, Time now);
    void on_probe_answer(const ike::Event& e);  // path_probe_ok: move to the pair that answered
    void reestablish_stranded(const std::vector<ike::IkeSaInfo>& sas, const AddressSet& usable, Time now,
                              ike::Output& out);
    // ESP received on a path-watched SA counts as the path being alive.
    void refresh_path_liveness(Time now);
    void refresh_source_pins();
    AddressSet uplink_addresses(const ike::IkeSaInfo& sa) const;

    std::string config_path_;
    LoadedConfig config_;
    std::unique_ptr<CredentialLoader> creds_;
    std::unique_ptr<crypto::Random> random_;
    std::unique_ptr<ike::Engine> engine_;
    SaTable sas_;
    EspKeyArchive key_archive_;  // deleted SAs and earlier addresses, for export-keys
    UdpSockets udp_;
    std::optional<Time> keepalive_due_;  // next NAT-T keepalive round
    std::unique_ptr<RecvBatch> rx_;  // recvmmsg buffers, reused by every on_udp
    std::unique_ptr<dataplane::DataPlane> dataplane_;  // null: ESP is counted and dropped
    std::unique_ptr<ControlServer> control_;
    int epoll_fd_ = -1;
    int timer_fd_ = -1;
    int signal_fd_ = -1;
    Time started_{};
    Counters counters_;
    std::map<std::uint64_t, Pending> pending_;  // IKE SA id -> initiate request waiting for it
    std::unique_ptr<AddressMonitor> addresses_;  // null: no rtnetlink, no automatic moves
    PathManager paths_;
    SourcePins source_pins_;                 // failover sources bound to their interface
    std::map<std::uint64_t, IpAddress> pinned_by_sa_;  // which SA needs which pin
    // Failovers waiting for a probe answer: the pairs probed per IKE SA (their
    // sources that need it are pinned meanwhile, see refresh_source_pins).
    std::map<std::uint64_t, std::vector<MoveDecision>> probing_;
    std::set<std::uint64_t> watched_;  // IKE SAs with MOBIKE path liveness (path_timeout)
    std::set<std::string> dpd_trapped_;  // connections trapped by dpd_action = trap
    IkeMessageCounters ike_messages_;
    MoveStats move_stats_;
    std::map<std::string, std::uint64_t> event_counts_;
    std::set<std::uint64_t> monitors_;  // control clients subscribed to events
    std::unique_ptr<MetricsServer> metrics_server_;  // null: daemon.metrics not set
};

}  // namespace mobiked::daemon
