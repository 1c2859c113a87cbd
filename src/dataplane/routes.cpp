#include "dataplane/routes.hpp"

#include <ifaddrs.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mobiked::dataplane {
namespace {

__extension__ typedef unsigned __int128 u128;

u128 to_u128(const IpAddress& a) {
    u128 v = 0;
    for (std::uint8_t b : a.bytes()) v = v << 8 | b;
    return v;
}

IpAddress from_u128(u128 v, bool v4) {
    std::uint8_t raw[16];
    const std::size_t n = v4 ? 4 : 16;
    for (std::size_t i = n; i-- > 0;) {
        raw[i] = static_cast<std::uint8_t>(v & 0xff);
        v >>= 8;
    }
    return *IpAddress::from_bytes({raw, n});
}

// A netlink request buffer: header, fixed part, then attributes.
struct NlBuffer {
    alignas(nlmsghdr) std::uint8_t data[512]{};
    nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(data); }
    void attr(std::uint16_t type, const void* value, std::size_t len) {
        auto* a = reinterpret_cast<rtattr*>(data + NLMSG_ALIGN(hdr()->nlmsg_len));
        a->rta_type = type;
        a->rta_len = static_cast<std::uint16_t>(RTA_LENGTH(len));
        std::memcpy(RTA_DATA(a), value, len);
        hdr()->nlmsg_len = static_cast<std::uint32_t>(NLMSG_ALIGN(hdr()->nlmsg_len) + RTA_ALIGN(a->rta_len));
    }
    void attr32(std::uint16_t type, std::uint32_t v) { attr(type, &v, sizeof v); }
};

// Loopback and link-local addresses never name a tunnel's inner side.
bool usable_source(const IpAddress& a) {
    const ByteView b = a.bytes();
    if (a.is_v4()) return b[0] != 127;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;
    return *IpAddress::parse("::1") != a;
}

}  // namespace

std::vector<Prefix> range_to_prefixes(const AddressRange& r) {
    const bool v4 = r.first.is_v4();
    const int width = v4 ? 32 : 128;
    const u128 max = v4 ? (u128{1} << 32) - 1 : ~u128{0};
    u128 a = to_u128(r.first);
    const u128 b = to_u128(r.last);
    std::vector<Prefix> out;
    if (a > b || r.first.family() != r.last.family()) return out;
    if (a == 0 && b == max) return {Prefix{r.first, 0}};
    for (;;) {
        int k = 0;
        while (k + 1 < width) {
            const u128 size = u128{1} << (k + 1);
            if ((a & (size - 1)) != 0 || a + (size - 1) > b) break;
            ++k;
        }
        if (out.size() == kMaxPrefixesPerRange) return {};
        out.push_back(Prefix{from_u128(a, v4), static_cast<unsigned>(width - k)});
        const u128 last = a + ((u128{1} << k) - 1);
        if (last >= b) return out;
        a = last + 1;
    }
}

Rtnetlink::Rtnetlink() {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) return;
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd_);
        fd_ = -1;
    }
    timeval tv{1, 0};  // the kernel answers at once; bound the wait anyway
    if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

Rtnetlink::~Rtnetlink() {
    if (fd_ >= 0) ::close(fd_);
}

Status Rtnetlink::request(void* msg, std::size_t len) {
    if (fd_ < 0) return Error{"no rtnetlink socket"};
    auto* h = static_cast<nlmsghdr*>(msg);
    h->nlmsg_seq = ++seq_;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_, msg, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
        return Error{std::string("rtnetlink send: ") + std::strerror(errno)};
    alignas(nlmsghdr) std::uint8_t buf[4096];
    for (int tries = 0; tries < 8; ++tries) {  // skip stale answers of earlier requests
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0) return Error{std::string("rtnetlink recv: ") + std::strerror(errno)};
        auto* r = reinterpret_cast<nlmsghdr*>(buf);
        if (!NLMSG_OK(r, static_cast<unsigned>(n)) || r->nlmsg_type != NLMSG_ERROR) continue;
        if (r->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return Error{"rtnetlink: short error message"};
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(r));
        if (r->nlmsg_seq != seq_) continue;
        if (e->error == 0) return {};
        return Error{std::strerror(-e->error)};
    }
    return Error{"rtnetlink: no acknowledgement"};
}

Status Rtnetlink::route(bool add, const Prefix& dst, int ifindex, std::uint32_t table, const IpAddress& src,
                        unsigned mtu) {
    NlBuffer b;
    b.hdr()->nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    b.hdr()->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    b.hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
    auto* rt = static_cast<rtmsg*>(NLMSG_DATA(b.hdr()));
    rt->rtm_family = dst.base.is_v4() ? AF_INET : AF_INET6;
    rt->rtm_dst_len = static_cast<unsigned char>(dst.length);
    rt->rtm_table = table < 256 ? static_cast<unsigned char>(table) : static_cast<unsigned char>(RT_TABLE_UNSPEC);
    rt->rtm_protocol = RTPROT_STATIC;
    rt->rtm_scope = RT_SCOPE_LINK;
    rt->rtm_type = RTN_UNICAST;
    if (dst.length > 0) b.attr(RTA_DST, dst.base.bytes().data(), dst.base.size());
    b.attr32(RTA_OIF, static_cast<std::uint32_t>(ifindex));
    b.attr32(RTA_TABLE, table);
    if (!src.is_unspecified() && src.family() == dst.base.family())
        b.attr(RTA_PREFSRC, src.bytes().data(), src.size());
    if (add && mtu != 0) {
        // RTA_METRICS nests one RTAX_MTU attribute.
        alignas(rtattr) std::uint8_t nested[RTA_SPACE(sizeof(std::uint32_t))]{};
        auto* m = reinterpret_cast<rtattr*>(nested);
        m->rta_type = RTAX_MTU;
        m->rta_len = RTA_LENGTH(sizeof(std::uint32_t));
        const std::uint32_t v = mtu;
        std::memcpy(RTA_DATA(m), &v, sizeof v);
        b.attr(RTA_METRICS, nested, sizeof nested);
    }
    return request(b.data, b.hdr()->nlmsg_len);
}

Status Rtnetlink::address(bool add, int ifindex, const IpAddress& a) {
    NlBuffer b;
    b.hdr()->nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
    b.hdr()->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
    b.hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
    auto* ifa = static_cast<ifaddrmsg*>(NLMSG_DATA(b.hdr()));
    ifa->ifa_family = a.is_v4() ? AF_INET : AF_INET6;
    ifa->ifa_prefixlen = static_cast<unsigned char>(a.is_v4() ? 32 : 128);
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = static_cast<unsigned>(ifindex);
    if (!a.is_v4()) ifa->ifa_flags = IFA_F_NODAD;
    b.attr(IFA_LOCAL, a.bytes().data(), a.size());
    b.attr(IFA_ADDRESS, a.bytes().data(), a.size());
    if (!a.is_v4()) b.attr32(IFA_FLAGS, IFA_F_NODAD);
    return request(b.data, b.hdr()->nlmsg_len);
}

Status Rtnetlink::rule(bool add, IpAddress::Family family, std::uint32_t mark, std::uint32_t table,
                       std::uint32_t priority) {
    NlBuffer b;
    b.hdr()->nlmsg_len = NLMSG_LENGTH(sizeof(fib_rule_hdr));
    b.hdr()->nlmsg_type = add ? RTM_NEWRULE : RTM_DELRULE;
    b.hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
    auto* r = static_cast<fib_rule_hdr*>(NLMSG_DATA(b.hdr()));
    r->family = family == IpAddress::Family::v4 ? AF_INET : AF_INET6;
    r->action = FR_ACT_TO_TBL;
    r->flags = FIB_RULE_INVERT;
    r->table = table < 256 ? static_cast<std::uint8_t>(table) : static_cast<std::uint8_t>(RT_TABLE_UNSPEC);
    b.attr32(FRA_TABLE, table);
    b.attr32(FRA_PRIORITY, priority);
    b.attr32(FRA_FWMARK, mark);
    b.attr32(FRA_FWMASK, 0xffffffff);
    return request(b.data, b.hdr()->nlmsg_len);
}

Status Rtnetlink::set_gso_max_segs(int ifindex, std::uint32_t segments) {
    NlBuffer b;
    b.hdr()->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    b.hdr()->nlmsg_type = RTM_NEWLINK;
    b.hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(b.hdr()));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    b.attr32(IFLA_GSO_MAX_SEGS, segments);
    return request(b.data, b.hdr()->nlmsg_len);
}

RouteSet::~RouteSet() {
    for (const auto& [key, n] : refs_) (void)nl_.route(false, key.first, ifindex_, table_, key.second);
}

Status RouteSet::acquire(const Prefix& p, const IpAddress& src, unsigned mtu) {
    if (refs_[{p, src}]++ > 0) return {};
    return nl_.route(true, p, ifindex_, table_, src, mtu);
}

void RouteSet::release(const Prefix& p, const IpAddress& src) {
    auto it = refs_.find({p, src});
    if (it == refs_.end()) return;
    if (--it->second > 0) return;
    refs_.erase(it);
    (void)nl_.route(false, p, ifindex_, table_, src);
}

std::optional<IpAddress> local_address_in(const AddressRange& r) {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return std::nullopt;
    std::optional<IpAddress> out;
    for (ifaddrs* i = list; i != nullptr && !out; i = i->ifa_next) {
        if (i->ifa_addr == nullptr) continue;
        std::optional<IpAddress> a;
        if (i->ifa_addr->sa_family == AF_INET)
            a = IpAddress::from_bytes(
                {reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr), 4});
        else if (i->ifa_addr->sa_family == AF_INET6)
            a = IpAddress::from_bytes({reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr.s6_addr, 16});
        if (a && r.contains(*a) && usable_source(*a)) out = a;
    }
    ::freeifaddrs(list);
    return out;
}

}  // namespace mobiked::dataplane
