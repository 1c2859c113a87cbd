// RFC 4301 §5.2 for traffic that never reaches the TUN: an nftables table
// owned by the daemon ("inet mobiked_<tun>") that drops
//   - cleartext matching a PROTECT policy that would leave by any interface
//     but the TUN (output, forward) or that arrives by any interface but the
//     TUN (input, forward): with the SA down (no routes into the TUN) or a
//     route that bypasses table 4500, nothing leaks, nothing is accepted;
//   - traffic matching a DISCARD policy, in both directions, counted.
// Policies are rendered in SPD order: a PROTECT entry first accepts its
// traffic on the TUN, then drops it elsewhere, so a later DISCARD (e.g. the
// final ANY DISCARD) never hits protected traffic in the tunnel.
// Exempt: packets carrying the daemon's fwmark (its IKE/ESP sockets),
// arriving IKE/ESP-in-UDP (UDP 500/4500) and raw ESP, IPv6 neighbour
// discovery, and ICMP "fragmentation needed"/"packet too big" (outer PMTU).
//
// The table is written with `nft -f -` (no libnftables-dev on the build
// hosts): one atomic transaction per change ("add table; delete table;
// table {...}"), only when the rendered text differs from the last one, so
// rekeys with unchanged selectors cost nothing. The helper is bounded (2 s,
// then SIGKILL) and never runs on the packet path. A run costs 10-20 ms, so
// the coalesced rewrites after SA changes run asynchronously (the event loop
// reaps the child from its timer) instead of stalling traffic that just
// resumed. The table is deleted when the Enforcer goes; one left by a crash
// keeps failing closed until the next start replaces it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"

namespace mobiked::dataplane {

struct EnforcedPolicy {
    enum class Action : std::uint8_t { protect, discard } action = Action::protect;
    AddressRange local;   // this side (source of outbound traffic)
    AddressRange remote;  // the other side
    std::uint8_t protocol = 0;  // 0 = any
    // Ports (0-65535 = any). Opaque or ICMP type/code selectors: any (a superset:
    // PROTECT's routes already send every port of the addresses into the TUN).
    std::uint16_t local_port_first = 0, local_port_last = 65535;
    std::uint16_t remote_port_first = 0, remote_port_last = 65535;
    std::string label;  // nft comment: connection/child or "discard"
    bool operator==(const EnforcedPolicy&) const = default;
};

struct EnforcementConfig {
    std::string table;       // nft table name (family inet)
    std::string tun;         // the TUN device's name
    std::uint32_t fwmark = 0;
    std::uint16_t ike_port = 500, natt_port = 4500;
};

// The table name for a TUN: "mobiked_" + the name with anything but
// [A-Za-z0-9_] replaced by '_'.
std::string enforcement_table_name(const std::string& tun);

// The whole nft script: replaces the table atomically with `policies` in order.
std::string render_enforcement(const EnforcementConfig& c, const std::vector<EnforcedPolicy>& policies);
// "delete table" for exit (errors ignored by the caller).
std::string render_enforcement_removal(const EnforcementConfig& c);

inline constexpr std::chrono::milliseconds kNftLimit{2000};

// {"nft", "-f", "-"}: tests hand in stand-ins (e.g. {"/bin/sh", "-c", "..."}),
// which read the script on stdin or ignore it.
std::vector<std::string> nft_command();

// One child running `command` with a script on its stdin, without waiting for
// it: start() returns as soon as the script is in the pipe, poll() reaps. The
// event loop has no fd to wait on (stderr's EOF may come before the exit), so
// its owner polls on a timer. Not thread-safe; one run at a time.
class NftRunner {
public:
    explicit NftRunner(std::vector<std::string> command = nft_command()) : command_(std::move(command)) {}
    // Kills and reaps a child still running: none is ever left a zombie.
    ~NftRunner();
    NftRunner(const NftRunner&) = delete;
    NftRunner& operator=(const NftRunner&) = delete;

    // Spawns the command, writes `script` to its stdin and closes it. Error
    // (nothing left running): already running, or why it could not start.
    Status start(const std::string& script, std::chrono::milliseconds limit = kNftLimit);
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    // Never blocks but at the deadline (SIGKILL, then the reap). nullopt while
    // the child runs (or when none was started); once it ended: ok for exit 0,
    // else "<name> failed: " + its stderr (first 400 bytes), or
    // "<name> did not finish in N ms" when it was killed.
    std::optional<Status> poll();
    // Blocks until the child ends or is killed at its deadline; ok when none runs.
    Status wait();
    // Kills and reaps a running child (its result is dropped).
    void kill();

private:
    void drain_stderr();
    Status finish(int wait_status);
    void close_fds();

    std::vector<std::string> command_;
    pid_t pid_ = -1;
    int err_ = -1;  // the child's stdout and stderr, read end (non-blocking)
    std::string msg_;
    bool write_failed_ = false;
    std::chrono::milliseconds limit_{};
    std::chrono::steady_clock::time_point deadline_{};
};

// Runs `command` (nft -f -) with `script` on stdin; waits at most `limit` (then
// kills it). Error: nft's stderr (first lines) or why it could not run.
Status run_nft(const std::string& script, std::chrono::milliseconds limit = kNftLimit,
               std::vector<std::string> command = nft_command());

// The table's owner. apply() is synchronous (the table is in force when it
// returns ok); apply_async() + poll() do the same without blocking. Both skip
// the run when the rendered table equals the installed one.
class Enforcer {
public:
    explicit Enforcer(EnforcementConfig c, std::vector<std::string> command = nft_command())
        : config_(std::move(c)), runner_(std::move(command)) {}
    // Kills a run in flight (a kernel transaction is all or nothing), then
    // deletes the table if one may stand.
    ~Enforcer();
    Enforcer(const Enforcer&) = delete;
    Enforcer& operator=(const Enforcer&) = delete;

    // Installs the table for `policies` when they changed since the last call.
    // A run in flight is waited for first (bounded), so an older table never
    // lands after this one; a queued one is dropped as stale.
    Status apply(const std::vector<EnforcedPolicy>& policies);
    // Starts a run for `policies` and returns at once. With a run in flight,
    // they are kept (the latest call wins) and started by poll() when that run
    // ends. Error only when the child could not be started.
    Status apply_async(const std::vector<EnforcedPolicy>& policies);
    // Never blocks but at a run's deadline. The result of a run that ended
    // since the last call, nullopt if none did; a queued run is started then
    // (if that fails, its error is returned in place of the ended run's).
    std::optional<Status> poll();
    bool busy() const { return runner_.running() || queued_.has_value(); }
    // Wall time from the start to the reaping of the last asynchronous run.
    std::chrono::nanoseconds last_run_time() const { return last_run_time_; }
    // Only ever changed by a run that succeeded.
    bool installed() const { return installed_; }
    const std::string& installed_text() const { return last_; }
    const EnforcementConfig& config() const { return config_; }

private:
    Status start(std::string script);
    void finished(const Status& st);

    EnforcementConfig config_;
    NftRunner runner_;
    std::string last_;                   // the installed table
    bool installed_ = false;
    std::string running_;                // the table of the run in flight
    std::optional<std::string> queued_;  // the table for the run after it
    std::chrono::steady_clock::time_point started_{};
    std::chrono::nanoseconds last_run_time_{};
};

}  // namespace mobiked::dataplane
