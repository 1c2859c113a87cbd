// bench_handshake: IKEv2 handshake load generator built on the sans-I/O engine.
//
// One process, one ike::Engine with one connection, initiating IKE SAs (PSK,
// aes128gcm16-prfsha256-x25519, one CHILD_SA with ESP aes128gcm16, MOBIKE off)
// from K source addresses (consecutive IPv4 addresses from --source-base, each
// with a non-blocking UDP socket on port 500 and one on 4500) towards one
// responder. An epoll loop keeps at most W handshakes in flight and stops after
// N handshakes finished (established or failed) or after --duration seconds.
//
// Measured:
//  * IKE_SA/s: CHILD_SAs established (event child_established; exactly one per
//    IKE SA) per second, sustained: between the 10th and the 90th percentile of
//    completion times (a single lost datagram otherwise adds a 2 s retransmit
//    timeout to the run's end); the whole-run rate (first IKE_SA_INIT sent to
//    last CHILD_SA established) and the number of retransmitted requests are
//    printed too.
//  * wire latency per handshake: from sending the IKE_SA_INIT request (right
//    after sendto() of the first datagram the engine emits for the SA) to
//    receiving the IKE_AUTH response (recv timestamp of the datagram whose
//    processing yields the ike_established event). It includes the
//    generator's own processing of the IKE_SA_INIT response (x25519, key
//    derivation, AUTH), as any initiator's would. Run with --window 1 for
//    the unloaded latency.
//
// Nothing is deleted during or after the run: the SAs stay on the responder
// until it is stopped (the generator exits without sending DELETE).
//
// --hold (many-tunnels run, bench/handshake/many.sh): after the establishment
// phase and its JSON line the generator keeps its SAs and keeps answering the
// responder until SIGTERM/SIGINT (or --hold-max seconds). On SIGUSR1 it
// rekeys the CHILD_SA of every established IKE SA (CREATE_CHILD_SA with
// REKEY_SA, then the DELETE of the old CHILD_SA; at most --window IKE SAs in
// flight) and prints a second JSON line: rekeyed, rekey_failed, rekey_all_s
// (first CREATE_CHILD_SA sent to the last old CHILD_SA's DELETE answered).
#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/random.hpp"
#include "ike/config.hpp"
#include "ike/engine.hpp"
#include "ike/proposals.hpp"

using namespace mobiked;
using namespace mobiked::ike;

namespace {

struct Options {
    std::string target = "10.64.255.1";
    std::uint16_t port = 500;
    std::string source_base = "10.64.0.1";
    unsigned sources = 64;
    unsigned long count = 1000;
    unsigned window = 128;
    double duration = 30.0;  // hard limit on the run, seconds
    double rate_limit = 0;   // 0 = as fast as the window allows
    bool json = false;
    bool quiet = false;
    std::string psk = "mobiked-bench-psk-0123456789abcdef";
    std::string local_id = "loadgen@bench";
    std::string remote_id = "responder@bench";
    std::string ike_proposal = "aes128gcm16-prfsha256-x25519";
    std::string esp_proposal = "aes128gcm16";
    std::string local_ts = "10.1.0.0/16";
    std::string remote_ts = "10.2.0.0/16";
    double retransmit_s = 2.0;
    std::string label = "responder";
    bool hold = false;
    double hold_max = 600.0;  // seconds in the hold phase at most
};

volatile std::sig_atomic_t g_rekey_requested = 0;
volatile std::sig_atomic_t g_stop_requested = 0;
extern "C" void on_signal(int sig) {
    if (sig == SIGUSR1) g_rekey_requested = 1;
    else g_stop_requested = 1;
}

[[noreturn]] void usage(const char* argv0, int rc) {
    std::fprintf(rc ? stderr : stdout,
                 "usage: %s [--target IP] [--port P] [--count N] [--window W] [--duration S]\n"
                 "          [--sources K] [--source-base IP] [--json] [--quiet] [--label NAME]\n"
                 "          [--psk S] [--id ID] [--remote-id ID] [--ike P] [--esp P]\n"
                 "          [--local-ts TS] [--remote-ts TS] [--retransmit S] [--hold] [--hold-max S]\n"
                 "Initiates N IKE SAs (one CHILD_SA each) from K source addresses, W in flight,\n"
                 "within S seconds at most; prints IKE_SA/s and IKE_SA_INIT->IKE_AUTH latency.\n"
                 "--hold: then keep the SAs until SIGTERM; SIGUSR1 rekeys every CHILD_SA.\n",
                 argv0);
    std::exit(rc);
}

Options parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) usage(argv[0], 2);
            return argv[++i];
        };
        if (a == "--target") o.target = val();
        else if (a == "--port") o.port = static_cast<std::uint16_t>(std::stoul(val()));
        else if (a == "--count") o.count = std::stoul(val());
        else if (a == "--window") o.window = static_cast<unsigned>(std::stoul(val()));
        else if (a == "--duration") o.duration = std::stod(val());
        else if (a == "--sources") o.sources = static_cast<unsigned>(std::stoul(val()));
        else if (a == "--source-base") o.source_base = val();
        else if (a == "--json") o.json = true;
        else if (a == "--quiet") o.quiet = true;
        else if (a == "--label") o.label = val();
        else if (a == "--psk") o.psk = val();
        else if (a == "--id") o.local_id = val();
        else if (a == "--remote-id") o.remote_id = val();
        else if (a == "--ike") o.ike_proposal = val();
        else if (a == "--esp") o.esp_proposal = val();
        else if (a == "--local-ts") o.local_ts = val();
        else if (a == "--remote-ts") o.remote_ts = val();
        else if (a == "--retransmit") o.retransmit_s = std::stod(val());
        else if (a == "--hold") o.hold = true;
        else if (a == "--hold-max") o.hold_max = std::stod(val());
        else if (a == "-h" || a == "--help") usage(argv[0], 0);
        else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            usage(argv[0], 2);
        }
    }
    if (o.window == 0 || o.sources == 0 || o.sources > 4096 || o.count == 0 || o.duration <= 0) usage(argv[0], 2);
    return o;
}

Time now_ns() {
    return std::chrono::duration_cast<Time>(std::chrono::steady_clock::now().time_since_epoch());
}

template <typename T>
T must(Result<T> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "%s: %s\n", what, r.error().c_str());
        std::exit(2);
    }
    return std::move(*r);
}

Config make_config(const Options& o) {
    Config c;
    ConnectionConfig conn;
    conn.name = "bench";
    conn.remote_hosts = {o.target};
    conn.local_port = 500;
    conn.remote_port = o.port;
    conn.ike_proposals = must(parse_proposals({o.ike_proposal}, wire::ProtocolId::ike), "ike proposal");
    conn.local.method = AuthMethod::psk;
    conn.local.id = must(Identity::parse(o.local_id), "local id");
    conn.remote.method = AuthMethod::psk;
    conn.remote.id = must(Identity::parse(o.remote_id), "remote id");
    conn.mobike = false;
    conn.send_certreq = false;
    conn.retransmit.timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o.retransmit_s));
    conn.retransmit.tries = 3;
    ChildConfig child;
    child.name = "net";
    child.local_ts = {must(TsSpec::parse(o.local_ts), "local ts")};
    child.remote_ts = {must(TsSpec::parse(o.remote_ts), "remote ts")};
    child.esp_proposals = must(parse_proposals({o.esp_proposal}, wire::ProtocolId::esp), "esp proposal");
    conn.children.push_back(child);
    c.connections.push_back(conn);
    c.secrets.push_back({{conn.local.id, conn.remote.id}, to_bytes(o.psk)});
    c.cookie_threshold = 1u << 30;
    return c;
}

struct Source {
    IpAddress address;
    int fd500 = -1;
    int fd4500 = -1;
};

int open_socket(const IpAddress& a, std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int buf = 4 << 20;
    // FORCE (root) goes beyond net.core.rmem_max so the generator itself never drops.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0)
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    std::memcpy(&sin.sin_addr, a.bytes().data(), 4);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) < 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double idx = p * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(idx);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

class LoadGen {
public:
    explicit LoadGen(Options o) : opt_(std::move(o)) {}

    int run();

private:
    void open_sockets();
    void flush(Output& out, Time t);
    void handle_events(Output& out, Time recv_time);
    void start_more(Time t);
    void read_socket(int fd, std::uint16_t local_port, const IpAddress& local, Time& t);
    void poll_once(int ep, std::vector<epoll_event>& evs, Time end);
    void hold(int ep);
    void start_rekeys(Time t);

    // hold phase: CHILD_SA rekeys driven by the generator
    bool rekeying_ = false;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> to_rekey_;  // (IKE SA, CHILD_SA)
    std::size_t rekey_next_ = 0;
    std::unordered_map<std::uint64_t, int> rekey_state_;  // IKE SA -> 1 CREATE_CHILD_SA sent, 2 rekeyed (DELETE sent)
    unsigned long rekeyed_ = 0;
    unsigned long rekey_failed_ = 0;

    Options opt_;
    std::unique_ptr<crypto::Random> random_;
    std::unique_ptr<Engine> engine_;
    std::vector<Source> sources_;
    std::unordered_map<int, std::pair<std::size_t, std::uint16_t>> by_fd_;  // fd -> (source, port)
    std::unordered_map<std::uint64_t, Time> started_;  // SA id -> IKE_SA_INIT sent
    Endpoint target_;
    unsigned long initiated_ = 0;
    unsigned long established_ = 0;
    unsigned long failed_ = 0;
    unsigned long in_flight_ = 0;
    unsigned long send_errors_ = 0;
    unsigned long datagrams_out_ = 0;
    unsigned long datagrams_in_ = 0;
    std::size_t next_source_ = 0;
    Time first_sent_{};
    Time last_done_{};
    std::vector<double> wire_ms_;
    std::vector<Time> done_at_;  // completion times of established handshakes, in order
    std::vector<std::string> failure_samples_;
};

void LoadGen::open_sockets() {
    const auto base = IpAddress::parse(opt_.source_base).value_or(IpAddress{});
    if (!base.is_v4() || base.is_unspecified()) {
        std::fprintf(stderr, "--source-base must be an IPv4 address\n");
        std::exit(2);
    }
    std::uint32_t b = 0;
    std::memcpy(&b, base.bytes().data(), 4);
    b = ntohl(b);
    for (unsigned i = 0; i < opt_.sources; ++i) {
        Source s;
        s.address = IpAddress::v4(b + i);
        s.fd500 = open_socket(s.address, 500);
        s.fd4500 = open_socket(s.address, 4500);
        if (s.fd500 < 0 || s.fd4500 < 0) {
            std::fprintf(stderr, "cannot bind %s:500/4500: %s\n", s.address.to_string().c_str(), std::strerror(errno));
            std::exit(2);
        }
        by_fd_[s.fd500] = {sources_.size(), 500};
        by_fd_[s.fd4500] = {sources_.size(), 4500};
        sources_.push_back(s);
    }
}

void LoadGen::flush(Output& out, Time /*t*/) {
    for (auto& dg : out.datagrams) {
        // local is one of our sources; find it (sources are consecutive).
        std::uint32_t a = 0, b0 = 0;
        std::memcpy(&a, dg.local.address.bytes().data(), 4);
        std::memcpy(&b0, sources_[0].address.bytes().data(), 4);
        const std::uint32_t idx = ntohl(a) - ntohl(b0);
        if (idx >= sources_.size()) {
            ++send_errors_;
            continue;
        }
        const bool natt = dg.local.port == 4500 || dg.remote.port == 4500;
        const int fd = dg.local.port == 4500 ? sources_[idx].fd4500 : sources_[idx].fd500;
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(dg.remote.port);
        std::memcpy(&sin.sin_addr, dg.remote.address.bytes().data(), 4);
        ssize_t rc;
        if (natt) {
            static const std::uint8_t marker[4] = {0, 0, 0, 0};
            iovec iov[2] = {{const_cast<std::uint8_t*>(marker), 4}, {dg.data.data(), dg.data.size()}};
            msghdr mh{};
            mh.msg_name = &sin;
            mh.msg_namelen = sizeof sin;
            mh.msg_iov = iov;
            mh.msg_iovlen = 2;
            rc = ::sendmsg(fd, &mh, 0);
        } else {
            rc = ::sendto(fd, dg.data.data(), dg.data.size(), 0, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
        }
        if (rc < 0) ++send_errors_;
        else ++datagrams_out_;
    }
    out.datagrams.clear();
    out.commands.clear();  // CHILD_SAs are not installed on the generator side
}

void LoadGen::handle_events(Output& out, Time recv_time) {
    for (const auto& e : out.events) {
        switch (e.kind) {
            case Event::Kind::ike_established: {
                auto it = started_.find(e.ike_sa_id);
                if (it != started_.end()) wire_ms_.push_back(to_ms(recv_time - it->second));
                break;
            }
            case Event::Kind::child_rekeyed: {
                auto it = rekey_state_.find(e.ike_sa_id);
                if (it != rekey_state_.end()) it->second = 2;
                break;
            }
            case Event::Kind::child_deleted: {
                // the old CHILD_SA's DELETE was answered: this IKE SA's rekey is complete
                auto it = rekey_state_.find(e.ike_sa_id);
                if (it != rekey_state_.end() && it->second == 2) {
                    rekey_state_.erase(it);
                    ++rekeyed_;
                    last_done_ = recv_time;
                }
                break;
            }
            case Event::Kind::child_established: {
                if (started_.erase(e.ike_sa_id)) {
                    ++established_;
                    done_at_.push_back(recv_time);
                    --in_flight_;
                    last_done_ = recv_time;
                }
                break;
            }
            case Event::Kind::ike_failed:
            case Event::Kind::ike_deleted:
            case Event::Kind::child_failed:
                if (rekey_state_.erase(e.ike_sa_id)) {
                    ++rekey_failed_;
                    if (failure_samples_.size() < 10)
                        failure_samples_.push_back("rekey: " + std::string(event_kind_name(e.kind)) + ": " + e.detail);
                }
                if (started_.erase(e.ike_sa_id)) {
                    ++failed_;
                    --in_flight_;
                    last_done_ = recv_time;
                    if (failure_samples_.size() < 5)
                        failure_samples_.push_back(std::string(event_kind_name(e.kind)) + ": " + e.detail);
                }
                break;
            default:
                break;
        }
    }
    out.events.clear();
}

void LoadGen::start_more(Time t) {
    Output out;
    while (in_flight_ < opt_.window && initiated_ < opt_.count) {
        // The first IKE SA carries INITIAL_CONTACT (no other SA with the responder yet), which
        // makes the responder drop every SA with the same identities: with more of them in
        // flight they would replace one another, so the window opens once it is established.
        if (opt_.hold && established_ == 0 && in_flight_ > 0) break;
        const Source& s = sources_[next_source_];
        next_source_ = (next_source_ + 1) % sources_.size();
        auto id = engine_->initiate("bench", "", Endpoint{s.address, 500}, target_, t, out);
        if (!id) {
            std::fprintf(stderr, "initiate: %s\n", id.error().c_str());
            std::exit(2);
        }
        ++initiated_;
        ++in_flight_;
        flush(out, t);
        const Time sent = now_ns();
        if (first_sent_ == Time{}) first_sent_ = sent;
        started_[*id] = sent;
        handle_events(out, sent);
    }
}

int LoadGen::run() {
    random_ = crypto::make_system_random();
    engine_ = std::make_unique<Engine>(make_config(opt_), EngineEnvironment{random_.get(), nullptr});
    target_.address = IpAddress::parse(opt_.target).value_or(IpAddress{});
    target_.port = opt_.port;
    if (target_.address.is_unspecified() || !target_.address.is_v4()) {
        std::fprintf(stderr, "--target must be an IPv4 address\n");
        return 2;
    }
    open_sockets();

    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (const auto& [fd, _] : by_fd_) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }

    const Time t0 = now_ns();
    const Time end = t0 + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(opt_.duration));
    start_more(t0);
    std::vector<epoll_event> evs(256);
    bool timed_out = false;
    // Bounded: every iteration either makes progress or waits; the deadline ends it.
    while (established_ + failed_ < opt_.count) {
        Time t = now_ns();
        if (t >= end) {
            timed_out = true;
            break;
        }
        int timeout_ms = static_cast<int>(std::min<std::int64_t>((end - t).count() / 1000000 + 1, 100));
        if (auto d = engine_->next_deadline()) {
            const auto ms = (*d - t).count() / 1000000;
            timeout_ms = static_cast<int>(std::clamp<std::int64_t>(ms, 0, timeout_ms));
        }
        const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), timeout_ms);
        if (n < 0 && errno != EINTR) {
            std::perror("epoll_wait");
            return 2;
        }
        for (int i = 0; i < n; ++i) {
            const auto& [src, port] = by_fd_[evs[static_cast<std::size_t>(i)].data.fd];
            read_socket(evs[static_cast<std::size_t>(i)].data.fd, port, sources_[src].address, t);
        }
        t = now_ns();
        if (auto d = engine_->next_deadline(); d && *d <= t) {
            Output out;
            engine_->on_timer(t, out);
            flush(out, t);
            handle_events(out, t);
        }
        start_more(now_ns());
    }
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    const double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    const double elapsed = last_done_ > first_sent_ ? std::chrono::duration<double>(last_done_ - first_sent_).count() : 0;
    const double rate_all = elapsed > 0 ? static_cast<double>(established_) / elapsed : 0;
    // Sustained rate: completions between the 10th and the 90th percentile of the run, so a
    // straggler (one lost datagram waits for a 2 s retransmit) does not stretch the run's end.
    double rate = rate_all;
    if (done_at_.size() >= 20) {
        const std::size_t a = done_at_.size() / 10, b = done_at_.size() * 9 / 10;
        const double span = std::chrono::duration<double>(done_at_[b] - done_at_[a]).count();
        if (span > 0) rate = static_cast<double>(b - a) / span;
    }
    const unsigned long retransmits = datagrams_out_ > 2 * initiated_ ? datagrams_out_ - 2 * initiated_ : 0;
    const double p50 = percentile(wire_ms_, 0.5), p90 = percentile(wire_ms_, 0.9), p99 = percentile(wire_ms_, 0.99);
    if (!opt_.quiet) {
        std::printf("%s: %lu/%lu IKE_SAs established (%lu failed%s) in %.3f s from %u sources, window %u\n",
                    opt_.label.c_str(), established_, opt_.count, failed_, timed_out ? ", TIMED OUT" : "", elapsed,
                    opt_.sources, opt_.window);
        std::printf("%s: %.0f IKE_SA/s sustained (10th-90th percentile of completions), %.0f IKE_SA/s over the whole "
                    "run; %lu retransmitted requests\n",
                    opt_.label.c_str(), rate, rate_all, retransmits);
        std::printf("%s: IKE_SA_INIT request -> IKE_AUTH response: median %.3f ms, p90 %.3f ms, "
                    "p99 %.3f ms (n=%zu)\n",
                    opt_.label.c_str(), p50, p90, p99, wire_ms_.size());
        std::printf("%s: datagrams out %lu in %lu, send errors %lu; generator CPU %.2f s\n", opt_.label.c_str(),
                    datagrams_out_, datagrams_in_, send_errors_, cpu_s);
        for (const auto& f : failure_samples_) std::printf("%s: failure: %s\n", opt_.label.c_str(), f.c_str());
    }
    if (opt_.json)
        std::printf("{\"label\":\"%s\",\"established\":%lu,\"failed\":%lu,\"timed_out\":%s,\"elapsed_s\":%.6f,"
                    "\"ike_sa_per_s\":%.1f,\"ike_sa_per_s_whole_run\":%.1f,\"retransmits\":%lu,\"wire_ms_median\":%.4f,\"wire_ms_p90\":%.4f,\"wire_ms_p99\":%.4f,"
                    "\"window\":%u,\"sources\":%u,\"generator_cpu_s\":%.3f}\n",
                    opt_.label.c_str(), established_, failed_, timed_out ? "true" : "false", elapsed, rate, rate_all, retransmits, p50, p90,
                    p99, opt_.window, opt_.sources, cpu_s);
    std::fflush(stdout);
    if (opt_.hold) hold(ep);
    ::close(ep);
    return established_ == opt_.count ? 0 : 1;
}

// One bounded round of the event loop: datagrams, due timers.
void LoadGen::poll_once(int ep, std::vector<epoll_event>& evs, Time end) {
    Time t = now_ns();
    int timeout_ms = static_cast<int>(std::clamp<std::int64_t>((end - t).count() / 1000000 + 1, 0, 100));
    if (auto d = engine_->next_deadline()) {
        const auto ms = (*d - t).count() / 1000000;
        timeout_ms = static_cast<int>(std::clamp<std::int64_t>(ms, 0, timeout_ms));
    }
    const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
        const auto& [src, port] = by_fd_[evs[static_cast<std::size_t>(i)].data.fd];
        read_socket(evs[static_cast<std::size_t>(i)].data.fd, port, sources_[src].address, t);
    }
    t = now_ns();
    if (auto d = engine_->next_deadline(); d && *d <= t) {
        Output out;
        engine_->on_timer(t, out);
        flush(out, t);
        handle_events(out, t);
    }
}

void LoadGen::start_rekeys(Time t) {
    Output out;
    while (rekey_state_.size() < opt_.window && rekey_next_ < to_rekey_.size()) {
        const auto [ike, child] = to_rekey_[rekey_next_++];
        rekey_state_[ike] = 1;
        if (auto st = engine_->rekey_child(ike, child, t, out); !st) {
            rekey_state_.erase(ike);
            ++rekey_failed_;
            if (failure_samples_.size() < 10) failure_samples_.push_back("rekey_child: " + st.error());
        }
        flush(out, t);
        handle_events(out, t);
    }
}

// Keeps the SAs (answering the responder) until SIGTERM/SIGINT or --hold-max; SIGUSR1
// rekeys every CHILD_SA once, at most --window IKE SAs at a time.
void LoadGen::hold(int ep) {
    struct sigaction sa{};
    sa.sa_handler = on_signal;  // no SA_RESTART: epoll_wait returns EINTR
    ::sigaction(SIGUSR1, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    std::printf("%s: holding %lu IKE SAs (SIGUSR1: rekey every CHILD_SA, SIGTERM: exit)\n", opt_.label.c_str(),
                established_);
    std::fflush(stdout);
    std::vector<epoll_event> evs(256);
    const Time end = now_ns() + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(opt_.hold_max));
    Time rekey_start{};
    bool rekey_reported = false;
    failure_samples_.clear();
    // Bounded by --hold-max.
    while (!g_stop_requested && now_ns() < end) {
        if (g_rekey_requested && !rekeying_) {
            rekeying_ = true;
            for (const auto& s : engine_->list_sas())
                if (s.state == IkeState::established && !s.children.empty())
                    to_rekey_.emplace_back(s.id, s.children.front().child_id);
            rekey_start = now_ns();
            last_done_ = rekey_start;
        }
        poll_once(ep, evs, end);
        if (rekeying_) start_rekeys(now_ns());
        if (rekeying_ && !rekey_reported && rekey_next_ == to_rekey_.size() && rekey_state_.empty()) {
            rekey_reported = true;
            const double s = std::chrono::duration<double>(last_done_ - rekey_start).count();
            std::printf("%s: rekeyed %lu of %zu CHILD_SAs (%lu failed) in %.3f s (%.0f/s), window %u\n",
                        opt_.label.c_str(), rekeyed_, to_rekey_.size(), rekey_failed_, s, s > 0 ? rekeyed_ / s : 0.0,
                        opt_.window);
            for (const auto& f : failure_samples_) std::printf("%s: failure: %s\n", opt_.label.c_str(), f.c_str());
            if (opt_.json)
                std::printf("{\"label\":\"%s\",\"phase\":\"rekey\",\"rekeyed\":%lu,\"rekey_failed\":%lu,"
                            "\"rekey_all_s\":%.6f}\n",
                            opt_.label.c_str(), rekeyed_, rekey_failed_, s);
            std::fflush(stdout);
        }
    }
}

void LoadGen::read_socket(int fd, std::uint16_t local_port, const IpAddress& local, Time& t) {
    constexpr unsigned kBatch = 32;
    static std::uint8_t bufs[kBatch][2048];
    static sockaddr_in addrs[kBatch];
    static iovec iovs[kBatch];
    static mmsghdr msgs[kBatch];
    Output out;
    for (int rounds = 0; rounds < 64; ++rounds) {
        for (unsigned i = 0; i < kBatch; ++i) {
            iovs[i] = {bufs[i], sizeof bufs[i]};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_name = &addrs[i];
            msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        const int n = ::recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
        if (n <= 0) return;
        t = now_ns();
        for (int i = 0; i < n; ++i) {
            std::size_t len = msgs[i].msg_len;
            const std::uint8_t* p = bufs[i];
            if (local_port == 4500) {
                if (len < 4 || p[0] || p[1] || p[2] || p[3]) continue;  // ESP or keepalive
                p += 4;
                len -= 4;
            }
            ++datagrams_in_;
            std::uint32_t ra;
            std::memcpy(&ra, &addrs[i].sin_addr, 4);
            Datagram dg{Endpoint{local, local_port}, Endpoint{IpAddress::v4(ntohl(ra)), ntohs(addrs[i].sin_port)},
                        Bytes(p, p + len)};
            engine_->on_datagram(dg, t, out);
            flush(out, t);
            handle_events(out, t);
        }
        if (static_cast<unsigned>(n) < kBatch) return;
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options o = parse_args(argc, argv);
    LoadGen g(std::move(o));
    return g.run();
}
