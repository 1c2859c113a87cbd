#include "daemon/address_monitor.hpp"

// NLMSG_OK from <linux/netlink.h> compares the u32 nlmsg_len with an int
// length; clang flags that inside the macro. Our lengths are bounded first.
#pragma GCC diagnostic ignored "-Wsign-compare"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mobiked::daemon {

namespace {

constexpr std::size_t kRecvBuffer = 64 * 1024;

bool link_local_v6(const IpAddress& a) {
    if (a.is_v4()) return false;
    auto b = a.bytes();
    return b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}

bool loopback_address(const IpAddress& a) {
    auto b = a.bytes();
    if (a.is_v4()) return b[0] == 127;
    return *IpAddress::parse("::1") == a;
}

}  // namespace

std::string to_string(const AddressChange& c) {
    switch (c.kind) {
        case AddressChange::Kind::added: return "address " + c.address.to_string() + " added on " + c.ifname;
        case AddressChange::Kind::removed: return "address " + c.address.to_string() + " gone from " + c.ifname;
        case AddressChange::Kind::link_up: return "link " + c.ifname + " up";
        case AddressChange::Kind::link_down: return "link " + c.ifname + " down";
        case AddressChange::Kind::route_changed: return "routes changed (" + c.ifname + ")";
    }
    return "?";
}

bool AddressTable::usable(const IpAddress& a, const Addr& x) const {
    if (!x.usable_flags || loopback_address(a)) return false;
    auto l = links_.find(x.ifindex);
    // An address seen before its link (dump order) counts; the link message follows.
    if (l == links_.end()) return true;
    // Global addresses on lo count (a router's loopback address can be its IKE
    // address); 127/8, ::1 and host-scope ones do not.
    return (l->second.up || l->second.loopback) && !ignored_.contains(l->second.name);
}

AddressSet AddressTable::usable() const {
    AddressSet s;
    for (const auto& [a, x] : addrs_)
        if (usable(a, x)) s.insert(a);
    return s;
}

void AddressTable::apply(const std::uint8_t* buf, std::size_t len, std::vector<AddressChange>& changes) {
    const AddressSet before = usable();
    std::map<int, bool> link_before;
    for (const auto& [i, l] : links_) link_before[i] = l.up;
    auto name_of = [&](int ifindex) {
        auto l = links_.find(ifindex);
        return l == links_.end() ? "if" + std::to_string(ifindex) : l->second.name;
    };
    std::map<IpAddress, int> where;  // for the change report of removed addresses
    for (const auto& [a, x] : addrs_) where[a] = x.ifindex;

    bool route_changed = false;
    int route_oif = 0;
    int left = static_cast<int>(std::min<std::size_t>(len, 1 << 30));
    for (auto* nh = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
        if (nh->nlmsg_type == RTM_NEWADDR || nh->nlmsg_type == RTM_DELADDR) {
            if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) continue;
            const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(nh));
            if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) continue;
            std::uint32_t flags = ifa->ifa_flags;
            std::optional<IpAddress> local, address;
            int alen = static_cast<int>(IFA_PAYLOAD(nh));
            for (auto* rta = IFA_RTA(ifa); RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
                ByteView v{static_cast<const std::uint8_t*>(RTA_DATA(rta)), RTA_PAYLOAD(rta)};
                if (rta->rta_type == IFA_LOCAL) local = IpAddress::from_bytes(v);
                else if (rta->rta_type == IFA_ADDRESS) address = IpAddress::from_bytes(v);
                else if (rta->rta_type == IFA_FLAGS && v.size() >= 4) std::memcpy(&flags, v.data(), 4);
            }
            // IFA_LOCAL is ours on point-to-point links; IFA_ADDRESS otherwise.
            auto a = local ? local : address;
            if (!a) continue;
            if (nh->nlmsg_type == RTM_DELADDR) {
                addrs_.erase(*a);
                continue;
            }
            bool ok = !(flags & (IFA_F_TENTATIVE | IFA_F_DEPRECATED | IFA_F_DADFAILED)) && !link_local_v6(*a) &&
                      ifa->ifa_scope != RT_SCOPE_HOST;
            addrs_[*a] = Addr{static_cast<int>(ifa->ifa_index), ok};
            where[*a] = static_cast<int>(ifa->ifa_index);
        } else if (nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK) {
            if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) continue;
            const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(nh));
            if (nh->nlmsg_type == RTM_DELLINK) {
                for (auto it = addrs_.begin(); it != addrs_.end();)
                    it = it->second.ifindex == ifi->ifi_index ? addrs_.erase(it) : std::next(it);
                links_.erase(ifi->ifi_index);
                continue;
            }
            Link& l = links_[ifi->ifi_index];
            int alen = static_cast<int>(IFLA_PAYLOAD(nh));
            for (auto* rta = IFLA_RTA(ifi); RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen))
                if (rta->rta_type == IFLA_IFNAME)
                    l.name.assign(static_cast<const char*>(RTA_DATA(rta)), strnlen(static_cast<const char*>(RTA_DATA(rta)), RTA_PAYLOAD(rta)));
            l.up = (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_RUNNING);
            l.loopback = ifi->ifi_flags & IFF_LOOPBACK;
        } else if (nh->nlmsg_type == RTM_NEWROUTE || nh->nlmsg_type == RTM_DELROUTE) {
            // Only the main table: the data plane's own table (and policy
            // tables of others) say nothing about the path to a peer.
            if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) continue;
            const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(nh));
            if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) continue;
            std::uint32_t table = rt->rtm_table;
            int oif = 0;
            int alen = static_cast<int>(RTM_PAYLOAD(nh));
            for (auto* rta = RTM_RTA(rt); RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
                if (rta->rta_type == RTA_TABLE && RTA_PAYLOAD(rta) >= 4) std::memcpy(&table, RTA_DATA(rta), 4);
                if (rta->rta_type == RTA_OIF && RTA_PAYLOAD(rta) >= 4) std::memcpy(&oif, RTA_DATA(rta), 4);
            }
            if (table != RT_TABLE_MAIN || rt->rtm_type != RTN_UNICAST) continue;
            if (auto l = links_.find(oif); l != links_.end() && ignored_.contains(l->second.name)) continue;
            route_changed = true;
            route_oif = oif;
        }
    }
    if (route_changed) changes.push_back({AddressChange::Kind::route_changed, {}, route_oif, name_of(route_oif)});

    for (const auto& [i, l] : links_) {
        auto b = link_before.find(i);
        bool was = b != link_before.end() && b->second;
        if (was != l.up && !l.loopback && b != link_before.end())
            changes.push_back({l.up ? AddressChange::Kind::link_up : AddressChange::Kind::link_down, {}, i, l.name});
    }
    const AddressSet after = usable();
    for (const auto& a : before)
        if (!after.contains(a)) changes.push_back({AddressChange::Kind::removed, a, where[a], name_of(where[a])});
    for (const auto& a : after)
        if (!before.contains(a)) changes.push_back({AddressChange::Kind::added, a, where[a], name_of(where[a])});
}

AddressMonitor::~AddressMonitor() {
    if (fd_ >= 0) ::close(fd_);
}

Status AddressMonitor::open() {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) return Error{std::string("rtnetlink socket: ") + std::strerror(errno)};
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
        return Error{std::string("rtnetlink bind: ") + std::strerror(errno)};
    int rcvbuf = 1 << 20;
    (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    // Subscribed first, then dumped: a change racing the dump is applied twice, harmlessly.
    if (auto st = dump(RTM_GETLINK, AF_UNSPEC); !st) return st;
    if (auto st = dump(RTM_GETADDR, AF_UNSPEC); !st) return st;
    return {};
}

// A dump on its own socket, so the subscription's messages never mix with it.
Status AddressMonitor::dump(std::uint16_t type, std::uint8_t family) {
    int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return Error{std::string("rtnetlink socket: ") + std::strerror(errno)};
    timeval tv{2, 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct {
        nlmsghdr nh;
        rtgenmsg g;
    } req{};
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(rtgenmsg));
    req.nh.nlmsg_type = type;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = 1;
    req.g.rtgen_family = family;
    if (::send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
        ::close(fd);
        return Error{std::string("rtnetlink dump: ") + std::strerror(errno)};
    }
    std::vector<std::uint8_t> buf(kRecvBuffer);
    std::vector<AddressChange> ignored;
    for (int rounds = 0; rounds < 10000; ++rounds) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) {
            ::close(fd);
            return Error{std::string("rtnetlink dump: ") + (n < 0 ? std::strerror(errno) : "closed")};
        }
        bool done = false;
        int left = static_cast<int>(n);
        for (auto* nh = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left))
            if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) done = true;
        table_.apply(buf.data(), static_cast<std::size_t>(n), ignored);
        if (done) break;
    }
    ::close(fd);
    return {};
}

std::vector<AddressChange> AddressMonitor::on_readable() {
    std::vector<AddressChange> changes;
    std::vector<std::uint8_t> buf(kRecvBuffer);
    for (int rounds = 0; rounds < 64; ++rounds) {
        ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0 && errno == ENOBUFS) {
            // Lost notifications: rebuild the table from a fresh dump.
            AddressSet before = table_.usable();
            table_.clear_addresses();
            (void)dump(RTM_GETLINK, AF_UNSPEC);
            (void)dump(RTM_GETADDR, AF_UNSPEC);
            AddressSet after = table_.usable();
            for (const auto& a : before)
                if (!after.contains(a)) changes.push_back({AddressChange::Kind::removed, a, 0, "?"});
            for (const auto& a : after)
                if (!before.contains(a)) changes.push_back({AddressChange::Kind::added, a, 0, "?"});
            continue;
        }
        if (n <= 0) break;
        table_.apply(buf.data(), static_cast<std::size_t>(n), changes);
    }
    return changes;
}

}  // namespace mobiked::daemon
