#include "daemon/daemon.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <type_traits>

#include "crypto/cipher.hpp"
#include "daemon/control_server.hpp"
#include "daemon/dpd.hpp"
#include "daemon/esp_export.hpp"
#include "daemon/log.hpp"

namespace mobiked::daemon {

namespace {
constexpr int kMaxBatchesPerWake = 4;  // x RecvBatch::kSlots datagrams, then other sources get a turn
constexpr Duration kShutdownGrace = std::chrono::seconds(2);

Bytes with_marker(ByteView data) {
    Bytes out(4, 0);
    append(out, data);
    return out;
}
}  // namespace

Time monotonic_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

Daemon::Daemon(std::string config_path, LoadedConfig config, std::unique_ptr<CredentialLoader> creds)
    : config_path_(std::move(config_path)), config_(std::move(config)), creds_(std::move(creds)),
      random_(crypto::make_system_random()) {
    engine_ = std::make_unique<ike::Engine>(config_.ike, ike::EngineEnvironment{random_.get(), engine_log_sink()});
}

Daemon::~Daemon() {
    control_.reset();
    // Its workers send through udp_ with source_pins_, which go after it in
    // member order: they must stop first.
    dataplane_.reset();
    for (int fd : {timer_fd_, signal_fd_, epoll_fd_})
        if (fd >= 0) ::close(fd);
}

Status Daemon::init() {
    started_ = monotonic_now();
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&mask, s);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    signal_fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (epoll_fd_ < 0 || timer_fd_ < 0 || signal_fd_ < 0) return Error{std::string("epoll/timerfd/signalfd: ") + std::strerror(errno)};
    std::vector<std::string> warnings;
    if (auto st = udp_.open(config_.daemon.ike_port, config_.daemon.natt_port, warnings); !st) return st;
    for (const auto& w : warnings) log("net").warn("{}", w);
    // Before any data-plane worker sends through these sockets.
    udp_.set_source_pins(&source_pins_);
    start_dataplane();
    start_address_monitor();
    control_ = std::make_unique<ControlServer>(epoll_fd_, [this](std::uint64_t c, std::string_view l) { on_request(c, l); });
    if (auto st = control_->open(config_.daemon.control_socket); !st) return st;
    if (auto st = start_metrics(); !st) return st;
    std::vector<int> fds = udp_.fds();
    if (dataplane_)
        for (int fd : dataplane_->fds()) fds.push_back(fd);
    if (addresses_) fds.push_back(addresses_->fd());
    fds.push_back(timer_fd_);
    fds.push_back(signal_fd_);
    for (int fd : fds) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    }
    log("dmn").info("mobiked {} listening on UDP {} and {}, control socket {}", kVersion, config_.daemon.ike_port,
                    config_.daemon.natt_port, config_.daemon.control_socket);
    start_connections();
    return {};
}

int Daemon::run() {
    epoll_event events[32];
    for (;;) {
        int n = ::epoll_wait(epoll_fd_, events, 32, epoll_timeout_ms());
        if (n < 0 && errno != EINTR) {
            log("dmn").error("epoll_wait: {}", std::strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; ++i) {
            if (events[i].data.fd == signal_fd_) {
                if (on_signal()) {
                    shutdown();
                    return 0;
                }
                continue;
            }
            dispatch(events[i].data.fd, events[i].events);
        }
        expire_pending();
    }
}

void Daemon::dispatch(int fd, std::uint32_t events) {
    if (fd == timer_fd_) return on_timer();
    if (addresses_ && fd == addresses_->fd()) return on_address_changes();
    if (control_ && control_->owns(fd)) return control_->on_ready(fd, events);
    if (metrics_server_ && metrics_server_->owns(fd)) return metrics_server_->on_ready(fd, events, monotonic_now());
    if (dataplane_ && dataplane_->owns(fd)) {
        dataplane_->on_readable(fd, monotonic_now());
        return on_lifetime_notices();
    }
    on_udp(fd);
}

void Daemon::on_udp(int fd) {
    bool natt = udp_.is_natt(fd);
    if (!rx_) rx_ = std::make_unique<RecvBatch>();
    for (int round = 0; round < kMaxBatchesPerWake; ++round) {
        std::string err;
        std::size_t n = udp_.receive_batch(fd, *rx_, err);
        if (n == 0) {
            if (!err.empty()) {
                ++counters_.dropped;
                log("net").debug("{}", err);
            }
            return;
        }
        if (natt && dataplane_) dataplane_->begin_rx_batch();
        for (std::size_t i = 0; i < n; ++i) on_slot(natt, i);
        if (natt && dataplane_) dataplane_->end_rx_batch();
        if (natt) on_lifetime_notices();
        if (n < RecvBatch::kSlots) return;
    }
}

// Volume limits the data plane counted: soft -> rekey, hard -> delete.
void Daemon::on_lifetime_notices() {
    if (!dataplane_) return;
    auto notices = dataplane_->take_lifetime_notices();
    if (notices.empty()) return;
    ike::Output out;
    Time now = monotonic_now();
    for (const auto& n : notices) {
        log("dp").info("CHILD_SA {}/{}: {} lifetime reached ({}), {}", n.ike_sa_id, n.child_id, n.hard ? "hard" : "soft",
                       n.events, n.hard ? "deleting" : "rekeying");
        auto st = n.hard ? engine_->terminate_child(n.ike_sa_id, n.child_id, now, out)
                         : engine_->rekey_child(n.ike_sa_id, n.child_id, now, out);
        if (!st) log("dp").warn("CHILD_SA {}/{}: {}", n.ike_sa_id, n.child_id, st.error());
    }
    process(out);
}

void Daemon::on_slot(bool natt, std::size_t slot) {
    const RecvBatch::Entry& e = rx_->entries[slot];
    if (!e.valid) {
        ++counters_.dropped;
        log("net").debug("oversized datagram or no pktinfo from {}", e.remote.to_string());
        return;
    }
    // UDP_GRO: datagrams of one size back to back, each handled on its own.
    // Each one's buffer ends where it ends, so in-place decapsulation can use
    // the bytes in front (already handled) but never the next datagram's.
    const std::size_t step = e.segment != 0 ? e.segment : e.length;
    for (std::size_t off = 0; off < e.length; off += step)
        on_datagram(natt, slot, off, std::min(step, e.length - off));
}

void Daemon::on_datagram(bool natt, std::size_t slot, std::size_t offset, std::size_t length) {
    const RecvBatch::Entry& e = rx_->entries[slot];
    ++counters_.in;
    ByteView data = rx_->data(slot).subspan(offset, length);
    if (natt) {
        switch (classify_natt(data)) {
            case NattPayload::keepalive: return;
            case NattPayload::esp:
                if (dataplane_) {
                    const std::size_t start = RecvBatch::kHeadroom + offset;
                    ipsec::PacketBuffer pkt(rx_->slot(slot).first(start + length), start, length);
                    dataplane_->on_udp_esp(e.local, e.remote, pkt, monotonic_now());
                } else {
                    ++counters_.esp_dropped;
                }
                return;
            case NattPayload::invalid: ++counters_.dropped; return;
            case NattPayload::ike: data = data.subspan(4); break;
        }
    }
    ike_messages_.count(IkeMessageCounters::kReceived, data);
    ike::Output out;
    engine_->on_datagram(ike::Datagram{e.local, e.remote, Bytes(data.begin(), data.end())}, monotonic_now(), out);
    process(out);
}

void Daemon::on_timer() {
    std::uint64_t expirations = 0;
    [[maybe_unused]] auto r = ::read(timer_fd_, &expirations, sizeof expirations);
    ike::Output out;
    Time now = monotonic_now();
    if (keepalive_due_ && now >= *keepalive_due_) send_keepalives(now);
    if (dataplane_) dataplane_->poll(now);
    refresh_path_liveness(now);
    engine_->on_timer(now, out);
    process(out);
    if (auto at = paths_.recheck_at(); at && now >= *at) evaluate_paths(now);
}

// RFC 3948 §4: a host behind a NAT sends a one-byte 0xFF datagram to the
// peer's NAT-T port so the mapping outlives idle periods. Sent on a fixed
// period whether or not ESP flowed, which keeps this out of the packet path.
void Daemon::send_keepalives(Time now) {
    keepalive_due_.reset();
    if (config_.daemon.nat_keepalive == Duration::zero()) return;
    static constexpr std::uint8_t kKeepalive[1] = {0xff};
    for (const auto& sa : engine_->list_sas()) {
        if (sa.state != ike::IkeState::established || !sa.nat_local) continue;
        if (sa.local.port != config_.daemon.natt_port) continue;
        if (udp_.send(sa.local, sa.remote, ByteView{kKeepalive, 1})) ++counters_.keepalives;
    }
    keepalive_due_ = now + config_.daemon.nat_keepalive;
}

bool Daemon::on_signal() {
    signalfd_siginfo si{};
    while (::read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (si.ssi_signo == SIGHUP) {
            if (auto st = reload(); !st) log("cfg").error("reload failed: {}", st.error());
            continue;
        }
        log("dmn").info("signal {} received, shutting down", si.ssi_signo);
        return true;
    }
    return false;
}

void Daemon::process(ike::Output& out) {
    for (const auto& d : out.datagrams) send(d);
    // Virtual IPs go on the TUN before the CHILD_SAs install their routes, so
    // the routes take them as source.
    for (const auto& e : out.events) on_virtual_ip_event(e);
    for (const auto& c : out.commands) apply(c);
    for (const auto& e : out.events) on_event(e);
    arm_timer();
}

void Daemon::send(const ike::Datagram& d) {
    Status st = needs_marker(d.local, d.remote, config_.daemon.natt_port) ? udp_.send(d.local, d.remote, with_marker(d.data))
                                                                           : udp_.send(d.local, d.remote, d.data);
    if (st) {
        ++counters_.out;
        ike_messages_.count(IkeMessageCounters::kSent, d.data);
        return;
    }
    ++counters_.dropped;
    log("net").warn("{}", st.error());
}

void Daemon::apply(const ike::SaCommand& c) {
    Time now = monotonic_now();
    key_archive_.before_apply(c, sas_, now);
    bool known = sas_.apply(c, now);
    if (dataplane_) {
        std::visit(
            [&](const auto& cmd) {
                using T = std::decay_t<decltype(cmd)>;
                if constexpr (std::is_same_v<T, ike::InstallChildSa>) {
                    if (auto st = dataplane_->install(cmd, now); !st)
                        log("dp").error("CHILD_SA {} (SPI {}) not installed in the data plane: {}", cmd.child_name,
                                        spi32_hex(cmd.spi_in), st.error());
                } else if constexpr (std::is_same_v<T, ike::DeleteChildSa>) {
                    dataplane_->remove(cmd, now);
                } else {
                    dataplane_->update(cmd);
                    // MOBIKEv2 transport moves change selectors: the table
                    // follows, coalesced, not inside the move.
                    if (!cmd.transport.empty()) dataplane_->enforcement_changed(now);
                }
            },
            c);
    }
    std::visit(
        [&](const auto& cmd) {
            using T = std::decay_t<decltype(cmd)>;
            if constexpr (std::is_same_v<T, ike::InstallChildSa>)
                log("dmn").info("CHILD_SA {} installed: SPIs {} in / {} out, {} -> {}", cmd.child_name, spi32_hex(cmd.spi_in),
                                spi32_hex(cmd.spi_out), cmd.local.to_string(), cmd.remote.to_string());
            else if constexpr (std::is_same_v<T, ike::DeleteChildSa>)
                log("dmn").info("CHILD_SA {}/{} removed (SPI {}){}", cmd.ike_sa_id, cmd.child_id, spi32_hex(cmd.spi_in),
                                known ? "" : " - was not installed");
            else
                log("dmn").info("IKE SA {}: CHILD_SAs now {} -> {}{}", cmd.ike_sa_id, cmd.local.to_string(),
                                cmd.remote.to_string(), cmd.udp_encap ? " (UDP-encapsulated)" : "");
        },
        c);
}

void Daemon::on_event(const ike::Event& e) {
    log("dmn").info("{} {}[{}]{}{}", ike::event_kind_name(e.kind), e.connection, e.ike_sa_id, e.detail.empty() ? "" : ": ",
                    e.detail);
    using K = ike::Event::Kind;
    track_path_event(e);
    observe_event(e);
    if (e.kind == K::ike_rekeyed) {
        std::uint64_t old_id = 0;
        auto [p, ec] = std::from_chars(e.detail.data(), e.detail.data() + e.detail.size(), old_id);
        if (ec == std::errc{}) sas_.move_ike_sa(old_id, e.ike_sa_id);  // the data plane's in on_virtual_ip_event
    }
    if (e.kind == K::ike_deleted || e.kind == K::ike_failed) {
        key_archive_.before_remove_ike_sa(e.ike_sa_id, sas_, monotonic_now());
        sas_.remove_ike_sa(e.ike_sa_id);
        if (dataplane_) dataplane_->remove_ike_sa(e.ike_sa_id);
        on_dead_peer(e);
    }
    auto it = pending_.find(e.ike_sa_id);
    if (it == pending_.end()) return;
    if (e.kind == K::child_failed) it->second.warnings.push_back("CHILD_SA failed: " + e.detail);
    if (e.kind == K::ike_established) {
        if (const auto sa = engine_->sa_info(e.ike_sa_id))
            control_->reply(it->second.client, response_initiated(*sa, monotonic_now(), it->second.warnings));
        else
            control_->reply(it->second.client, response_error("IKE SA established but already gone"));
        pending_.erase(it);
    } else if (e.kind == K::ike_failed || e.kind == K::ike_deleted) {
        control_->reply(it->second.client, response_error("IKE SA " + std::string(ike::event_kind_name(e.kind)) +
                                                          (e.detail.empty() ? "" : ": " + e.detail) +
                                                          "; see the daemon log for the exchange"));
        pending_.erase(it);
    }
}

// Client side of the Configuration Payload: the inner address lives on the
// TUN while its IKE SA (or that SA's rekeyed successor) does.
void Daemon::on_virtual_ip_event(const ike::Event& e) {
    using K = ike::Event::Kind;
    if (!dataplane_) return;
    if (e.kind == K::ike_rekeyed) {
        std::uint64_t old_id = 0;
        auto [p, ec] = std::from_chars(e.detail.data(), e.detail.data() + e.detail.size(), old_id);
        if (ec == std::errc{}) dataplane_->move_ike_sa(old_id, e.ike_sa_id);
        return;
    }
    if (e.kind != K::virtual_ip) return;
    auto a = IpAddress::parse(e.detail);
    if (!a) return log("dp").warn("IKE SA {}: virtual IP '{}' is no address", e.ike_sa_id, e.detail);
    if (auto st = dataplane_->add_virtual_ip(e.ike_sa_id, *a); !st)
        log("dp").error("IKE SA {}: virtual IP {} not on {}: {}", e.ike_sa_id, a->to_string(), dataplane_->tun_name(), st.error());
}

void Daemon::arm_timer() {
    itimerspec its{};
    auto deadline = engine_->next_deadline();
    // NAT keepalives tick while any IKE SA exists (send_keepalives picks those behind a NAT).
    if (engine_->ike_sa_count() == 0 || config_.daemon.nat_keepalive == Duration::zero()) keepalive_due_.reset();
    else if (!keepalive_due_) keepalive_due_ = monotonic_now() + config_.daemon.nat_keepalive;
    if (keepalive_due_ && (!deadline || *keepalive_due_ < *deadline)) deadline = keepalive_due_;
    if (auto dp = dataplane_ ? dataplane_->next_deadline() : std::nullopt; dp && (!deadline || *dp < *deadline))
        deadline = dp;
    if (auto pm = paths_.recheck_at(); pm && (!deadline || *pm < *deadline)) deadline = pm;
    if (deadline) {
        // 0 would disarm; a past deadline fires at once, as on_timer() expects.
        auto ns = std::max<std::int64_t>(deadline->count(), 1);
        its.it_value.tv_sec = ns / 1'000'000'000;
        its.it_value.tv_nsec = ns % 1'000'000'000;
    }
    ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &its, nullptr);
}

int Daemon::epoll_timeout_ms() const {
    if (pending_.empty()) return -1;
    Time next = std::min_element(pending_.begin(), pending_.end(), [](const auto& a, const auto& b) {
                    return a.second.deadline < b.second.deadline;
                })->second.deadline;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - monotonic_now()).count() + 1;
    return static_cast<int>(std::clamp<long long>(ms, 0, 60'000));
}

void Daemon::expire_pending() {
    Time now = monotonic_now();
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.deadline > now) {
            ++it;
            continue;
        }
        control_->reply(it->second.client,
                        response_error("timed out waiting for IKE SA " + std::to_string(it->first) +
                                       "; it continues in the background (mobikectl list-sas)"));
        it = pending_.erase(it);
    }
}

// Children with start_action = start come up with their connection: one IKE
// SA per connection, naming the child when only one is marked.
void Daemon::start_connections() {
    for (const auto& c : config_.ike.connections) {
        std::vector<std::string> starts;
        for (const auto& ch : c.children)
            if (ch.start_action == ike::StartAction::start) starts.push_back(ch.name);
        if (starts.empty()) continue;
        auto id = initiate(c.name, starts.size() == 1 ? starts[0] : std::string());
        if (!id) log("cfg").error("cannot start connection {}: {}", c.name, id.error());
        else log("cfg").info("starting connection {} (IKE SA {})", c.name, *id);
    }
}

Result<std::uint64_t> Daemon::initiate(const std::string& conn_name, const std::string& child,
                                       const ike::PacketTrigger* trigger) {
    const auto* conn = engine_->config().find_connection(conn_name);
    if (!conn) return Error{"no connection '" + conn_name + "' (see mobikectl list-conns)"};
    if (!child.empty() && std::none_of(conn->children.begin(), conn->children.end(),
                                       [&](const ike::ChildConfig& c) { return c.name == child; }))
        return Error{"connection '" + conn_name + "' has no child '" + child + "'"};
    if (conn->remote_hosts.empty()) return Error{"connection '" + conn_name + "' has no remote_addrs to initiate to"};
    auto remote_ip = IpAddress::parse(conn->remote_hosts.front());
    if (!remote_ip) return Error{"bad remote address " + conn->remote_hosts.front()};
    Endpoint remote{*remote_ip, conn->remote_port};
    Endpoint local{remote_ip->is_v4() ? IpAddress{} : *IpAddress::parse("::"), conn->local_port};
    auto configured = std::find_if(conn->local_addrs.begin(), conn->local_addrs.end(),
                                   [&](const IpAddress& a) { return a.family() == remote_ip->family(); });
    if (configured != conn->local_addrs.end()) local.address = *configured;
    else if (auto src = route_source(*remote_ip, dataplane_ ? dataplane_->fwmark() : 0)) local.address = *src;
    ike::Output out;
    auto id = engine_->initiate(conn_name, child, local, remote, monotonic_now(), out, trigger);
    process(out);
    return id;
}

// The data plane is optional: without a TUN device (no /dev/net/tun, no
// CAP_NET_ADMIN, or `tun = ""`) the daemon still negotiates SAs.
void Daemon::start_dataplane() {
    if (config_.daemon.tun_name.empty()) return;
    dataplane::DataPlaneOptions o;
    o.tun.name = config_.daemon.tun_name;
    o.tun.mtu = config_.daemon.tun_mtu;
    o.tun.offload = config_.daemon.offload;
    o.workers = config_.daemon.workers;
    if (o.workers == 0) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        const int n = ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
        o.workers = std::clamp(static_cast<unsigned>(n), 1u, DaemonSettings::kMaxAutoWorkers);
    }
    o.enforce = config_.daemon.enforce;
    o.ike_port = config_.daemon.ike_port;
    o.natt_port = config_.daemon.natt_port;
    o.df = config_.daemon.df_bit == "set"     ? dataplane::DfPolicy::set
           : config_.daemon.df_bit == "clear" ? dataplane::DfPolicy::clear
                                              : dataplane::DfPolicy::copy;
    dataplane::DataPlaneHooks hooks;
    hooks.send_udp = [this](const Endpoint& local, const Endpoint& remote, ByteView data) {
        return static_cast<bool>(udp_.send(local, remote, data));
    };
    hooks.send_udp_batch = [this](std::span<const dataplane::OutDatagram> b) { return udp_.send_batch(b); };
    hooks.acquire = [this](const dataplane::AcquireRequest& r) { on_acquire(r); };
    // Workers log too: the logger is looked up here, once, not in log()'s map.
    hooks.log = [&lg = log("dp")](dataplane::LogLevel l, const std::string& m) {
        switch (l) {
            case dataplane::LogLevel::debug: return lg.debug("{}", m);
            case dataplane::LogLevel::info: return lg.info("{}", m);
            case dataplane::LogLevel::warning: return lg.warn("{}", m);
            case dataplane::LogLevel::error: return lg.error("{}", m);
        }
    };
    auto dp = dataplane::DataPlane::create(o, std::move(hooks), random_.get());
    if (!dp) {
        log("dp").warn("no data plane ({}): ESP will be dropped", dp.error());
        return;
    }
    dataplane_ = std::move(*dp);
    dataplane_->set_source_pins(&source_pins_);
    if (!udp_.set_mark(dataplane_->fwmark())) log("dp").warn("SO_MARK on the IKE sockets failed: {}", std::strerror(errno));
    udp_.set_natt_receive_buffer(4 << 20);
    udp_.set_gso(config_.daemon.offload);
    if (config_.daemon.offload) udp_.enable_gro();
    if (auto st = dataplane_->start_workers(); !st) log("dp").warn("data plane on one thread: {}", st.error());
    const crypto::AeadSelection& aead = crypto::aead_selection();
    log("dp").info("data plane on {} (MTU {}, offloads {}, {} thread(s)), AES-GCM by {}: {}", dataplane_->tun_name(),
                   o.tun.mtu, config_.daemon.offload ? "on" : "off", dataplane_->worker_count() + 1,
                   crypto::to_string(aead.aes_gcm), aead.reason);
    load_traps();
}

// start_action = trap: PROTECT policies without SA; "dynamic" selectors
// resolve to the connection's first local/remote address.
void Daemon::load_traps() {
    if (!dataplane_) return;
    std::vector<dataplane::Trap> traps;
    auto resolve = [](const std::vector<ike::TsSpec>& specs, std::optional<IpAddress> self,
                      std::vector<ike::TrafficSelectorRange>& out) {
        for (const auto& t : specs) {
            ike::TrafficSelectorRange r{t.range, t.protocol, t.port_first, t.port_last};
            if (t.dynamic) {
                if (!self) return false;
                r.range = AddressRange{*self, *self};
            }
            out.push_back(r);
        }
        return true;
    };
    for (const auto& c : config_.ike.connections) {
        std::optional<IpAddress> remote;
        if (!c.remote_hosts.empty()) remote = IpAddress::parse(c.remote_hosts.front());
        std::optional<IpAddress> local;
        if (!c.local_addrs.empty()) local = c.local_addrs.front();
        else if (remote) local = route_source(*remote, dataplane_->fwmark());
        for (const auto& ch : c.children) {
            const bool dpd_trap = c.dpd_action == ike::DpdAction::trap && dpd_trapped_.contains(c.name);
            if (ch.start_action != ike::StartAction::trap && !dpd_trap) continue;
            dataplane::Trap t{c.name, ch.name, ch.mode, {}, {}};
            if (!remote || !resolve(ch.local_ts, local, t.local_ts) || !resolve(ch.remote_ts, remote, t.remote_ts)) {
                log("cfg").error("trap {}/{}: needs a concrete remote address (and local for dynamic selectors)", c.name,
                                 ch.name);
                continue;
            }
            traps.push_back(std::move(t));
        }
    }
    dataplane_->set_traps(traps);
    if (!traps.empty()) log("dp").info("{} trap policies installed", traps.size());
    // Enforced while no SA stands for them (RFC 4301 §5.2): every configured
    // child's concrete PROTECT selectors (children with "dynamic" ones are
    // covered once their SA is installed), then the DISCARD entries.
    std::vector<dataplane::EnforcedPolicy> enforced;
    for (const auto& c : config_.ike.connections)
        for (const auto& ch : c.children)
            for (const auto& l : ch.local_ts)
                for (const auto& r : ch.remote_ts) {
                    if (l.dynamic || r.dynamic || l.range.first.family() != r.range.first.family()) continue;
                    if (l.protocol != 0 && r.protocol != 0 && l.protocol != r.protocol) continue;
                    dataplane::EnforcedPolicy e{dataplane::EnforcedPolicy::Action::protect, l.range, r.range,
                                                l.protocol != 0 ? l.protocol : r.protocol, l.port_first, l.port_last,
                                                r.port_first, r.port_last, c.name + "/" + ch.name};
                    enforced.push_back(std::move(e));
                }
    for (const auto& t : config_.daemon.discard)
        enforced.push_back(dataplane::EnforcedPolicy{dataplane::EnforcedPolicy::Action::discard,
                                                     AddressRange::any(t.range.first.family()), t.range, t.protocol, 0,
                                                     65535, t.port_first, t.port_last, "discard " + t.to_string()});
    dataplane_->set_configured_policies(std::move(enforced));
    if (dataplane_->enforcing()) log("dp").info("nftables table {} enforces the SPD outside {}",
                                                dataplane::enforcement_table_name(dataplane_->tun_name()),
                                                dataplane_->tun_name());
}

// dpd_action: the engine has deleted the dead peer's IKE SA; restart
// initiates the connection again, trap leaves its children's trap policies
// in place (from now until the configuration no longer has the connection).
void Daemon::on_dead_peer(const ike::Event& e) {
    auto action = dead_peer_action(e, config_.ike);
    if (!action) return;
    if (*action == ike::DpdAction::restart) {
        auto id = initiate(e.connection, "");
        if (!id) log("dmn").error("dpd_action restart {}: {}", e.connection, id.error());
        else log("dmn").info("dpd_action restart {}: initiating IKE SA {}", e.connection, *id);
        return;
    }
    log("dmn").info("dpd_action trap {}: installing trap policies", e.connection);
    dpd_trapped_.insert(e.connection);
    load_traps();
}

void Daemon::on_acquire(const dataplane::AcquireRequest& r) {
    for (const auto& sa : engine_->list_sas()) {
        if (sa.connection != r.connection || sa.state == ike::IkeState::deleted || sa.state == ike::IkeState::deleting)
            continue;
        if (sa.state != ike::IkeState::established) return;  // being negotiated already
        // An IKE SA is up: the CHILD_SA goes through CREATE_CHILD_SA on it.
        ike::Output out;
        auto st = engine_->create_child(sa.id, r.child, monotonic_now(), out);
        process(out);
        if (!st) log("dp").error("ACQUIRE {}/{}: CREATE_CHILD_SA on IKE SA {}: {}", r.connection, r.child, sa.id, st.error());
        else log("dp").info("ACQUIRE {}/{}: CREATE_CHILD_SA on IKE SA {}", r.connection, r.child, sa.id);
        return;
    }
    auto id = initiate(r.connection, r.child, &r.trigger);
    if (!id) log("dp").error("ACQUIRE {}/{}: {}", r.connection, r.child, id.error());
    else log("dp").info("ACQUIRE {}/{}: initiating IKE SA {}", r.connection, r.child, *id);
}

void Daemon::shutdown() {
    metrics_server_.reset();
    ike::Output out;
    Time now = monotonic_now();
    for (const auto& sa : engine_->list_sas())
        if (sa.state != ike::IkeState::deleted) (void)engine_->terminate_ike(sa.id, now, out);
    process(out);
    // Give the peers' delete responses a moment so both sides agree; the
    // engine drops each SA when answered (or retransmits within the grace).
    Time until = monotonic_now() + kShutdownGrace;
    epoll_event events[32];
    while (engine_->ike_sa_count() > 0 && monotonic_now() < until) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - monotonic_now()).count();
        int n = ::epoll_wait(epoll_fd_, events, 32, static_cast<int>(std::max<long long>(left, 1)));
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == timer_fd_) on_timer();
            else if (fd != signal_fd_ && !(control_ && control_->owns(fd))) on_udp(fd);
        }
    }
    log("dmn").info("stopped ({} IKE SAs left)", engine_->ike_sa_count());
}

}  // namespace mobiked::daemon
