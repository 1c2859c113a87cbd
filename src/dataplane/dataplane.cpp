#include "dataplane/dataplane.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "ipsec/esp.hpp"
#include "ipsec/ip.hpp"
#include "ipsec/selectors.hpp"

namespace mobiked::dataplane {
namespace {

constexpr std::size_t kHeadroom = 128;  // >= ipsec::kMinHeadroom
constexpr std::size_t kTailroom = 64;   // >= ipsec::kMinTailroom
constexpr std::size_t kMaxPacket = 65535;
constexpr int kMaxPacketsPerWake = 64;  // fairness between the loop's sources
constexpr std::size_t kTxBatch = 32;     // TUN packets sealed per sendmmsg (no offloads)
// With TUN offloads a read is up to kMaxTsoSegments packets (the TUN's
// gso_max_segs), and two super-packets fit one batch.
constexpr std::size_t kMaxTsoSegments = 64;
constexpr std::size_t kTxSlots = 2 * kMaxTsoSegments;
constexpr std::size_t kTxSlotData = 16384;  // > the largest TUN MTU we set (9000)
constexpr std::size_t kTxSlotSize = kHeadroom + kTxSlotData + kTailroom;
constexpr std::size_t kMinInnerMtu = 576;  // inner_mtu() never reports less: smaller packets always fit

ipsec::TrafficSelector to_ipsec(const ike::TrafficSelectorRange& t) {
    return ipsec::TrafficSelector{t.range, t.protocol, t.port_first, t.port_last};
}

std::vector<ipsec::TrafficSelector> to_ipsec(const std::vector<ike::TrafficSelectorRange>& v) {
    std::vector<ipsec::TrafficSelector> out;
    for (const auto& t : v) out.push_back(to_ipsec(t));
    return out;
}

ipsec::PortSelector port_selector(std::uint16_t first, std::uint16_t last) {
    if (first == 0 && last == 65535) return {};
    if (first == 65535 && last == 0) return ipsec::PortSelector::opaque();
    return ipsec::PortSelector::ports(first, last);
}

ipsec::SaParams sa_params(const ike::InstallChildSa& c, ipsec::Direction d) {
    const bool in = d == ipsec::Direction::inbound;
    const ike::ChildSaKeys& k = in ? c.inbound : c.outbound;
    ipsec::SaParams p;
    p.spi = in ? c.spi_in : c.spi_out;
    p.protocol = c.protocol == wire::ProtocolId::ah ? ipsec::Protocol::ah : ipsec::Protocol::esp;
    p.mode = c.mode == ike::IpsecMode::tunnel ? ipsec::Mode::tunnel : ipsec::Mode::transport;
    p.direction = d;
    p.encr_id = k.encr_id;
    p.encr_key_bits = k.encr_key_bits;
    p.integ_id = k.integ_id;
    p.encr_key = k.encr_key;
    p.integ_key = k.integ_key;
    p.esn = c.esn;
    p.local = c.local;
    p.remote = c.remote;
    p.udp_encap = c.udp_encap;
    p.local_ts = to_ipsec(c.local_ts);
    p.remote_ts = to_ipsec(c.remote_ts);
    // Time limits are the engine's (it rekeys and deletes); volume limits are ours.
    p.lifetime.soft_bytes = c.lifetimes.rekey_bytes;
    p.lifetime.hard_bytes = c.lifetimes.life_bytes;
    p.lifetime.soft_packets = c.lifetimes.rekey_packets;
    p.lifetime.hard_packets = c.lifetimes.life_packets;
    return p;
}

ike::TrafficSelectorRange single(const IpAddress& a, std::uint8_t proto, std::uint16_t port, bool opaque) {
    ike::TrafficSelectorRange t;
    t.range = AddressRange{a, a};
    t.protocol = proto;
    if (!opaque && proto != 0) t.port_first = t.port_last = port;
    return t;
}

std::uint64_t drop_total(const ipsec::SaCounters& c) {
    std::uint64_t n = 0;
    for (auto v : c.drops) n += v;
    return n;
}

}  // namespace

std::string_view drop_name(Drop d) {
    switch (d) {
        case Drop::malformed: return "malformed";
        case Drop::too_big: return "too_big";
        case Drop::discard: return "discard";
        case Drop::bypass_in_tun: return "bypass_in_tun";
        case Drop::no_sa: return "no_sa";
        case Drop::acquire_queue_full: return "acquire_queue_full";
        case Drop::acquire_expired: return "acquire_expired";
        case Drop::unknown_spi: return "unknown_spi";
        case Drop::transform: return "transform";
        case Drop::send_failed: return "send_failed";
        case Drop::tun_write_failed: return "tun_write_failed";
        case Drop::path_mtu: return "path_mtu";
        case Drop::keepalive: return "keepalive";
    }
    return "?";
}

DataPlane::DataPlane(const DataPlaneOptions& options, DataPlaneHooks hooks, crypto::Random* rng,
                     std::unique_ptr<TunDevice> tun, std::vector<std::unique_ptr<TunDevice>> more_queues)
    : opts_(options), hooks_(std::move(hooks)), rng_(rng), tun_(std::move(tun)),
      buf_(kHeadroom + kMaxPacket + kTailroom), more_queues_(std::move(more_queues)) {
    init_lane(main_, tun_.get());
    if (tun_->offloads()) rx_coalescer_ = std::make_unique<TcpCoalescer>();
}

void DataPlane::init_lane(Lane& lane, TunDevice* tun) {
    lane.tun = tun;
    lane.slots.resize(kTxSlots * kTxSlotSize);
    lane.tx_udp.reserve(kTxSlots);
    lane.tx_raw4.reserve(kTxSlots);
    lane.tx_raw6.reserve(kTxSlots);
    if (tun->offloads()) {
        lane.tso_in.resize(kVnetHeaderSize + kMaxPacket + 1);
        for (std::size_t i = 0; i < kTxSlots; ++i)
            lane.slot_data.emplace_back(lane.slots.data() + i * kTxSlotSize + kHeadroom, kTxSlotData);
        lane.slot_len.resize(kTxSlots);
    }
}

Status DataPlane::start_workers() {
    if (!workers_.empty() || more_queues_.empty()) return {};
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0 || wake_fd_ < 0) {
        Error e{std::string("eventfd: ") + std::strerror(errno)};
        stop_workers();
        more_queues_.clear();  // detached: the kernel steers nothing to queues nobody reads
        return e;
    }
    // Workers read workers_ (on_loop()) under the lock: none runs until all exist.
    std::unique_lock g(mu_);
    loop_thread_ = std::this_thread::get_id();
    for (auto& q : more_queues_) {
        worker_lanes_.push_back(std::make_unique<Lane>());
        init_lane(*worker_lanes_.back(), q.get());
    }
    try {
        for (auto& lane : worker_lanes_) workers_.emplace_back([this, l = lane.get()] { run_worker(*l); });
    } catch (const std::system_error& e) {
        g.unlock();  // stop_workers() joins threads that may wait for it
        stop_workers();
        // Closing a queue detaches it: the kernel steers nothing more to queues nobody reads.
        worker_lanes_.clear();
        more_queues_.clear();
        return Error{std::string("worker thread: ") + e.what()};
    }
    return {};
}

void DataPlane::stop_workers() {
    if (stop_fd_ >= 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(stop_fd_, &one, sizeof one);  // every worker's poll() sees it
    }
    for (auto& t : workers_) t.join();
    workers_.clear();
    for (int* fd : {&stop_fd_, &wake_fd_})
        if (*fd >= 0) ::close(std::exchange(*fd, -1));
}

// A worker: its queue until stop_fd_ says to end. Its clock is the daemon's
// (CLOCK_MONOTONIC), so times compare with those the loop hands in.
void DataPlane::run_worker(Lane& lane) {
    pollfd fds[2] = {{lane.tun->fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            log(LogLevel::error, std::string("data-plane worker stops: poll: ") + std::strerror(errno));
            return;
        }
        if (fds[1].revents != 0) return;
        if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            log(LogLevel::error, "data-plane worker stops: its TUN queue failed");
            return;
        }
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        drain_tun(lane, std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
    }
}

DataPlane::~DataPlane() {
    stop_workers();
    enforcer_.reset();  // the nftables table goes first: nothing is left to leak after it either
    routes_.reset();  // routes go before the rule and the device
    if (netlink_)
        for (const IpAddress& a : virtual_ips()) (void)netlink_->address(false, tun_->ifindex(), a);
    if (netlink_ && rules_installed_)
        for (auto f : {IpAddress::Family::v4, IpAddress::Family::v6})
            (void)netlink_->rule(false, f, opts_.fwmark, opts_.route_table, opts_.rule_priority);
}

Result<std::unique_ptr<DataPlane>> DataPlane::create(const DataPlaneOptions& options, DataPlaneHooks hooks,
                                                     crypto::Random* rng) {
    TunOptions to = options.tun;
    to.queues = std::max(1u, options.workers);
    auto tun = open_tun(to);
    if (!tun) return Error{tun.error()};
    std::vector<std::unique_ptr<TunDevice>> more;
    for (unsigned i = 1; i < to.queues; ++i) {
        auto q = open_tun_queue((*tun)->name(), to);
        if (!q) return Error{"TUN queue " + std::to_string(i) + ": " + q.error()};
        more.push_back(std::move(*q));
    }
    auto dp = std::make_unique<DataPlane>(options, std::move(hooks), rng, std::move(*tun), std::move(more));
    dp->netlink_ = std::make_unique<Rtnetlink>();
    if (dp->tun_->offloads()) {
        // Bounds a TSO read to what one batch of slots can take.
        if (auto st = dp->netlink_->set_gso_max_segs(dp->tun_->ifindex(), kMaxTsoSegments); !st)
            return Error{"gso_max_segs on " + dp->tun_->name() + ": " + st.error()};
    }
    dp->routes_ = std::make_unique<RouteSet>(*dp->netlink_, dp->tun_->ifindex(), options.route_table);
    for (auto f : {IpAddress::Family::v4, IpAddress::Family::v6}) {
        // A rule left by a crashed run is replaced (delete, then add).
        (void)dp->netlink_->rule(false, f, options.fwmark, options.route_table, options.rule_priority);
        auto st = dp->netlink_->rule(true, f, options.fwmark, options.route_table, options.rule_priority);
        if (!st && f == IpAddress::Family::v4) return Error{"policy routing rule: " + st.error()};
        if (st) dp->rules_installed_ = true;
    }
    if (options.enforce) {
        EnforcementConfig ec{enforcement_table_name(dp->tun_->name()), dp->tun_->name(), options.fwmark,
                             options.ike_port, options.natt_port};
        dp->enforcer_ = std::make_unique<Enforcer>(std::move(ec));
        dp->sync_enforcement();
    }
    if (options.raw_esp) {
        if (auto st = dp->raw4_.open(IpAddress::Family::v4, options.fwmark); !st)
            dp->log(LogLevel::warning, st.error() + " (no IPv4 ESP without UDP encapsulation)");
        if (auto st = dp->raw6_.open(IpAddress::Family::v6, options.fwmark); !st)
            dp->log(LogLevel::warning, st.error() + " (no IPv6 ESP without UDP encapsulation)");
    }
    return dp;
}

std::vector<int> DataPlane::fds() const {
    std::vector<int> out;
    for (int fd : {tun_->fd(), raw4_.fd(), raw6_.fd(), wake_fd_})
        if (fd >= 0) out.push_back(fd);
    return out;
}

bool DataPlane::owns(int fd) const {
    return fd >= 0 && (fd == tun_->fd() || fd == raw4_.fd() || fd == raw6_.fd() || fd == wake_fd_);
}

void DataPlane::on_readable(int fd, Time now) {
    if (fd == tun_->fd()) drain_tun(main_, now);
    else if (fd == raw4_.fd()) drain_raw(raw4_, now);
    else if (fd == raw6_.fd()) drain_raw(raw6_, now);
    else if (fd == wake_fd_) take_wakeup();
}

void DataPlane::take_wakeup() {
    std::uint64_t n = 0;
    [[maybe_unused]] auto r = ::read(wake_fd_, &n, sizeof n);
    Lock g(mu_);
    for (const AcquireRequest& req : std::exchange(acquires_, {}))
        if (hooks_.acquire) hooks_.acquire(req);
    // Lifetime notices stay for take_lifetime_notices(), which the loop calls next.
}

// Reads happen without the lock and each batch is resolved and sealed under
// it; what a worker raised for the loop wakes it once the lock is released.
void DataPlane::drain_tun(Lane& lane, Time now) {
    if (lane.tun->offloads()) return drain_tun_segmented(lane, now);
    for (std::size_t round = 0; round < kMaxPacketsPerWake / kTxBatch; ++round) {
        std::array<std::size_t, kTxBatch> lengths{};
        std::size_t n = 0;
        for (; n < kTxBatch; ++n) {
            auto len = lane.tun->read({lane.slots.data() + n * kTxSlotSize + kHeadroom, kTxSlotData});
            if (!len) break;
            lengths[n] = *len;
        }
        if (n == 0) return;
        bool wake = false;
        {
            Lock g(mu_);
            lane.batching = true;
            for (std::size_t i = 0; i < n; ++i) {
                if (lengths[i] >= kTxSlotData) {  // truncated by the read: never seal a partial packet
                    ++counters_.tun_packets_in;
                    counters_.drop(Drop::too_big);
                    continue;
                }
                ipsec::PacketBuffer pkt({lane.slots.data() + i * kTxSlotSize, kTxSlotSize}, kHeadroom, lengths[i]);
                outbound(lane, pkt, now);
            }
            lane.batching = false;
            wake = std::exchange(wake_loop_, false);
        }
        if (wake) signal_loop();
        flush_tx(lane);
        if (n < kTxBatch) return;
    }
}

void DataPlane::drain_tun_segmented(Lane& lane, Time now) {
    std::size_t used = 0;  // slots holding packets of this batch
    bool wake = false;
    for (int reads = 0; reads < kMaxPacketsPerWake; ++reads) {
        auto len = lane.tun->read(lane.tso_in);
        if (!len) break;
        const std::span<std::uint8_t> in{lane.tso_in.data(), *len};
        const auto h = parse_vnet_header(in);
        if (kTxSlots - used < kMaxTsoSegments) {
            flush_tx(lane);
            used = 0;
        }
        const auto n = h && *len < lane.tso_in.size()  // a full buffer was truncated
                           ? segment_gso(*h, in.subspan(kVnetHeaderSize),
                                         std::span<const std::span<std::uint8_t>>(lane.slot_data).subspan(used),
                                         std::span<std::size_t>(lane.slot_len).subspan(used))
                           : std::nullopt;
        Lock g(mu_);
        if (!n) {
            ++counters_.tun_packets_in;
            counters_.drop(h && *len >= lane.tso_in.size() ? Drop::too_big : Drop::malformed);
            continue;
        }
        // The segments of one read share addresses, protocol and ports:
        // the first one's policy decision and SA hold for all of them.
        lane.batching = true;
        ipsec::Sa* sa = nullptr;
        for (std::size_t i = used; i < used + *n; ++i) {
            ipsec::PacketBuffer pkt({lane.slots.data() + i * kTxSlotSize, kTxSlotSize}, kHeadroom, lane.slot_len[i]);
            if (i == used) {
                sa = resolve_outbound(pkt, now);
            } else if (sa != nullptr) {
                ++counters_.tun_packets_in;
                counters_.tun_bytes_in += pkt.size();
            } else {
                outbound(lane, pkt, now);  // no SA for the first: each one takes the full path (ACQUIRE queue, drops)
                continue;
            }
            if (sa != nullptr) seal_and_send(lane, *sa, pkt, now);
        }
        lane.batching = false;
        wake = std::exchange(wake_loop_, false) || wake;
        used += *n;
    }
    if (wake) signal_loop();
    flush_tx(lane);
}

void DataPlane::signal_loop() const {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
}

void DataPlane::flush_tx(Lane& lane) {
    std::size_t sent = 0, failed = 0;
    auto flush = [&](std::vector<OutDatagram>& q, auto&& send) {
        if (q.empty()) return;
        const std::size_t k = std::min(send(std::span<const OutDatagram>(q)), q.size());
        sent += k;
        failed += q.size() - k;
        q.clear();
    };
    flush(lane.tx_udp, [&](std::span<const OutDatagram> q) -> std::size_t {
        if (hooks_.send_udp_batch) return hooks_.send_udp_batch(q);
        std::size_t k = 0;
        for (const auto& d : q) k += hooks_.send_udp && hooks_.send_udp(d.local, d.remote, d.data) ? 1 : 0;
        return k;
    });
    flush(lane.tx_raw4, [&](std::span<const OutDatagram> q) { return raw4_.fd() >= 0 ? raw4_.send_batch(q) : 0; });
    flush(lane.tx_raw6, [&](std::span<const OutDatagram> q) { return raw6_.fd() >= 0 ? raw6_.send_batch(q) : 0; });
    if (sent + failed == 0) return;
    Lock g(mu_);
    counters_.esp_packets_out += sent;
    counters_.drops[static_cast<std::size_t>(Drop::send_failed)] += failed;
}

void DataPlane::drain_raw(RawEspSocket& s, Time now) {
    begin_rx_batch();
    for (int i = 0; i < kMaxPacketsPerWake; ++i) {
        bool bad = false;
        auto p = s.receive({buf_.data() + kHeadroom, kMaxPacket}, bad);
        Lock g(mu_);
        if (!p) {
            if (!bad) break;
            counters_.drop(Drop::malformed);
            continue;
        }
        ipsec::PacketBuffer pkt(buf_, kHeadroom + p->offset, p->length);
        inbound(Endpoint{p->local, 0}, Endpoint{p->remote, 0}, pkt, now);
    }
    end_rx_batch();
}

void DataPlane::on_tun_packet(ByteView ip_packet, Time now) {
    Lock g(mu_);
    if (ip_packet.size() > kMaxPacket) return counters_.drop(Drop::too_big);
    std::memcpy(buf_.data() + kHeadroom, ip_packet.data(), ip_packet.size());
    ipsec::PacketBuffer pkt(buf_, kHeadroom, ip_packet.size());
    // buf_ is reused by the next call: never queue a view of it for a batch.
    const bool was_batching = std::exchange(main_.batching, false);
    outbound(main_, pkt, now);
    main_.batching = was_batching;
}

void DataPlane::on_udp_esp(const Endpoint& local, const Endpoint& remote, ByteView esp, Time now) {
    Lock g(mu_);
    if (esp.size() > kMaxPacket) return counters_.drop(Drop::too_big);
    std::memcpy(buf_.data() + kHeadroom, esp.data(), esp.size());
    ipsec::PacketBuffer pkt(buf_, kHeadroom, esp.size());
    inbound(local, remote, pkt, now);
}

void DataPlane::on_udp_esp(const Endpoint& local, const Endpoint& remote, ipsec::PacketBuffer& esp, Time now) {
    if (esp.headroom() < ipsec::kMinHeadroom) return on_udp_esp(local, remote, esp.view(), now);
    Lock g(mu_);
    inbound(local, remote, esp, now);
}

void DataPlane::outbound(Lane& lane, ipsec::PacketBuffer& pkt, Time now) {
    if (ipsec::Sa* sa = resolve_outbound(pkt, now)) seal_and_send(lane, *sa, pkt, now);
}

ipsec::Sa* DataPlane::resolve_outbound(ipsec::PacketBuffer& pkt, Time now) {
    ++counters_.tun_packets_in;
    counters_.tun_bytes_in += pkt.size();
    auto drop = [&](Drop d) -> ipsec::Sa* {
        counters_.drop(d);
        return nullptr;
    };
    if (pkt.size() >= kMaxPacket) return drop(Drop::too_big);
    auto sel = ipsec::extract_selector(pkt.view());
    if (!sel) return drop(Drop::malformed);
    const ipsec::FlowSelector f = ipsec::orient(*sel, ipsec::Direction::outbound);
    const ipsec::OutboundDecision d = policy_.decide(f);
    using K = ipsec::OutboundDecision::Kind;
    switch (d.kind) {
        case K::discard: return drop(Drop::discard);
        case K::bypass: return drop(Drop::bypass_in_tun);
        case K::acquire: acquire(d, f, pkt.view(), now); return nullptr;
        case K::protect: break;
    }
    ipsec::Sa* sa = sad_.find(ipsec::Direction::outbound, d.protocol, d.spi, d.ref);
    if (sa == nullptr || d.protocol != ipsec::Protocol::esp) return drop(Drop::no_sa);
    return sa;
}

void DataPlane::seal_and_send(Lane& lane, ipsec::Sa& sa, ipsec::PacketBuffer& pkt, Time now) {
    if (pkt.size() > kMinInnerMtu && too_big(*lane.tun, sa, pkt.view(), now)) return counters_.drop(Drop::path_mtu);
    const ipsec::PacketResult r = ipsec::esp::seal(sa, pkt, now);
    if (!r.events.empty()) note_events(sa, r.events);
    if (!r.ok()) return counters_.drop(r.status);
    if (!send_sealed(lane, sa, pkt, r)) return counters_.drop(Drop::send_failed);
    if (!lane.batching) ++counters_.esp_packets_out;  // batched: counted by flush_tx()
}

bool DataPlane::send_sealed(Lane& lane, const ipsec::Sa& sa, ipsec::PacketBuffer& pkt, const ipsec::PacketResult& r) {
    const ipsec::SaParams& p = sa.params();
    const std::size_t offset = p.udp_encap ? r.esp_offset : r.ip_header_len;
    ByteView esp{pkt.data() + offset, pkt.size() - offset};
    counters_.esp_bytes_out += esp.size();
    RawEspSocket& s = p.remote.address.is_v4() ? raw4_ : raw6_;
    if (lane.batching) {
        auto& q = p.udp_encap ? lane.tx_udp : p.remote.address.is_v4() ? lane.tx_raw4 : lane.tx_raw6;
        q.push_back(OutDatagram{p.local, p.remote, esp});
        return true;
    }
    if (p.udp_encap) return hooks_.send_udp && hooks_.send_udp(p.local, p.remote, esp);
    return s.fd() >= 0 && s.send(p.local.address, p.remote.address, esp);
}

void DataPlane::inbound(const Endpoint& local, const Endpoint& remote, ipsec::PacketBuffer& pkt, Time now) {
    ++counters_.esp_packets_in;
    counters_.esp_bytes_in += pkt.size();
    auto spi = ipsec::esp::peek_spi(pkt.view());
    if (!spi || pkt.size() < 8) return counters_.drop(Drop::malformed);
    ipsec::Sa* sa = sad_.find_inbound(ipsec::Protocol::esp, *spi);
    if (sa == nullptr) {
        counters_.drop(Drop::unknown_spi);
        if (counters_.drops[static_cast<std::size_t>(Drop::unknown_spi)] % 1000 == 1)
            log(LogLevel::debug, "ESP with unknown SPI from " + remote.to_string() + " to " + local.to_string());
        return;
    }
    const ipsec::PacketResult r = ipsec::esp::open(*sa, pkt, now);
    if (!r.events.empty()) note_events(*sa, r.events);
    if (!r.ok()) return counters_.drop(r.status);
    deliver(pkt);
}

void DataPlane::deliver(ipsec::PacketBuffer& pkt) {
    if (rx_batching_ && rx_coalescer_) {
        // Held (copied) until end_rx_batch(): the receive buffer is reused.
        if (!rx_coalescer_->add(pkt.view())) {
            end_rx_batch();
            rx_batching_ = true;
            if (!rx_coalescer_->add(pkt.view())) return counters_.drop(Drop::too_big);
        }
    } else if (!queue_for(pkt.view()).write(pkt.view())) {
        return counters_.drop(Drop::tun_write_failed);
    }
    ++counters_.tun_packets_out;
    counters_.tun_bytes_out += pkt.size();
}

// The coalescer is the loop's alone: its writes need no lock.
void DataPlane::end_rx_batch() {
    rx_batching_ = false;
    if (!rx_coalescer_ || rx_coalescer_->empty()) return;
    std::uint64_t failed = 0;
    rx_coalescer_->flush([&](ByteView item) {
        if (!queue_for(item.subspan(std::min(item.size(), kVnetHeaderSize))).write_with_header(item)) ++failed;
    });
    if (failed == 0) return;
    Lock g(mu_);
    counters_.drops[static_cast<std::size_t>(Drop::tun_write_failed)] += failed;
}

TunDevice& DataPlane::queue_for(ByteView ip) const {
    if (more_queues_.empty() || workers_.empty()) return *tun_;
    // Symmetric in the two directions (XOR of the ends), so both halves of a
    // flow hash alike; addresses and the first 4 bytes after a 20/40-byte
    // header (the ports of TCP and UDP without IPv4 options) are enough.
    std::uint32_t h = 0;
    std::size_t ends = 0, header = 0;
    if (ip.size() >= 20 && (ip[0] >> 4) == 4) ends = 4, header = 20;
    else if (ip.size() >= 40 && (ip[0] >> 4) == 6) ends = 16, header = 40;
    const std::size_t src = header == 20 ? 12 : 8;
    for (std::size_t i = 0; i < ends; i += 4) {
        std::uint32_t a = 0, b = 0;
        std::memcpy(&a, ip.data() + src + i, 4);
        std::memcpy(&b, ip.data() + src + ends + i, 4);
        h ^= a ^ b;
    }
    if (header != 0 && ip.size() >= header + 4) {
        std::uint16_t a = 0, b = 0;
        std::memcpy(&a, ip.data() + header, 2);
        std::memcpy(&b, ip.data() + header + 2, 2);
        h ^= static_cast<std::uint32_t>(a ^ b);
    }
    h *= 0x9E3779B1u;  // the high bits mix every input bit
    const std::size_t n = more_queues_.size() + 1;
    const std::size_t q = (static_cast<std::uint64_t>(h) * n) >> 32;
    return q == 0 ? *tun_ : *more_queues_[q - 1];
}

void DataPlane::acquire(const ipsec::OutboundDecision& d, const ipsec::FlowSelector& f, ByteView packet, Time now) {
    // Forget queues IKE never served.
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (now - it->created < opts_.acquire_expiry) {
            ++it;
            continue;
        }
        counters_.drops[static_cast<std::size_t>(Drop::acquire_expired)] += it->packets.size();
        it = pending_.erase(it);
    }
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [&](const Pending& p) { return p.policy == d.policy && p.selector == d.acquire; });
    if (it == pending_.end()) {
        if (pending_.size() >= opts_.max_acquires) return counters_.drop(Drop::acquire_queue_full);
        pending_.push_back(Pending{d.policy, d.acquire, now - opts_.acquire_retry, now, {}});
        it = std::prev(pending_.end());
    }
    if (it->packets.size() < opts_.acquire_queue) it->packets.emplace_back(packet.begin(), packet.end());
    else counters_.drop(Drop::acquire_queue_full);
    if (now - it->asked < opts_.acquire_retry) return;
    it->asked = now;
    auto trap = std::find_if(traps_.begin(), traps_.end(), [&](const TrapEntry& t) {
        return std::find(t.policies.begin(), t.policies.end(), d.policy) != t.policies.end();
    });
    if (trap == traps_.end() || !hooks_.acquire) return;
    AcquireRequest req{trap->trap.connection, trap->trap.child, {}};
    req.trigger.local = single(f.local, f.protocol_opaque ? 0 : f.protocol, f.local_port, f.ports_opaque);
    req.trigger.remote = single(f.remote, f.protocol_opaque ? 0 : f.protocol, f.remote_port, f.ports_opaque);
    ++counters_.acquires;
    log(LogLevel::info, "ACQUIRE " + trap->trap.connection + "/" + trap->trap.child + " for " + f.local.to_string() +
                            " -> " + f.remote.to_string());
    if (on_loop()) return hooks_.acquire(req);
    acquires_.push_back(std::move(req));
    wake_loop();
}

// After an install: queues whose packets now resolve to an SA are sent.
void DataPlane::flush_pending(Time now) {
    std::vector<Bytes> ready;
    for (auto it = pending_.begin(); it != pending_.end();) {
        auto sel = ipsec::extract_selector(it->packets.empty() ? ByteView{} : ByteView{it->packets.front()});
        bool resolved = !sel || policy_.decide(ipsec::orient(*sel, ipsec::Direction::outbound)).kind !=
                                    ipsec::OutboundDecision::Kind::acquire;
        if (!resolved) {
            ++it;
            continue;
        }
        for (auto& p : it->packets) ready.push_back(std::move(p));
        it = pending_.erase(it);
    }
    for (const Bytes& p : ready) {
        --counters_.tun_packets_in;  // counted once already when read
        counters_.tun_bytes_in -= p.size();
        on_tun_packet(p, now);
    }
}

std::vector<ipsec::Policy::Id> DataPlane::add_policies(const std::vector<ike::TrafficSelectorRange>& local_ts,
                                                       const std::vector<ike::TrafficSelectorRange>& remote_ts,
                                                       ike::IpsecMode mode, const std::string& label, bool front) {
    std::vector<ipsec::Policy::Id> ids;
    for (const auto& l : local_ts) {
        for (const auto& r : remote_ts) {
            if (l.range.first.family() != r.range.first.family()) continue;
            if (l.protocol != 0 && r.protocol != 0 && l.protocol != r.protocol) continue;
            ipsec::Policy p;
            p.local = ipsec::AddressSelector::range_of(l.range.first, l.range.last);
            p.remote = ipsec::AddressSelector::range_of(r.range.first, r.range.last);
            const std::uint8_t proto = l.protocol != 0 ? l.protocol : r.protocol;
            if (proto != 0) p.protocol = ipsec::ProtocolSelector::of(proto);
            p.local_port = port_selector(l.port_first, l.port_last);
            p.remote_port = port_selector(r.port_first, r.port_last);
            p.action = ipsec::Action::protect;
            p.protect.mode = mode == ike::IpsecMode::tunnel ? ipsec::Mode::tunnel : ipsec::Mode::transport;
            p.label = label;
            if (front && spd_.size() > 0) ids.push_back(*spd_.insert_before(spd_.policies().front().id, std::move(p)));
            else ids.push_back(spd_.add(std::move(p)));
        }
    }
    return ids;
}

std::vector<DataPlane::RouteRef> DataPlane::add_routes(const std::vector<ike::TrafficSelectorRange>& local_ts,
                                                       const std::vector<ike::TrafficSelectorRange>& remote_ts,
                                                       ike::IpsecMode mode, const IpAddress& transport_src,
                                                       unsigned mtu) {
    std::vector<RouteRef> out;
    if (!routes_) return out;
    for (const auto& r : remote_ts) {
        IpAddress src;
        if (mode == ike::IpsecMode::transport) {
            src = transport_src;
        } else {
            for (const auto& l : local_ts) {
                if (l.range.first.family() != r.range.first.family()) continue;
                if (auto a = local_address_in(l.range)) {
                    src = *a;
                    break;
                }
            }
        }
        auto prefixes = range_to_prefixes(r.range);
        if (prefixes.empty()) log(LogLevel::warning, "remote selector " + r.range.to_string() + " needs too many routes");
        for (const auto& p : prefixes) {
            if (auto st = routes_->acquire(p, src, mtu); !st)
                log(LogLevel::warning, "route " + p.to_string() + " into " + tun_->name() + ": " + st.error());
            out.push_back(RouteRef{p, src});
        }
    }
    return out;
}

void DataPlane::release_routes(const std::vector<RouteRef>& routes) {
    if (!routes_) return;
    for (const auto& r : routes) routes_->release(r.prefix, r.src);
}

Status DataPlane::install(const ike::InstallChildSa& c, Time now) {
    Lock g(mu_);
    if (c.protocol != wire::ProtocolId::esp) return Error{"the data plane carries ESP only"};
    if (Child* old = find_child(c.spi_in)) erase_child(*old);
    if (draining_.contains(c.spi_in)) erase_draining(c.spi_in);
    auto in = ipsec::Sa::create(sa_params(c, ipsec::Direction::inbound), now, rng_);
    if (!in) return Error{"inbound SA: " + in.error()};
    auto out = ipsec::Sa::create(sa_params(c, ipsec::Direction::outbound), now, rng_);
    if (!out) return Error{"outbound SA: " + out.error()};
    if (!sad_.add(std::move(*in))) return Error{"inbound SPI already in use"};
    if (!sad_.add(std::move(*out), c.spi_in)) {
        sad_.remove(ipsec::Direction::inbound, ipsec::Protocol::esp, c.spi_in);
        return Error{"outbound SPI already in use"};
    }
    Child child{c.ike_sa_id, c.child_id, c.child_name, c.spi_in, c.spi_out, next_seq_++, nullptr, {}, {}};
    child.policies = add_policies(c.local_ts, c.remote_ts, c.mode, c.child_name, true);
    for (ipsec::Policy::Id id : child.policies) {
        const ipsec::Policy* p = spd_.get(id);
        ipsec::SaSelector sel;
        sel.local = ipsec::TrafficSelector{p->local.range, p->protocol.value, p->local_port.first, p->local_port.last};
        sel.remote = ipsec::TrafficSelector{p->remote.range, p->protocol.value, p->remote_port.first, p->remote_port.last};
        policy_.bind(id, sel, c.spi_out, c.spi_in);
    }
    const ipsec::Sa* out_sa = sad_.find(ipsec::Direction::outbound, ipsec::Protocol::esp, c.spi_out, c.spi_in);
    const unsigned mtu = std::min(opts_.tun.mtu, inner_mtu(*out_sa, opts_.path_mtu));
    child.routes = add_routes(c.local_ts, c.remote_ts, c.mode, c.local.address, mtu);
    child.out_sa = out_sa;
    Child& added = children_.emplace(c.spi_in, std::move(child)).first->second;
    by_ike_[c.ike_sa_id].children.push_back(&added);  // the newest seq: stays ascending
    by_out_sa_.emplace(out_sa, &added);
    flush_pending(now);
    enforcement_changed(now);
    return {};
}

void DataPlane::note_events(const ipsec::Sa& sa, ipsec::EventSet events) {
    ++counters_.lifetime_events;
    const Child* c = nullptr;
    if (sa.params().direction == ipsec::Direction::inbound) {
        c = find_child(sa.spi());
    } else if (auto it = by_out_sa_.find(&sa); it != by_out_sa_.end()) {
        c = it->second;
    }
    if (c == nullptr || (!events.any_soft() && !events.any_hard())) return;
    notices_.push_back(LifetimeNotice{c->ike_sa_id, c->child_id, events.any_hard(), events.to_string()});
    if (!on_loop()) wake_loop();
}

DataPlane::Child* DataPlane::find_child(std::uint32_t spi_in) {
    auto it = children_.find(spi_in);
    return it == children_.end() ? nullptr : &it->second;
}

const DataPlane::Child* DataPlane::find_child(std::uint32_t spi_in) const {
    auto it = children_.find(spi_in);
    return it == children_.end() ? nullptr : &it->second;
}

void DataPlane::erase_child(Child& c, bool keep_inbound, bool unlink) {
    policy_.unbind(c.spi_out, c.spi_in);
    for (ipsec::Policy::Id id : c.policies) spd_.remove(id);
    if (!keep_inbound) sad_.remove(ipsec::Direction::inbound, ipsec::Protocol::esp, c.spi_in);
    sad_.remove(ipsec::Direction::outbound, ipsec::Protocol::esp, c.spi_out, c.spi_in);
    release_routes(c.routes);
    by_out_sa_.erase(c.out_sa);
    if (auto m = unlink ? by_ike_.find(c.ike_sa_id) : by_ike_.end(); m != by_ike_.end()) {
        auto& v = m->second.children;
        if (auto it = std::find(v.begin(), v.end(), &c); it != v.end()) v.erase(it);  // not swapped: keeps install order
        if (v.empty() && m->second.draining.empty()) by_ike_.erase(m);
    }
    const std::uint32_t spi_in = c.spi_in;  // the key must not live in the node it erases
    children_.erase(spi_in);
}

void DataPlane::erase_draining(std::uint32_t spi_in, bool unlink) {
    auto it = draining_.find(spi_in);
    if (it == draining_.end()) return;
    sad_.remove(ipsec::Direction::inbound, ipsec::Protocol::esp, spi_in);
    drain_order_.erase({it->second.until, spi_in});
    if (auto m = unlink ? by_ike_.find(it->second.ike_sa_id) : by_ike_.end(); m != by_ike_.end()) {
        auto& v = m->second.draining;
        if (auto d = std::find(v.begin(), v.end(), spi_in); d != v.end()) v.erase(d);
        if (v.empty() && m->second.children.empty()) by_ike_.erase(m);
    }
    draining_.erase(it);
}

bool DataPlane::remove(const ike::DeleteChildSa& d, Time now) {
    Lock g(mu_);
    auto m = by_ike_.find(d.ike_sa_id);
    if (m == by_ike_.end()) return false;
    for (Child* c : m->second.children) {
        bool match = d.spi_in != 0 || d.spi_out != 0 ? c->spi_in == d.spi_in || (d.spi_out != 0 && c->spi_out == d.spi_out)
                                                     : c->child_id == d.child_id;
        if (!match) continue;
        const bool drain = d.rekeyed && opts_.rekey_grace > Duration::zero();
        if (drain) {
            // No entry for this SPI yet: install took any, and only this child could add one.
            const Time until = now + opts_.rekey_grace;
            draining_.emplace(c->spi_in, Draining{c->ike_sa_id, c->spi_in, until});
            drain_order_.emplace(until, c->spi_in);
            m->second.draining.push_back(c->spi_in);
        }
        erase_child(*c, drain);  // returns before the loop sees its changed vector
        enforcement_changed(now);
        return true;
    }
    return false;
}

bool DataPlane::update(const ike::UpdateSaAddresses& u) {
    Lock g(mu_);
    bool any = false;
    if (auto m = by_ike_.find(u.ike_sa_id); m != by_ike_.end())
        for (const Child* c : m->second.children) {
            for (auto [dir, spi] : {std::pair{ipsec::Direction::inbound, c->spi_in}, std::pair{ipsec::Direction::outbound, c->spi_out}})
                if (ipsec::Sa* sa = sad_.find(dir, ipsec::Protocol::esp, spi, c->spi_in)) sa->update_endpoints(u.local, u.remote, u.udp_encap);
            any = true;
        }
    // MOBIKEv2: in the same call, so no packet sees new endpoints with old selectors.
    for (const auto& t : u.transport) move_transport(u.ike_sa_id, t, u.local.address);
    return any;
}

void DataPlane::move_transport(std::uint64_t ike_sa_id, const ike::TransportSelectors& t, const IpAddress& local) {
    Child* found = find_child(t.spi_in);
    if (found == nullptr || found->ike_sa_id != ike_sa_id) return;
    Child& c = *found;
    // SAD: the SA selectors of both directions.
    for (auto [dir, spi] : {std::pair{ipsec::Direction::inbound, c.spi_in}, std::pair{ipsec::Direction::outbound, c.spi_out}})
        if (ipsec::Sa* sa = sad_.find(dir, ipsec::Protocol::esp, spi, c.spi_in)) sa->update_selectors(to_ipsec(t.local_ts), to_ipsec(t.remote_ts));
    // The SA's own PROTECT policies (made from its selectors at install) and
    // every SPD-cache entry pointing at it; traps and other policies stay.
    policy_.unbind(c.spi_out, c.spi_in);
    for (ipsec::Policy::Id id : c.policies) spd_.remove(id);
    c.policies = add_policies(t.local_ts, t.remote_ts, ike::IpsecMode::transport, c.name, true);
    for (ipsec::Policy::Id id : c.policies) {
        const ipsec::Policy* p = spd_.get(id);
        ipsec::SaSelector sel;
        sel.local = ipsec::TrafficSelector{p->local.range, p->protocol.value, p->local_port.first, p->local_port.last};
        sel.remote = ipsec::TrafficSelector{p->remote.range, p->protocol.value, p->remote_port.first, p->remote_port.last};
        policy_.bind(id, sel, c.spi_out, c.spi_in);
    }
    // Routes into the TUN for the peer's (new) address, new ones before the old go.
    if (const ipsec::Sa* out_sa = sad_.find(ipsec::Direction::outbound, ipsec::Protocol::esp, c.spi_out, c.spi_in)) {
        const unsigned mtu = std::min(opts_.tun.mtu, inner_mtu(*out_sa, opts_.path_mtu));
        auto routes = add_routes(t.local_ts, t.remote_ts, ike::IpsecMode::transport, local, mtu);
        release_routes(c.routes);
        c.routes = std::move(routes);
    }
    log(LogLevel::info, "CHILD_SA " + c.name + " (transport) moved: " + std::to_string(c.policies.size()) + " policies");
}

void DataPlane::enforcement_changed(Time now) {
    Lock g(mu_);
    last_now_ = std::max(last_now_, now);
    if (!enforcer_ || enforce_dirty_) return;
    enforce_dirty_ = true;
    enforce_due_ = std::max(now + kEnforceDelay, enforce_last_ + 10 * enforce_cost_);
}

std::optional<Time> DataPlane::next_deadline() const {
    Lock g(mu_);
    std::optional<Time> t;
    if (enforce_dirty_) t = enforce_due_;
    // A run of nft has no fd to wake the loop when it ends.
    if (enforcer_ && enforcer_->busy() && (!t || enforce_check_ < *t)) t = enforce_check_;
    if (!drain_order_.empty() && (!t || drain_order_.begin()->first < *t)) t = drain_order_.begin()->first;
    return t;
}

void DataPlane::poll(Time now) {
    Lock g(mu_);
    last_now_ = std::max(last_now_, now);
    if (enforcer_) {
        if (auto st = enforcer_->poll()) {
            enforce_cost_ = std::chrono::duration_cast<Duration>(enforcer_->last_run_time());
            enforcement_result(*st);
        }
        if (enforce_dirty_ && now >= enforce_due_) {
            enforce_dirty_ = false;
            enforce_last_ = now;
            // Queued behind a run in flight if there is one: the latest SPD wins.
            if (auto st = enforcer_->apply_async(enforced_policies()); !st) enforcement_result(st);
        }
        enforce_check_ = now + kEnforcePoll;
    }
    while (!drain_order_.empty() && drain_order_.begin()->first <= now) erase_draining(drain_order_.begin()->second);
}

std::size_t DataPlane::remove_ike_sa(std::uint64_t ike_sa_id) {
    Lock g(mu_);
    std::size_t n = 0;
    // Taken out whole, so no erase below searches its member lists.
    if (auto node = by_ike_.extract(ike_sa_id)) {
        for (std::uint32_t spi : node.mapped().draining) erase_draining(spi, false);
        const auto& kids = node.mapped().children;
        n = kids.size();
        for (auto it = kids.rbegin(); it != kids.rend(); ++it) erase_child(**it, false, false);  // newest first, as always
    }
    // After the routes: the kernel would flush routes whose source goes first.
    for (auto it = virtual_ips_.begin(); it != virtual_ips_.end();) {
        if (it->first != ike_sa_id) {
            ++it;
            continue;
        }
        const IpAddress a = it->second;
        it = virtual_ips_.erase(it);
        const bool shared = std::any_of(virtual_ips_.begin(), virtual_ips_.end(), [&](const auto& v) { return v.second == a; });
        if (shared || !netlink_) continue;
        if (auto st = netlink_->address(false, tun_->ifindex(), a); !st)
            log(LogLevel::warning, "virtual IP " + a.to_string() + " off " + tun_->name() + ": " + st.error());
        else
            log(LogLevel::info, "virtual IP " + a.to_string() + " removed from " + tun_->name());
    }
    if (n > 0) enforcement_changed(last_now_);
    return n;
}

Status DataPlane::add_virtual_ip(std::uint64_t ike_sa_id, const IpAddress& a) {
    Lock g(mu_);
    if (std::find(virtual_ips_.begin(), virtual_ips_.end(), std::pair{ike_sa_id, a}) != virtual_ips_.end()) return {};
    virtual_ips_.emplace_back(ike_sa_id, a);
    if (!netlink_) return {};
    if (auto st = netlink_->address(true, tun_->ifindex(), a); !st) return st;
    log(LogLevel::info, "virtual IP " + a.to_string() + " on " + tun_->name());
    return {};
}

void DataPlane::move_virtual_ips(std::uint64_t from_ike_sa_id, std::uint64_t to_ike_sa_id) {
    Lock g(mu_);
    for (auto& v : virtual_ips_)
        if (v.first == from_ike_sa_id) v.first = to_ike_sa_id;
}

void DataPlane::move_ike_sa(std::uint64_t from_ike_sa_id, std::uint64_t to_ike_sa_id) {
    Lock g(mu_);
    if (auto node = from_ike_sa_id != to_ike_sa_id ? by_ike_.extract(from_ike_sa_id) : decltype(by_ike_)::node_type{}) {
        IkeSaMembers& from = node.mapped();
        for (Child* c : from.children) c->ike_sa_id = to_ike_sa_id;
        for (std::uint32_t spi : from.draining) draining_.at(spi).ike_sa_id = to_ike_sa_id;
        IkeSaMembers& to = by_ike_[to_ike_sa_id];
        const auto mid = to.children.insert(to.children.end(), from.children.begin(), from.children.end());
        std::inplace_merge(to.children.begin(), mid, to.children.end(), [](const Child* a, const Child* b) { return a->seq < b->seq; });
        to.draining.insert(to.draining.end(), from.draining.begin(), from.draining.end());
    }
    move_virtual_ips(from_ike_sa_id, to_ike_sa_id);
}

std::vector<IpAddress> DataPlane::virtual_ips() const {
    Lock g(mu_);
    std::vector<IpAddress> out;
    for (const auto& v : virtual_ips_)
        if (std::find(out.begin(), out.end(), v.second) == out.end()) out.push_back(v.second);
    return out;
}

void DataPlane::set_traps(const std::vector<Trap>& traps) {
    Lock g(mu_);
    for (const TrapEntry& t : traps_) {
        for (ipsec::Policy::Id id : t.policies) spd_.remove(id);
        release_routes(t.routes);
    }
    traps_.clear();
    pending_.clear();
    for (const Trap& t : traps) {
        TrapEntry e{t, {}, {}};
        e.policies = add_policies(t.local_ts, t.remote_ts, t.mode, t.connection + "/" + t.child, false);
        IpAddress src;
        if (t.mode == ike::IpsecMode::transport && !t.local_ts.empty()) src = t.local_ts.front().range.first;
        e.routes = add_routes(t.local_ts, t.remote_ts, t.mode, src, 0);
        traps_.push_back(std::move(e));
    }
    if (!discard_ids_.empty()) readd_discards();
    sync_enforcement();
}

bool DataPlane::too_big(TunDevice& tun, const ipsec::Sa& sa, ByteView packet, Time now) {
    const unsigned mtu = std::min(opts_.tun.mtu, inner_mtu(sa, opts_.path_mtu));
    if (mtu_verdict(packet, mtu, opts_.df) != MtuVerdict::icmp) return false;
    if (now - icmp_window_ >= std::chrono::seconds(1)) {
        icmp_window_ = now;
        icmp_sent_ = 0;
    }
    if (icmp_sent_ >= opts_.icmp_rate) return true;
    const std::size_t n = build_too_big(packet, mtu, icmp_buf_);
    if (n == 0) return true;  // too big, but no ICMP may be sent about it (e.g. an ICMP error)
    ++icmp_sent_;
    if (tun.write({icmp_buf_.data(), n})) {
        ++counters_.tun_packets_out;
        counters_.tun_bytes_out += n;
    } else {
        counters_.drop(Drop::tun_write_failed);
    }
    return true;
}

namespace {

// One SPD entry as nftables matches (ANY addresses: both families).
void to_enforced(const ipsec::Policy& p, std::vector<EnforcedPolicy>& out) {
    EnforcedPolicy e;
    e.action = p.action == ipsec::Action::protect ? EnforcedPolicy::Action::protect : EnforcedPolicy::Action::discard;
    e.protocol = p.protocol.kind == ipsec::ProtocolSelector::Kind::value ? p.protocol.value : 0;
    if (p.local_port.kind == ipsec::PortSelector::Kind::range)
        e.local_port_first = p.local_port.first, e.local_port_last = p.local_port.last;
    if (p.remote_port.kind == ipsec::PortSelector::Kind::range)
        e.remote_port_first = p.remote_port.first, e.remote_port_last = p.remote_port.last;
    e.label = p.label;
    for (auto f : {IpAddress::Family::v4, IpAddress::Family::v6}) {
        if (!p.local.any && p.local.range.first.family() != f) continue;
        if (!p.remote.any && p.remote.range.first.family() != f) continue;
        e.local = p.local.any ? AddressRange::any(f) : p.local.range;
        e.remote = p.remote.any ? AddressRange::any(f) : p.remote.range;
        out.push_back(e);
    }
}

}  // namespace

void DataPlane::set_configured_policies(std::vector<EnforcedPolicy> policies) {
    Lock g(mu_);
    configured_ = std::move(policies);
    readd_discards();
    sync_enforcement();
}

// The configured DISCARD entries go (back) to the end of the SPD, behind traps.
void DataPlane::readd_discards() {
    for (ipsec::Policy::Id id : discard_ids_) spd_.remove(id);
    discard_ids_.clear();
    for (const auto& e : configured_) {
        if (e.action != EnforcedPolicy::Action::discard) continue;
        ipsec::Policy p;
        p.local = ipsec::AddressSelector::range_of(e.local.first, e.local.last);
        p.remote = ipsec::AddressSelector::range_of(e.remote.first, e.remote.last);
        if (e.protocol != 0) p.protocol = ipsec::ProtocolSelector::of(e.protocol);
        p.local_port = port_selector(e.local_port_first, e.local_port_last);
        p.remote_port = port_selector(e.remote_port_first, e.remote_port_last);
        p.action = ipsec::Action::discard;
        p.label = e.label;
        discard_ids_.push_back(spd_.add(std::move(p)));
    }
}

void DataPlane::sync_enforcement() {
    Lock g(mu_);
    enforce_dirty_ = false;
    if (!enforcer_) return;
    enforcement_result(enforcer_->apply(enforced_policies()));
}

std::vector<EnforcedPolicy> DataPlane::enforced_policies() const {
    std::vector<EnforcedPolicy> v;
    for (const ipsec::Policy& p : spd_.policies())
        if (p.action != ipsec::Action::bypass) to_enforced(p, v);
    // Configured PROTECT selectors not standing in the SPD (no SA, no trap): last,
    // so every SPD entry keeps its order.
    for (const auto& e : configured_)
        if (e.action == EnforcedPolicy::Action::protect && std::find(v.begin(), v.end(), e) == v.end()) v.push_back(e);
    return v;
}

void DataPlane::enforcement_result(const Status& st) {
    if (st) {
        enforce_error_.clear();
        return;
    }
    if (st.error() != enforce_error_) log(LogLevel::error, "nftables enforcement table: " + st.error());
    enforce_error_ = st.error();
}

// Sealing adds the outer header (tunnel), UDP (encapsulation), SPI + sequence,
// the IV, padding of payload + 2 trailer bytes to the block size, and the ICV.
unsigned DataPlane::inner_mtu(const ipsec::Sa& sa, unsigned path_mtu) {
    const bool transport = sa.params().mode == ipsec::Mode::transport;
    const std::size_t ip_hdr = sa.params().remote.address.is_v4() ? ipsec::kIpv4HeaderSize : ipsec::kIpv6HeaderSize;
    const std::size_t fixed = ipsec::esp::headroom_needed(sa) + (transport ? ip_hdr : 0) + sa.icv_size();
    const std::size_t block = std::max<std::size_t>(sa.block_size(), 4);
    if (path_mtu < fixed + block + 576) return 576;
    const std::size_t body = (path_mtu - fixed) / block * block;  // payload + pad + 2
    return static_cast<unsigned>(body - 2 + (transport ? ip_hdr : 0));
}

Counters DataPlane::counters() const {
    Lock g(mu_);
    return counters_;
}

std::size_t DataPlane::child_sa_count() const {
    Lock g(mu_);
    return children_.size();
}

bool DataPlane::enforcing() const {
    Lock g(mu_);
    return enforcer_ && enforcer_->installed();
}

std::vector<LifetimeNotice> DataPlane::take_lifetime_notices() {
    Lock g(mu_);
    return std::exchange(notices_, {});
}

Time DataPlane::last_inbound(std::uint64_t ike_sa_id) const {
    Lock g(mu_);
    Time last{};
    if (auto m = by_ike_.find(ike_sa_id); m != by_ike_.end())
        for (const Child* c : m->second.children)
            if (const ipsec::Sa* in = sad_.find(ipsec::Direction::inbound, ipsec::Protocol::esp, c->spi_in))
                last = std::max(last, in->counters().last_packet);
    return last;
}

std::optional<ChildTraffic> DataPlane::traffic(std::uint32_t spi_in) const {
    Lock g(mu_);
    const Child* it = find_child(spi_in);
    if (it == nullptr) return std::nullopt;
    ChildTraffic t;
    if (const ipsec::Sa* in = sad_.find(ipsec::Direction::inbound, ipsec::Protocol::esp, it->spi_in)) {
        t.packets_in = in->counters().packets;
        t.bytes_in = in->counters().bytes;
        t.drops_in = drop_total(in->counters());
    }
    if (const ipsec::Sa* out = sad_.find(ipsec::Direction::outbound, ipsec::Protocol::esp, it->spi_out, it->spi_in)) {
        t.packets_out = out->counters().packets;
        t.bytes_out = out->counters().bytes;
        t.drops_out = drop_total(out->counters());
    }
    return t;
}

}  // namespace mobiked::dataplane
