#include "dataplane/esp_socket.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace mobiked::dataplane {

RawEspSocket::~RawEspSocket() {
    if (fd_ >= 0) ::close(fd_);
}

Status RawEspSocket::open(IpAddress::Family family, std::uint32_t mark) {
    v6_ = family == IpAddress::Family::v6;
    fd_ = ::socket(v6_ ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ESP);
    if (fd_ < 0) return Error{std::string("raw ESP socket: ") + std::strerror(errno)};
    int one = 1;
    bool ok = v6_ ? ::setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) == 0
                  : ::setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0;
    if (mark != 0) ok = ok && ::setsockopt(fd_, SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0;
    // Bursts must not overflow the queue: a raw socket with a full queue does
    // not count as a receiver, so the kernel answers "protocol unreachable".
    int rcvbuf = kReceiveBuffer;
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (!ok) return Error{std::string("raw ESP socket options: ") + std::strerror(errno)};
    return {};
}

std::optional<RawEspPacket> RawEspSocket::receive(std::span<std::uint8_t> buf, bool& bad) {
    bad = false;
    sockaddr_storage from{};
    alignas(cmsghdr) char control[128];
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    bad = true;
    if (msg.msg_flags & MSG_TRUNC) return std::nullopt;
    RawEspPacket p;
    p.length = static_cast<std::size_t>(n);
    if (!v6_) {
        // IPv4 raw sockets deliver the IP header too.
        if (p.length < 20 || (buf[0] >> 4) != 4) return std::nullopt;
        const std::size_t ihl = std::size_t{buf[0] & 0x0fu} * 4;
        if (ihl < 20 || ihl > p.length) return std::nullopt;
        p.remote = *IpAddress::from_bytes({buf.data() + 12, 4});
        p.local = *IpAddress::from_bytes({buf.data() + 16, 4});
        p.offset = ihl;
        p.length -= ihl;
    } else {
        if (from.ss_family != AF_INET6) return std::nullopt;
        p.remote = *IpAddress::from_bytes({reinterpret_cast<sockaddr_in6&>(from).sin6_addr.s6_addr, 16});
        bool have_local = false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != IPPROTO_IPV6 || c->cmsg_type != IPV6_PKTINFO) continue;
            in6_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            p.local = *IpAddress::from_bytes({pi.ipi6_addr.s6_addr, 16});
            have_local = true;
        }
        if (!have_local) return std::nullopt;
    }
    bad = false;
    return p;
}

namespace {

// Destination and IP_PKTINFO / IPV6_PKTINFO for one raw send.
struct RawMessage {
    sockaddr_storage to{};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
    iovec iov{};

    void fill(msghdr& msg, bool v6, const IpAddress& local, const IpAddress& remote, ByteView data, int ifindex) {
        auto* c = reinterpret_cast<cmsghdr*>(control);
        msg = msghdr{};
        if (!v6) {
            auto& sin = reinterpret_cast<sockaddr_in&>(to);
            sin.sin_family = AF_INET;
            std::memcpy(&sin.sin_addr, remote.bytes().data(), 4);
            msg.msg_namelen = sizeof sin;
            in_pktinfo pi{};
            std::memcpy(&pi.ipi_spec_dst, local.bytes().data(), 4);
            pi.ipi_ifindex = ifindex;
            *c = cmsghdr{CMSG_LEN(sizeof pi), IPPROTO_IP, IP_PKTINFO};
            std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
            msg.msg_controllen = CMSG_SPACE(sizeof pi);
        } else {
            auto& sin6 = reinterpret_cast<sockaddr_in6&>(to);
            sin6.sin6_family = AF_INET6;
            std::memcpy(sin6.sin6_addr.s6_addr, remote.bytes().data(), 16);
            msg.msg_namelen = sizeof sin6;
            in6_pktinfo pi{};
            std::memcpy(pi.ipi6_addr.s6_addr, local.bytes().data(), 16);
            pi.ipi6_ifindex = static_cast<unsigned>(ifindex);
            *c = cmsghdr{CMSG_LEN(sizeof pi), IPPROTO_IPV6, IPV6_PKTINFO};
            std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
            msg.msg_controllen = CMSG_SPACE(sizeof pi);
        }
        if (local.is_unspecified() || local.is_v4() != remote.is_v4()) msg.msg_controllen = 0;
        else msg.msg_control = control;
        iov = iovec{const_cast<std::uint8_t*>(data.data()), data.size()};
        msg.msg_name = &to;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
    }
};

}  // namespace

bool RawEspSocket::send(const IpAddress& local, const IpAddress& remote, ByteView esp) {
    if (remote.is_v4() == v6_) return false;
    RawMessage m;
    msghdr msg;
    m.fill(msg, v6_, local, remote, esp, pins_ ? pins_->ifindex(local) : 0);
    return ::sendmsg(fd_, &msg, MSG_DONTWAIT) == static_cast<ssize_t>(esp.size());
}

std::size_t RawEspSocket::send_batch(std::span<const OutDatagram> batch) {
    std::array<RawMessage, kMaxBatch> m;
    std::array<mmsghdr, kMaxBatch> msgs{};
    std::size_t n = 0;
    for (const OutDatagram& d : batch.first(std::min(batch.size(), kMaxBatch))) {
        if (d.remote.address.is_v4() == v6_) continue;  // wrong family: not sent
        m[n].fill(msgs[n].msg_hdr, v6_, d.local.address, d.remote.address, d.data,
                  pins_ ? pins_->ifindex(d.local.address) : 0);
        ++n;
    }
    std::size_t sent = 0;
    while (sent < n) {
        int r = ::sendmmsg(fd_, msgs.data() + sent, static_cast<unsigned>(n - sent), MSG_DONTWAIT);
        if (r <= 0) break;
        sent += static_cast<std::size_t>(r);
    }
    return sent;
}

}  // namespace mobiked::dataplane
