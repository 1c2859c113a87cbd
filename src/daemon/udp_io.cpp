#include "daemon/udp_io.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wire/constants.hpp"

namespace mobiked::daemon {

NattPayload classify_natt(ByteView d) {
    if (d.size() == 1 && d[0] == 0xff) return NattPayload::keepalive;
    if (d.size() < 4) return NattPayload::invalid;
    if (d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 0) return NattPayload::ike;
    // A non-zero first word is an ESP SPI; an ESP header is at least SPI + sequence.
    return d.size() >= 8 ? NattPayload::esp : NattPayload::invalid;
}

bool needs_marker(const Endpoint& local, const Endpoint& remote, std::uint16_t natt_port) {
    return local.port == natt_port || remote.port == natt_port || remote.port == wire::kNatTPort;
}

namespace {

Endpoint from_sockaddr(const sockaddr_storage& ss) {
    Endpoint e;
    if (ss.ss_family == AF_INET) {
        const auto& sin = reinterpret_cast<const sockaddr_in&>(ss);
        e.address = *IpAddress::from_bytes({reinterpret_cast<const std::uint8_t*>(&sin.sin_addr), 4});
        e.port = ntohs(sin.sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(ss);
        e.address = *IpAddress::from_bytes({sin6.sin6_addr.s6_addr, 16});
        e.port = ntohs(sin6.sin6_port);
    }
    return e;
}

socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (e.address.is_v4()) {
        auto& sin = reinterpret_cast<sockaddr_in&>(ss);
        sin.sin_family = AF_INET;
        sin.sin_port = htons(e.port);
        std::memcpy(&sin.sin_addr, e.address.bytes().data(), 4);
        return sizeof sin;
    }
    auto& sin6 = reinterpret_cast<sockaddr_in6&>(ss);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(e.port);
    std::memcpy(sin6.sin6_addr.s6_addr, e.address.bytes().data(), 16);
    return sizeof sin6;
}

Result<int> open_socket(bool v6, std::uint16_t port) {
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error{std::string("socket: ") + std::strerror(errno)};
    int one = 1;
    bool ok = ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0;
    if (v6) {
        ok = ok && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0;
        ok = ok && ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) == 0;
    } else {
        ok = ok && ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0;
    }
    sockaddr_storage ss;
    Endpoint any{v6 ? *IpAddress::parse("::") : IpAddress{}, port};
    socklen_t len = to_sockaddr(any, ss);
    if (!ok || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        int err = errno;
        ::close(fd);
        return Error{std::string(v6 ? "IPv6" : "IPv4") + " port " + std::to_string(port) + ": " + std::strerror(err)};
    }
    return fd;
}

// The destination address of a received datagram, from its pktinfo.
std::optional<IpAddress> local_address(msghdr& msg) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            in_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            return IpAddress::from_bytes({reinterpret_cast<const std::uint8_t*>(&pi.ipi_addr), 4});
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            in6_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            return IpAddress::from_bytes({pi.ipi6_addr.s6_addr, 16});
        }
    }
    return std::nullopt;
}

// The segment size of a datagram the kernel coalesced (UDP_GRO), else 0.
std::size_t gro_segment(msghdr& msg) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO) continue;
        int size = 0;
        std::memcpy(&size, CMSG_DATA(c), sizeof size);
        return size > 0 ? static_cast<std::size_t>(size) : 0;
    }
    return 0;
}

}  // namespace

UdpSockets::~UdpSockets() {
    for (auto& s : sockets_) ::close(s.fd);
}

Status UdpSockets::open(std::uint16_t ike_port, std::uint16_t natt_port, std::vector<std::string>& warnings) {
    for (bool v6 : {false, true}) {
        for (std::uint16_t port : {ike_port, natt_port}) {
            auto fd = open_socket(v6, port);
            if (!fd) {
                if (!v6) return Error{fd.error()};
                warnings.push_back(fd.error() + " (IPv6 disabled)");
                continue;
            }
            sockets_.push_back({*fd, v6, port});
        }
    }
    natt_port_ = natt_port;
    return {};
}

std::vector<int> UdpSockets::fds() const {
    std::vector<int> out;
    for (const auto& s : sockets_) out.push_back(s.fd);
    return out;
}

const UdpSockets::Socket* UdpSockets::find(int fd) const {
    for (const auto& s : sockets_)
        if (s.fd == fd) return &s;
    return nullptr;
}

bool UdpSockets::is_natt(int fd) const {
    const Socket* s = find(fd);
    return s && s->port == natt_port_;
}

std::optional<ReceivedDatagram> UdpSockets::receive(int fd, std::string& error) {
    const Socket* s = find(fd);
    if (!s) return std::nullopt;
    // One byte more than the largest message tells truncation apart.
    if (scratch_.size() != wire::kMaxMessageSize + 1) scratch_.resize(wire::kMaxMessageSize + 1);
    Bytes& buf = scratch_;
    sockaddr_storage from{};
    alignas(cmsghdr) char control[256];
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) error = std::string("recvmsg: ") + std::strerror(errno);
        return std::nullopt;
    }
    ReceivedDatagram d;
    d.remote = from_sockaddr(from);
    auto local = local_address(msg);
    if (!local) {
        error = "datagram without pktinfo";
        return std::nullopt;
    }
    d.local = Endpoint{*local, s->port};
    if ((msg.msg_flags & MSG_TRUNC) || static_cast<std::size_t>(n) > wire::kMaxMessageSize) {
        error = "oversized datagram from " + d.remote.to_string();
        return std::nullopt;
    }
    d.data.assign(buf.begin(), buf.begin() + n);
    return d;
}

std::size_t UdpSockets::receive_batch(int fd, RecvBatch& batch, std::string& error) {
    const Socket* s = find(fd);
    if (!s) return 0;
    constexpr std::size_t N = RecvBatch::kSlots;
    std::array<mmsghdr, N> msgs{};
    std::array<iovec, N> iov{};
    std::array<sockaddr_storage, N> from{};
    struct alignas(cmsghdr) Control {
        char data[128];
    };
    std::array<Control, N> control{};
    for (std::size_t i = 0; i < N; ++i) {
        auto slot = batch.slot(i);
        // One byte more than the largest datagram tells truncation apart.
        iov[i] = iovec{slot.data() + RecvBatch::kHeadroom, wire::kMaxMessageSize + 1};
        msghdr& m = msgs[i].msg_hdr;
        m.msg_name = &from[i];
        m.msg_namelen = sizeof from[i];
        m.msg_iov = &iov[i];
        m.msg_iovlen = 1;
        m.msg_control = control[i].data;
        m.msg_controllen = sizeof control[i].data;
    }
    int n = ::recvmmsg(fd, msgs.data(), N, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            error = std::string("recvmmsg: ") + std::strerror(errno);
        return 0;
    }
    for (int i = 0; i < n; ++i) {
        RecvBatch::Entry& e = batch.entries[static_cast<std::size_t>(i)];
        msghdr& m = msgs[static_cast<std::size_t>(i)].msg_hdr;
        e.remote = from_sockaddr(from[static_cast<std::size_t>(i)]);
        auto local = local_address(m);
        e.length = msgs[static_cast<std::size_t>(i)].msg_len;
        e.valid = local && !(m.msg_flags & MSG_TRUNC) && e.length <= wire::kMaxMessageSize;
        e.segment = gro_segment(m);
        if (local) e.local = Endpoint{*local, s->port};
    }
    return static_cast<std::size_t>(n);
}

void UdpSockets::enable_gro() {
    // Only the NAT-T sockets carry ESP bursts worth coalescing. A kernel
    // without UDP_GRO refuses the option and keeps delivering singly.
    int one = 1;
    for (const auto& s : sockets_)
        if (s.port == natt_port_) (void)::setsockopt(s.fd, SOL_UDP, UDP_GRO, &one, sizeof one);
}

void UdpSockets::set_natt_receive_buffer(int bytes) {
    for (const auto& s : sockets_) {
        if (s.port != natt_port_) continue;
        if (::setsockopt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
            (void)::setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    }
}

namespace {

// Appends IP_PKTINFO / IPV6_PKTINFO (the source address, and the interface
// for a pinned source) to msg's control buffer.
void add_pktinfo(msghdr& msg, const Endpoint& local, const Endpoint& remote, int ifindex) {
    if (local.address.is_unspecified() || local.address.is_v4() != remote.address.is_v4()) return;
    cmsghdr* c = reinterpret_cast<cmsghdr*>(static_cast<char*>(msg.msg_control) + msg.msg_controllen);
    if (local.address.is_v4()) {
        in_pktinfo pi{};
        std::memcpy(&pi.ipi_spec_dst, local.address.bytes().data(), 4);
        pi.ipi_ifindex = ifindex;
        *c = cmsghdr{CMSG_LEN(sizeof pi), IPPROTO_IP, IP_PKTINFO};
        std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
        msg.msg_controllen += CMSG_SPACE(sizeof pi);
    } else {
        in6_pktinfo pi{};
        std::memcpy(pi.ipi6_addr.s6_addr, local.address.bytes().data(), 16);
        pi.ipi6_ifindex = static_cast<unsigned>(ifindex);
        *c = cmsghdr{CMSG_LEN(sizeof pi), IPPROTO_IPV6, IPV6_PKTINFO};
        std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
        msg.msg_controllen += CMSG_SPACE(sizeof pi);
    }
}

// Destination and IP_PKTINFO / IPV6_PKTINFO (the source address) of one send.
struct UdpMessage {
    sockaddr_storage to{};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
    iovec iov{};

    void fill(msghdr& msg, const Endpoint& local, const Endpoint& remote, ByteView data, int ifindex) {
        msg = msghdr{};
        msg.msg_name = &to;
        msg.msg_namelen = to_sockaddr(remote, to);
        iov = iovec{const_cast<std::uint8_t*>(data.data()), data.size()};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = 0;
        add_pktinfo(msg, local, remote, ifindex);
        if (msg.msg_controllen == 0) msg.msg_control = nullptr;
    }
};

}  // namespace

const UdpSockets::Socket* UdpSockets::socket_for(const Endpoint& local, const Endpoint& remote) const {
    const Socket* sock = nullptr;
    for (const auto& s : sockets_)
        if (s.v6 == !remote.address.is_v4() && s.port == local.port) sock = &s;
    return sock;
}

Status UdpSockets::send(const Endpoint& local, const Endpoint& remote, ByteView data) {
    const Socket* sock = socket_for(local, remote);
    if (!sock) return Error{"no socket for " + local.to_string() + " -> " + remote.to_string()};
    UdpMessage m;
    msghdr msg;
    m.fill(msg, local, remote, data, pin(local.address));
    if (::sendmsg(sock->fd, &msg, MSG_DONTWAIT) < 0)
        return Error{"sendmsg to " + remote.to_string() + ": " + std::strerror(errno)};
    return {};
}

namespace {

// One sendmsg carrying a run of equal-size datagrams to one peer: the kernel
// cuts it into datagrams of `segment` bytes (UDP_SEGMENT, the last may be
// shorter), so route lookup, netfilter and the device are paid once per run.
constexpr std::size_t kMaxGsoSegments = 64;  // UDP_MAX_SEGMENTS on older kernels
constexpr std::size_t kMaxGsoBytes = 65000;  // the datagrams' sum stays under one IP packet
constexpr std::size_t kMaxMessages = 64;

struct GsoMessage {
    sockaddr_storage to{};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(std::uint16_t))] = {};
    std::size_t datagrams = 0;
};

void add_segment_size(msghdr& msg, std::uint16_t segment) {
    cmsghdr* c = reinterpret_cast<cmsghdr*>(static_cast<char*>(msg.msg_control) + msg.msg_controllen);
    *c = cmsghdr{CMSG_LEN(sizeof segment), SOL_UDP, UDP_SEGMENT};
    std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
    msg.msg_controllen += CMSG_SPACE(sizeof segment);
}

bool same_path(const dataplane::OutDatagram& a, const dataplane::OutDatagram& b) {
    return a.local == b.local && a.remote == b.remote;
}

// Errors that mean "this host cannot do UDP_SEGMENT" rather than "the queue
// is full": no checksum offload on the device (EIO), no GSO support.
bool gso_unsupported(int err) { return err == EIO || err == ENOPROTOOPT || err == EOPNOTSUPP; }

}  // namespace

std::size_t UdpSockets::send_batch(std::span<const dataplane::OutDatagram> batch) { return send_run(batch, gso()); }

std::size_t UdpSockets::send_run(std::span<const dataplane::OutDatagram> batch, bool gso) {
    std::array<GsoMessage, kMaxMessages> m;
    std::array<mmsghdr, kMaxMessages> msgs;
    std::array<iovec, kMaxMessages * kMaxGsoSegments> iov;
    std::size_t sent = 0;
    std::size_t i = 0;
    while (i < batch.size()) {
        // A run of datagrams through one socket, packed into at most
        // kMaxMessages messages of at most kMaxGsoSegments datagrams each.
        const Socket* sock = socket_for(batch[i].local, batch[i].remote);
        if (!sock) {
            ++i;
            continue;
        }
        std::size_t n = 0, used_iov = 0, first = i;
        while (i < batch.size() && n < kMaxMessages && socket_for(batch[i].local, batch[i].remote) == sock) {
            const std::size_t segment = batch[i].data.size();
            GsoMessage& g = m[n];
            msghdr& msg = msgs[n].msg_hdr;
            msg = msghdr{};
            msgs[n].msg_len = 0;
            msg.msg_name = &g.to;
            msg.msg_namelen = to_sockaddr(batch[i].remote, g.to);
            msg.msg_iov = &iov[used_iov];
            msg.msg_control = g.control;
            msg.msg_controllen = 0;
            add_pktinfo(msg, batch[i].local, batch[i].remote, pin(batch[i].local.address));
            std::size_t bytes = 0, k = 0;
            // Equal sizes only; a shorter datagram ends the run (the kernel
            // allows just the last segment to be short).
            while (i < batch.size() && (k == 0 || (gso && k < kMaxGsoSegments && same_path(batch[i], batch[first]) &&
                                                   batch[i].data.size() <= segment &&
                                                   bytes + batch[i].data.size() <= kMaxGsoBytes))) {
                iov[used_iov + k] = iovec{const_cast<std::uint8_t*>(batch[i].data.data()), batch[i].data.size()};
                bytes += batch[i].data.size();
                ++k;
                ++i;
                if (batch[i - 1].data.size() < segment) break;
            }
            msg.msg_iovlen = k;
            if (k > 1) add_segment_size(msg, static_cast<std::uint16_t>(segment));
            if (msg.msg_controllen == 0) msg.msg_control = nullptr;
            g.datagrams = k;
            used_iov += k;
            first = i;
            ++n;
        }
        std::size_t done = 0;
        while (done < n) {
            int r = ::sendmmsg(sock->fd, msgs.data() + done, static_cast<unsigned>(n - done), MSG_DONTWAIT);
            if (r > 0) {
                for (int j = 0; j < r; ++j) sent += m[done + static_cast<std::size_t>(j)].datagrams;
                done += static_cast<std::size_t>(r);
                continue;
            }
            if (r < 0 && m[done].datagrams > 1) {
                std::size_t from = i;
                for (std::size_t j = n; j-- > done;) from -= m[j].datagrams;
                if (gso_unsupported(errno)) {
                    // For good: what is left goes one datagram per message.
                    gso_.store(false, std::memory_order_relaxed);
                    sent += send_run(batch.subspan(from, i - from), false);
                    break;
                }
                if (errno == EINVAL) {
                    // This run does not fit the path as GSO (a datagram above
                    // the MTU, fragmented when sent alone): only it goes singly.
                    sent += send_run(batch.subspan(from, m[done].datagrams), false);
                    ++done;
                    continue;
                }
            }
            break;
        }
    }
    return sent;
}

bool UdpSockets::set_mark(std::uint32_t mark) {
    bool ok = true;
    for (const auto& s : sockets_) ok = ::setsockopt(s.fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0 && ok;
    return ok;
}

std::optional<IpAddress> route_source(const IpAddress& remote, std::uint32_t mark) {
    int fd = ::socket(remote.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    if (mark != 0) (void)::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
    sockaddr_storage ss;
    socklen_t len = to_sockaddr(Endpoint{remote, 9}, ss);
    std::optional<IpAddress> out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
        sockaddr_storage local{};
        socklen_t llen = sizeof local;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0) out = from_sockaddr(local).address;
    }
    ::close(fd);
    return out;
}

}  // namespace mobiked::daemon
