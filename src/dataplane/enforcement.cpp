#include "dataplane/enforcement.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

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

Status run_nft(const std::string& script, std::chrono::milliseconds limit) {
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
    char arg0[] = "nft", arg1[] = "-f", arg2[] = "-";
    char* argv[] = {arg0, arg1, arg2, nullptr};
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, "nft", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(err[0]);
        return Error{std::string("cannot run nft: ") + std::strerror(rc)};
    }
    // The script is small (a pipe holds 64 KiB); write it all, then close.
    std::size_t off = 0;
    bool write_failed = false;
    while (off < script.size()) {
        ssize_t n = ::write(in[1], script.data() + off, script.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            write_failed = true;
            break;
        }
        off += static_cast<std::size_t>(n);
    }
    ::close(in[1]);
    std::string msg;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    bool done = false;
    while (!done) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{err[0], POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 50))) > 0) {
            char buf[512];
            ssize_t n = ::read(err[0], buf, sizeof buf);
            if (n > 0 && msg.size() < 2048) msg.append(buf, static_cast<std::size_t>(n));
        }
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) done = true;
        else if (w < 0 && errno != EINTR) break;
    }
    if (!done) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        ::close(err[0]);
        return Error{"nft did not finish in " + std::to_string(limit.count()) + " ms"};
    }
    for (;;) {  // what is left in the pipe
        char buf[512];
        ssize_t n = ::read(err[0], buf, sizeof buf);
        if (n <= 0 || msg.size() >= 2048) break;
        msg.append(buf, static_cast<std::size_t>(n));
    }
    ::close(err[0]);
    if (write_failed) return Error{"nft: could not write the script: " + msg};
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (msg.size() > 400) msg.resize(400);
    return Error{"nft failed: " + msg};
}

Enforcer::~Enforcer() {
    if (installed_) (void)run_nft(render_enforcement_removal(config_));
}

Status Enforcer::apply(const std::vector<EnforcedPolicy>& policies) {
    std::string s = render_enforcement(config_, policies);
    if (installed_ && s == last_) return {};
    auto st = run_nft(s);
    if (!st) return st;
    last_ = std::move(s);
    installed_ = true;
    return {};
}

}  // namespace mobiked::dataplane
