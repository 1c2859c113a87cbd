// The user-space data plane: moves packets between the TUN device and the
// ESP sockets through ipsec/ (SPD, SPD cache, SAD, ESP transforms).
//
//   outbound: TUN read -> selector -> SPD cache / SPD -> PROTECT: SA -> ESP
//             seal -> UDP 4500 (udp_encap, via the daemon's socket) or raw ESP
//             ACQUIRE (trap policy, no SA yet): queue a few packets, ask IKE
//   inbound:  ESP (UDP 4500 after the marker demux, or raw) -> SAD by SPI ->
//             anti-replay -> ICV/decrypt -> selector check -> TUN write
//
// Every installed CHILD_SA gets PROTECT policies for its selector pairs,
// ahead of all others (the newest SA wins after a rekey), and routes for its
// remote selectors into the TUN (reference counted, in a dedicated table).
//
// Threads: the daemon's event loop calls every public function; with
// options.workers > 1 the TUN has that many queues (IFF_MULTI_QUEUE) and
// workers-1 threads of our own each read and seal one of them, the loop
// reading the first. One mutex guards the databases and SAs: a thread holds
// it while it resolves and seals a batch (one TUN read, up to 64 segments)
// or opens one inbound packet, never during its system calls, so TUN reads,
// sendmmsg and TUN writes of several threads overlap. What workers raise for
// the loop (ACQUIREs, lifetime notices) waits for it and wakes it through
// the descriptor in fds(); the hooks are called on the loop's thread, except
// send_udp_batch (send_udp without it) and log, which workers call too (they
// must be thread-safe).
// Packets are untrusted; parsing is bounded by the ipsec/ functions and the
// buffer.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "common/time.hpp"
#include "crypto/random.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/enforcement.hpp"
#include "dataplane/esp_socket.hpp"
#include "dataplane/icmp_too_big.hpp"
#include "dataplane/offload.hpp"
#include "dataplane/routes.hpp"
#include "dataplane/tun_device.hpp"
#include "ike/engine.hpp"
#include "ipsec/outbound.hpp"
#include "ipsec/packet_buffer.hpp"
#include "ipsec/sad.hpp"
#include "ipsec/spd.hpp"
#include "ipsec/spd_cache.hpp"

namespace mobiked::dataplane {

struct DataPlaneOptions {
    TunOptions tun;
    std::uint32_t route_table = kDefaultRouteTable;
    std::uint32_t fwmark = kDefaultFwmark;
    std::uint32_t rule_priority = kDefaultRulePriority;
    bool raw_esp = true;                    // open raw ESP sockets for non-encapsulated SAs
    unsigned path_mtu = 1500;               // assumed MTU towards peers: routes get it minus SA overhead
    std::size_t acquire_queue = 8;          // packets kept per pending ACQUIRE
    std::size_t max_acquires = 64;          // pending ACQUIREs at once
    Duration acquire_retry = std::chrono::seconds(10);  // ask IKE again after this
    Duration acquire_expiry = std::chrono::seconds(30); // drop the queue after this
    Duration rekey_grace = std::chrono::seconds(5);     // a rekeyed SA's inbound half lives on this long
    // RFC 4301 §5.2 for traffic outside the TUN: an nftables table (see enforcement.hpp).
    bool enforce = true;
    std::uint16_t ike_port = 500, natt_port = 4500;  // arriving IKE/ESP-in-UDP is never dropped by it
    // Inner packets larger than their SA's path allows (RFC 4301 §8): see DfPolicy.
    DfPolicy df = DfPolicy::copy;
    unsigned icmp_rate = 100;  // ICMP Fragmentation Needed / Packet Too Big per second at most
    // Threads sealing TUN traffic: the caller's loop and workers-1 more, each
    // with its own TUN queue (tun.queues is set to match).
    unsigned workers = 1;
};

// A trap policy: PROTECT without an SA; the first packet triggers IKE.
struct Trap {
    std::string connection;
    std::string child;
    ike::IpsecMode mode = ike::IpsecMode::tunnel;
    std::vector<ike::TrafficSelectorRange> local_ts;  // resolved (no "dynamic")
    std::vector<ike::TrafficSelectorRange> remote_ts;
};

struct AcquireRequest {
    std::string connection;
    std::string child;
    ike::PacketTrigger trigger;
};

// Per CHILD_SA traffic (both directions), for list-sas.
struct ChildTraffic {
    std::uint64_t packets_in = 0, bytes_in = 0, packets_out = 0, bytes_out = 0;
    std::uint64_t drops_in = 0, drops_out = 0;
};

enum class LogLevel : std::uint8_t { debug, info, warning, error };

// A CHILD_SA reached a volume limit (bytes/packets, or the sequence number
// nearly or fully used): soft asks IKE for a rekey, hard for a delete.
struct LifetimeNotice {
    std::uint64_t ike_sa_id = 0;
    std::uint32_t child_id = 0;
    bool hard = false;
    std::string events;  // e.g. "soft_bytes", for the log
};

struct DataPlaneHooks {
    // Sends one UDP datagram (ESP-in-UDP, no marker) from `local` to `remote`.
    std::function<bool(const Endpoint& local, const Endpoint& remote, ByteView data)> send_udp;
    // Optional: several at once (sendmmsg); returns how many were sent. The
    // views are valid during the call only.
    std::function<std::size_t(std::span<const OutDatagram>)> send_udp_batch;
    std::function<void(const AcquireRequest&)> acquire;
    std::function<void(LogLevel, const std::string&)> log;  // never given key material
};

class DataPlane {
public:
    // Opens the TUN device, the raw ESP sockets and the routing rule.
    // `rng` (CBC IVs) must outlive the data plane.
    static Result<std::unique_ptr<DataPlane>> create(const DataPlaneOptions& options, DataPlaneHooks hooks,
                                                     crypto::Random* rng);
    // For tests: an already opened device, no sockets, routes or rules.
    // `more_queues` are read by worker threads (started by start_workers()).
    DataPlane(const DataPlaneOptions& options, DataPlaneHooks hooks, crypto::Random* rng,
              std::unique_ptr<TunDevice> tun, std::vector<std::unique_ptr<TunDevice>> more_queues = {});
    ~DataPlane();
    DataPlane(const DataPlane&) = delete;
    DataPlane& operator=(const DataPlane&) = delete;

    // One worker thread per extra TUN queue; call once the hooks' targets and
    // the source pins are in place. Each waits for its queue with poll(), so
    // fakes in tests need a pollable fd().
    Status start_workers();
    std::size_t worker_count() const { return workers_.size(); }

    std::vector<int> fds() const;
    bool owns(int fd) const;
    void on_readable(int fd, Time now);
    // One ESP packet from the UDP 4500 socket (marker demux done by the caller).
    void on_udp_esp(const Endpoint& local, const Endpoint& remote, ByteView esp, Time now);
    // The same, decapsulated in place in the caller's buffer (no copy); `esp`
    // needs ipsec::kMinHeadroom in front (transport mode rebuilds a header).
    void on_udp_esp(const Endpoint& local, const Endpoint& remote, ipsec::PacketBuffer& esp, Time now);
    // Outbound cleartext packet as read from the TUN (tests feed it directly).
    void on_tun_packet(ByteView ip_packet, Time now);
    // Between these two, decrypted packets are held and handed to the TUN
    // together (TUN offloads: TCP segments of a flow merged into one write).
    // The daemon brackets each receive batch; without them every packet is
    // written at once.
    void begin_rx_batch() { rx_batching_ = true; }
    void end_rx_batch();

    // The engine's SA commands. install replaces an SA with the same inbound SPI.
    // remove of a rekeyed SA (d.rekeyed) stops sending on it at once and keeps
    // its inbound half for options.rekey_grace, so packets in flight arrive.
    Status install(const ike::InstallChildSa& c, Time now);
    bool remove(const ike::DeleteChildSa& d, Time now);
    bool update(const ike::UpdateSaAddresses& u);
    // Also removes the IKE SA's virtual IPs.
    std::size_t remove_ike_sa(std::uint64_t ike_sa_id);
    // Client: an inner address the gateway assigned (Configuration Payload)
    // goes on the TUN, so routes into it get it as source; it goes with the
    // IKE SA (remove_ike_sa), or moves to the successor of an IKE rekey.
    Status add_virtual_ip(std::uint64_t ike_sa_id, const IpAddress& a);
    void move_virtual_ips(std::uint64_t from_ike_sa_id, std::uint64_t to_ike_sa_id);
    // An IKE rekey: the CHILD_SAs (and inner addresses) now belong to the
    // successor, so deleting the old IKE SA must not take them along.
    void move_ike_sa(std::uint64_t from_ike_sa_id, std::uint64_t to_ike_sa_id);
    std::vector<IpAddress> virtual_ips() const;
    // Replaces every trap policy (config load/reload).
    void set_traps(const std::vector<Trap>& traps);
    // Configured policies enforced even while no SA or trap stands for them:
    // PROTECT selectors of every configured child (a PROTECT flow whose SA is
    // down never leaks), DISCARD entries (also added to the end of the SPD).
    void set_configured_policies(std::vector<EnforcedPolicy> policies);
    // Brings the nftables table up to date with the SPD now (cheap when nothing
    // changed; config load and reload).
    void sync_enforcement();
    // The same, coalesced and asynchronous, for SA installs, deletes and
    // moves: nft takes 10-20 ms, which must neither stall the traffic that
    // just moved nor be paid per SA on a busy gateway. poll() starts the
    // rewrite at least kEnforceDelay later, with nft running at most ~10% of
    // the time, and reaps it (next_deadline() asks for a poll every
    // kEnforcePoll while it runs). Meanwhile the TUN routes already steer the
    // new SA's traffic; the table is the belt to those braces.
    void enforcement_changed(Time now);
    static constexpr Duration kEnforceDelay = std::chrono::milliseconds(20);
    static constexpr Duration kEnforcePoll = std::chrono::milliseconds(2);
    bool enforcing() const;

    // Timers: the rekey grace periods. poll() at next_deadline() (or later).
    std::optional<Time> next_deadline() const;
    void poll(Time now);
    // Lifetime limits reached by traffic since the last call.
    std::vector<LifetimeNotice> take_lifetime_notices();

    Counters counters() const;
    std::optional<ChildTraffic> traffic(std::uint32_t spi_in) const;
    std::size_t child_sa_count() const;
    // When the last ESP packet was received and accepted on the IKE SA's
    // CHILD_SAs (MOBIKE path liveness: the peer reaches us); Time{} if none.
    Time last_inbound(std::uint64_t ike_sa_id) const;
    // Before start_workers(); pins are read by the sending threads.
    void set_source_pins(const SourcePins* pins) {
        raw4_.set_source_pins(pins);
        raw6_.set_source_pins(pins);
    }
    const std::string& tun_name() const { return tun_->name(); }
    std::uint32_t fwmark() const { return opts_.fwmark; }
    // The largest inner packet that fits `path_mtu` once sealed by `sa`.
    static unsigned inner_mtu(const ipsec::Sa& sa, unsigned path_mtu);

private:
    struct RouteRef {
        Prefix prefix;
        IpAddress src;
    };
    struct Child {
        std::uint64_t ike_sa_id = 0;
        std::uint32_t child_id = 0;
        std::string name;
        std::uint32_t spi_in = 0;
        std::uint32_t spi_out = 0;
        std::uint64_t seq = 0;  // install order: a delete takes the first match in it
        const ipsec::Sa* out_sa = nullptr;
        std::vector<ipsec::Policy::Id> policies;
        std::vector<RouteRef> routes;
    };
    // What one IKE SA holds, so per-IKE-SA work costs its own CHILD_SAs, not
    // everyone's. children is in ascending seq (an IKE rekey merges two).
    struct IkeSaMembers {
        std::vector<Child*> children;
        std::vector<std::uint32_t> draining;  // inbound SPIs
    };
    struct TrapEntry {
        Trap trap;
        std::vector<ipsec::Policy::Id> policies;
        std::vector<RouteRef> routes;
    };
    struct Draining {
        std::uint64_t ike_sa_id = 0;
        std::uint32_t spi_in = 0;
        Time until{};
    };
    struct Pending {
        ipsec::Policy::Id policy = 0;
        ipsec::SaSelector selector;
        Time asked{};
        Time created{};
        std::vector<Bytes> packets;
    };

    // One thread's share of the outbound path: the TUN queue it reads, the
    // slots it seals into and its send queues. Touched by that thread only.
    struct Lane {
        TunDevice* tun = nullptr;
        std::vector<std::uint8_t> slots;
        // TUN offloads: one super-packet as read, and per-slot views for segment_gso.
        std::vector<std::uint8_t> tso_in;
        std::vector<std::span<std::uint8_t>> slot_data;
        std::vector<std::size_t> slot_len;
        bool batching = false;  // sealed packets are queued for flush_tx() instead of sent
        std::vector<OutDatagram> tx_udp, tx_raw4, tx_raw6;
    };
    void init_lane(Lane& lane, TunDevice* tun);
    bool on_loop() const { return workers_.empty() || std::this_thread::get_id() == loop_thread_; }
    // Run by a worker with mu_ held: the loop has ACQUIREs or notices to take.
    void wake_loop() { wake_loop_ = true; }
    void signal_loop() const;  // a worker, after releasing mu_: the eventfd the loop polls
    void run_worker(Lane& lane);
    void stop_workers();
    void outbound(Lane& lane, ipsec::PacketBuffer& pkt, Time now);
    // The SA a cleartext packet goes out on, or null when it was dropped or
    // queued for an ACQUIRE (counted either way).
    ipsec::Sa* resolve_outbound(ipsec::PacketBuffer& pkt, Time now);
    void seal_and_send(Lane& lane, ipsec::Sa& sa, ipsec::PacketBuffer& pkt, Time now);
    void inbound(const Endpoint& local, const Endpoint& remote, ipsec::PacketBuffer& pkt, Time now);
    bool send_sealed(Lane& lane, const ipsec::Sa& sa, ipsec::PacketBuffer& pkt, const ipsec::PacketResult& r);
    void acquire(const ipsec::OutboundDecision& d, const ipsec::FlowSelector& f, ByteView packet, Time now);
    void take_wakeup();  // the loop: the ACQUIREs workers raised go to the hook
    void flush_pending(Time now);
    void drain_tun(Lane& lane, Time now);
    // With TUN offloads: reads may be TSO super-packets, cut here into slots.
    void drain_tun_segmented(Lane& lane, Time now);
    void deliver(ipsec::PacketBuffer& pkt);
    // The queue a decrypted packet goes into: the kernel sends a flow's
    // replies to the queue it last received the flow on, so spreading flows
    // here spreads the outbound work over the workers.
    TunDevice& queue_for(ByteView ip_packet) const;
    // Sends the lane's queues (no lock held), then counts under mu_.
    void flush_tx(Lane& lane);
    void drain_raw(RawEspSocket& s, Time now);

    std::vector<ipsec::Policy::Id> add_policies(const std::vector<ike::TrafficSelectorRange>& local_ts,
                                                const std::vector<ike::TrafficSelectorRange>& remote_ts,
                                                ike::IpsecMode mode, const std::string& label, bool front);
    std::vector<RouteRef> add_routes(const std::vector<ike::TrafficSelectorRange>& local_ts,
                                     const std::vector<ike::TrafficSelectorRange>& remote_ts,
                                     ike::IpsecMode mode, const IpAddress& transport_src, unsigned mtu);
    void release_routes(const std::vector<RouteRef>& routes);
    // `unlink`: also take it out of its IKE SA's members (remove_ike_sa took them).
    void erase_child(Child& c, bool keep_inbound = false, bool unlink = true);
    void erase_draining(std::uint32_t spi_in, bool unlink = true);
    Child* find_child(std::uint32_t spi_in);
    const Child* find_child(std::uint32_t spi_in) const;
    // MOBIKEv2: new selectors for a transport-mode child (SAD, its policies
    // and their SPD-cache entries, routes); configured policies stay.
    void move_transport(std::uint64_t ike_sa_id, const ike::TransportSelectors& t, const IpAddress& local);
    void note_events(const ipsec::Sa& sa, ipsec::EventSet events);
    // An inner packet too big for `sa`'s path: true when it was answered
    // (ICMP back into the TUN, or dropped by the rate limit) and must not be sent.
    bool too_big(TunDevice& tun, const ipsec::Sa& sa, ByteView packet, Time now);
    void readd_discards();
    void log(LogLevel l, const std::string& msg) const {
        if (hooks_.log) hooks_.log(l, msg);
    }

    DataPlaneOptions opts_;
    DataPlaneHooks hooks_;
    crypto::Random* rng_;
    std::unique_ptr<TunDevice> tun_;
    std::unique_ptr<Rtnetlink> netlink_;  // null in tests: no routes
    std::unique_ptr<RouteSet> routes_;
    std::vector<EnforcedPolicy> enforced_policies() const;  // the SPD and configured_, as the table has them
    void enforcement_result(const Status& st);              // logs each distinct error once
    std::unique_ptr<Enforcer> enforcer_;  // null in tests and with enforce = false
    std::vector<EnforcedPolicy> configured_;
    std::vector<ipsec::Policy::Id> discard_ids_;  // configured DISCARD entries in the SPD
    bool enforce_dirty_ = false;
    Time enforce_due_{};
    Time enforce_last_{};       // when the last rewrite was asked for
    Duration enforce_cost_{};   // how long the last asynchronous one ran (wall clock, start to reaping)
    Time enforce_check_{};      // when poll() next looks at a run in flight
    Time last_now_{};           // the latest time handed in, for calls without one
    std::string enforce_error_;                   // last error logged (each logged once)
    std::array<std::uint8_t, kIcmpTooBigMax> icmp_buf_{};
    Time icmp_window_{};
    unsigned icmp_sent_ = 0;
    RawEspSocket raw4_, raw6_;
    bool rules_installed_ = false;

    ipsec::Spd spd_;
    ipsec::SpdCache cache_;
    ipsec::OutboundPolicy policy_{spd_, cache_};
    ipsec::Sad sad_;
    // By inbound SPI (unique: install replaces), node-based so Child* stays
    // valid in the indexes below.
    std::unordered_map<std::uint32_t, Child> children_;
    std::unordered_map<std::uint64_t, IkeSaMembers> by_ike_;
    // The packet path's lifetime events name the outbound SA by pointer only:
    // its SAD key's second half (our inbound SPI) is not in the SA, and two
    // peers may have chosen the same outbound SPI.
    std::unordered_map<const ipsec::Sa*, Child*> by_out_sa_;
    std::uint64_t next_seq_ = 0;
    std::vector<std::pair<std::uint64_t, IpAddress>> virtual_ips_;  // (IKE SA, address on the TUN)
    std::vector<TrapEntry> traps_;
    std::vector<Pending> pending_;
    std::unordered_map<std::uint32_t, Draining> draining_;  // by inbound SPI
    std::set<std::pair<Time, std::uint32_t>> drain_order_;   // (until, inbound SPI): next expiry first
    std::vector<LifetimeNotice> notices_;
    std::vector<AcquireRequest> acquires_;  // raised by workers, not yet handed to the hook
    Counters counters_;
    std::vector<std::uint8_t> buf_;  // one packet with ESP headroom and tailroom (loop only)
    // Outbound batching: TUN packets are read into a lane's slots, sealed in
    // place and queued; flush_tx() hands each queue to sendmmsg.
    Lane main_;  // the loop's: tun_, and the packets on_tun_packet() is given
    std::unique_ptr<TcpCoalescer> rx_coalescer_;  // only with offloads (loop only)
    bool rx_batching_ = false;

    // Guards everything above except the lanes, buf_ and the inbound batch.
    // Recursive: the loop's calls nest (install sends queued packets, the
    // ACQUIRE hook may call back in), and hold it throughout as before.
    mutable std::recursive_mutex mu_;
    using Lock = std::lock_guard<std::recursive_mutex>;
    std::thread::id loop_thread_;
    bool wake_loop_ = false;
    std::vector<std::unique_ptr<TunDevice>> more_queues_;  // queues 1..n-1, one per worker
    std::vector<std::unique_ptr<Lane>> worker_lanes_;
    std::vector<std::thread> workers_;
    int stop_fd_ = -1;  // eventfd: workers exit
    int wake_fd_ = -1;  // eventfd: workers have something for the loop
};

}  // namespace mobiked::dataplane
