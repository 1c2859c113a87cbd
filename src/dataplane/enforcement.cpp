#include "dataplane/enforcement.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>

extern char** environ;

namespace mobiked::dataplane {
namespace {

std::string addr_match(const char* dir, const AddressRange& r) {
    const char* fam = r.first.is_v4() ? "ip" : "ip6";
    const bool any = r.first.is_unspecified() &&
                     r.last == (r.first.is_v4() ? *IpAddress::parse("255.255.255.255")
                                                : *IpAddress::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    std::string out = std::string("meta nfproto ") + (r.first.is_v4() ? "ipv4" : "ipv6") + " ";
    if (any) return out;
    out += std::string(fam) + " " + dir + " ";
    if (r.first == r.last) return out + r.first.to_string() + " ";
    return out + r.first.to_string() + "-" + r.last.to_string() + " ";
}

bool port_any(std::uint16_t a, std::uint16_t b) { return a == 0 && b == 65535; }

std::string port_match(const char* dir, std::uint16_t a, std::uint16_t b) {
    if (port_any(a, b) || a > b) return {};  // any, or opaque (65535-0)
    std::string s = std::string("th ") + dir + " " + std::to_string(a);
    if (b != a) s += "-" + std::to_string(b);
    return s + " ";
}

// The match for one direction. outbound: local -> remote.
std::string match(const EnforcedPolicy& p, bool outbound) {
    const AddressRange& src = outbound ? p.local : p.remote;
    const AddressRange& dst = outbound ? p.remote : p.local;
    std::string m = addr_match("saddr", src);
    // both selectors have the same family; the second needs no nfproto again
    std::string d = addr_match("daddr", dst);
    m += d.substr(d.find(' ', std::strlen("meta nfproto ")) + 1);
    if (p.protocol != 0) {
        m += "meta l4proto " + std::to_string(p.protocol) + " ";
        const bool ports = p.protocol == 6 || p.protocol == 17 || p.protocol == 132 || p.protocol == 136;
        if (ports) {
            m += port_match("sport", outbound ? p.local_port_first : p.remote_port_first,
                            outbound ? p.local_port_last : p.remote_port_last);
            m += port_match("dport", outbound ? p.remote_port_first : p.local_port_first,
                            outbound ? p.remote_port_last : p.local_port_last);
        }
    }
    return m;
}

std::string comment(const std::string& label, const char* what) {
    std::string s;
    for (char ch : label)
        if (ch != '"' && ch != '\\' && ch != '\n' && static_cast<unsigned char>(ch) >= 0x20) s += ch;
    if (s.size() > 100) s.resize(100);
    return std::string("comment \"") + what + " " + s + "\"";
}

}  // namespace

std::string enforcement_table_name(const std::string& tun) {
    std::string s = "mobiked_";
    for (char ch : tun) s += (std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_') ? ch : '_';
    return s;
}

std::string render_enforcement(const EnforcementConfig& c, const std::vector<EnforcedPolicy>& policies) {
    std::ostringstream o;
    const std::string tun = "\"" + c.tun + "\"";
    o << "add table inet " << c.table << "\n";
    o << "delete table inet " << c.table << "\n";
    o << "table inet " << c.table << " {\n";
    // Exemptions shared by the chains.
    o << "  chain exempt {\n"
      << "    icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, "
         "nd-redirect, packet-too-big } accept\n"
      << "    icmp type destination-unreachable icmp code frag-needed accept\n"
      << "  }\n";
    o << "  chain exempt_in {\n"
      << "    udp dport { " << c.ike_port << ", " << c.natt_port << " } accept\n"
      << "    meta l4proto esp accept\n"
      << "  }\n";
    // output: locally generated traffic leaving; input: traffic delivered here;
    // forward: both directions through this host.
    auto chain = [&](const char* hook, bool out_side, bool in_side) {
        o << "  chain " << hook << " {\n"
          << "    type filter hook " << hook << " priority -5; policy accept;\n";
        if (c.fwmark != 0 && !in_side) o << "    meta mark " << c.fwmark << " accept\n";
        o << "    jump exempt\n";
        if (in_side) o << "    iifname " << tun << " accept\n    jump exempt_in\n";
        for (const auto& p : policies) {
            const bool protect = p.action == EnforcedPolicy::Action::protect;
            const std::string tag = std::string(protect ? "protect-" : "discard-") + (out_side && in_side ? "fwd-" : "");
            if (out_side) {
                const std::string m = match(p, true);
                if (protect) o << "    " << m << "oifname " << tun << " accept\n";
                o << "    " << m << "counter drop " << comment(p.label, (tag + "out").c_str()) << "\n";
            }
            if (in_side)
                o << "    " << match(p, false) << "counter drop " << comment(p.label, (tag + "in").c_str()) << "\n";
        }
        o << "  }\n";
    };
    chain("output", true, false);
    chain("input", false, true);
    chain("forward", true, true);
    o << "}\n";
    return o.str();
}

std::string render_enforcement_removal(const EnforcementConfig& c) {
    return "add table inet " + c.table + "\ndelete table inet " + c.table + "\n";
}

std::vector<std::string> nft_command() { return {"nft", "-f", "-"}; }

namespace {

constexpr std::size_t kMaxMessage = 2048;  // stderr kept per run
constexpr std::size_t kMaxPipe = 1 << 20;

struct Child {
    pid_t pid = -1;
    int in = -1;   // its stdin, write end
    int err = -1;  // its stdout and stderr, read end
};

Result<Child> spawn_piped(const std::vector<std::string>& command) {
    int in[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
    if (::pipe2(err, O_CLOEXEC) != 0) {
        ::close(in[0]);
        ::close(in[1]);
        return Error{std::string("pipe: ") + std::strerror(errno)};
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, err[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t deflt;
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGINT);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> argv;
    for (const std::string& a : command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    Child c;
    const int rc = ::posix_spawnp(&c.pid, argv[0], &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(err[0]);
        return Error{"cannot run " + command.front() + ": " + std::strerror(rc)};
    }
    c.in = in[1];
    c.err = err[0];
    return c;
}

// Puts the whole script into the pipe so that the caller need not wait for
// the child to read it. A pipe holds 64 KiB; a larger script (hundreds of
// policies) first grows it to fit, up to kMaxPipe (the default
// fs.pipe-max-size). Beyond that, or when the kernel refuses, the write blocks
// until the child has read the rest: acceptable, as nft reads all its input
// before it does anything else, and tables that large are rare.
bool write_script(int fd, const std::string& script) {
    if (script.size() > 65536)
        (void)::fcntl(fd, F_SETPIPE_SZ, static_cast<int>(std::min<std::size_t>(script.size(), kMaxPipe)));
    // A child that exits without reading must not kill the caller with
    // SIGPIPE (the daemon ignores it; tests and tools need not).
    sigset_t pipe_sig, old;
    sigemptyset(&pipe_sig);
    sigaddset(&pipe_sig, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_sig, &old);
    std::size_t off = 0;
    bool ok = true, broken = false;
    while (off < script.size()) {
        const ssize_t n = ::write(fd, script.data() + off, script.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            broken = n < 0 && errno == EPIPE;
            ok = false;
            break;
        }
        off += static_cast<std::size_t>(n);
    }
    if (broken && sigismember(&old, SIGPIPE) == 0) {
        const timespec zero{};
        while (::sigtimedwait(&pipe_sig, nullptr, &zero) < 0 && errno == EINTR) {
        }
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return ok;
}

}  // namespace

NftRunner::~NftRunner() { kill(); }

Status NftRunner::start(const std::string& script, std::chrono::milliseconds limit) {
    if (command_.empty()) return Error{"no command to run"};
    if (running()) return Error{command_.front() + " is already running"};
    auto child = spawn_piped(command_);
    if (!child) return Error{child.error()};
    pid_ = child->pid;
    err_ = child->err;
    (void)::fcntl(err_, F_SETFL, ::fcntl(err_, F_GETFL) | O_NONBLOCK);
    msg_.clear();
    write_failed_ = !write_script(child->in, script);
    ::close(child->in);  // EOF: nft starts on the script
    limit_ = limit;
    deadline_ = std::chrono::steady_clock::now() + limit;
    return {};
}

void NftRunner::drain_stderr() {
    // Bounded per call, so a child flooding its stderr cannot hold the loop;
    // what is past kMaxMessage is read and dropped, so the child never blocks on it.
    for (int i = 0; err_ >= 0 && i < 16; ++i) {
        char buf[4096];
        const ssize_t n = ::read(err_, buf, sizeof buf);
        if (n > 0) {
            msg_.append(buf, std::min(static_cast<std::size_t>(n), kMaxMessage - std::min(kMaxMessage, msg_.size())));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) close_fds();  // EOF; the exit is still to be reaped
        return;
    }
}

void NftRunner::close_fds() {
    if (err_ >= 0) ::close(err_);
    err_ = -1;
}

Status NftRunner::finish(int wait_status) {
    drain_stderr();  // what the child wrote last
    close_fds();
    pid_ = -1;
    std::string msg = std::move(msg_);
    msg_.clear();
    // A child that failed may have done so before reading its input: its
    // own message says more than the broken pipe.
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
        if (write_failed_) return Error{command_.front() + ": could not write the script: " + msg};
        return {};
    }
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (msg.size() > 400) msg.resize(400);
    if (msg.empty() && WIFSIGNALED(wait_status)) msg = std::string("killed by ") + ::strsignal(WTERMSIG(wait_status));
    return Error{command_.front() + " failed: " + msg};
}

std::optional<Status> NftRunner::poll() {
    if (!running()) return std::nullopt;
    drain_stderr();
    int status = 0;
    pid_t w;
    while ((w = ::waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (w == pid_) return finish(status);
    if (w < 0) {  // ECHILD: reaped behind our back (SIGCHLD ignored); the outcome is unknown
        const int e = errno;
        pid_ = -1;
        close_fds();
        return Error{"cannot wait for " + command_.front() + ": " + std::strerror(e)};
    }
    if (std::chrono::steady_clock::now() < deadline_) return std::nullopt;
    kill();
    return Error{command_.front() + " did not finish in " + std::to_string(limit_.count()) + " ms"};
}

Status NftRunner::wait() {
    for (;;) {
        if (!running()) return {};
        if (auto r = poll()) return *r;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now());
        // stderr's EOF or text usually comes with the exit: sleep on it; once
        // it is closed, the exit is a moment away.
        pollfd p{err_, POLLIN, 0};
        const int ms = static_cast<int>(std::clamp<long long>(left.count(), 0, err_ >= 0 ? 10 : 1));
        (void)::poll(&p, err_ >= 0 ? 1 : 0, ms);
    }
}

void NftRunner::kill() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    close_fds();
    msg_.clear();
}

Status run_nft(const std::string& script, std::chrono::milliseconds limit, std::vector<std::string> command) {
    NftRunner r(std::move(command));
    if (auto st = r.start(script, limit); !st) return st;
    return r.wait();
}

Enforcer::~Enforcer() {
    const bool in_flight = runner_.running();  // it may have committed before the kill
    runner_.kill();
    if ((installed_ || in_flight) && runner_.start(render_enforcement_removal(config_))) (void)runner_.wait();
}

Status Enforcer::start(std::string script) {
    if (auto st = runner_.start(script); !st) return st;
    running_ = std::move(script);
    started_ = std::chrono::steady_clock::now();
    return {};
}

void Enforcer::finished(const Status& st) {
    last_run_time_ = std::chrono::steady_clock::now() - started_;
    if (st) {
        last_ = std::move(running_);
        installed_ = true;
    }
    running_.clear();
}

Status Enforcer::apply(const std::vector<EnforcedPolicy>& policies) {
    std::string s = render_enforcement(config_, policies);
    if (runner_.running()) finished(runner_.wait());
    queued_.reset();  // older than `policies`
    if (installed_ && s == last_) return {};
    if (auto st = start(std::move(s)); !st) return st;
    auto st = runner_.wait();
    finished(st);
    return st;
}

Status Enforcer::apply_async(const std::vector<EnforcedPolicy>& policies) {
    std::string s = render_enforcement(config_, policies);
    if (runner_.running()) {
        if (s == running_) queued_.reset();
        else queued_ = std::move(s);
        return {};
    }
    queued_.reset();
    if (installed_ && s == last_) return {};
    return start(std::move(s));
}

std::optional<Status> Enforcer::poll() {
    auto r = runner_.poll();
    if (!r) return std::nullopt;
    finished(*r);
    if (!queued_) return r;
    std::string s = std::move(*queued_);
    queued_.reset();
    if (installed_ && s == last_) return r;
    if (auto st = start(std::move(s)); !st) return st;
    return r;
}

}  // namespace mobiked::dataplane
