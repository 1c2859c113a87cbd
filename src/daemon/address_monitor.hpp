// The host's usable local addresses, kept current from rtnetlink
// (RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK, and the main table's
// routes: RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE) inside the epoll loop.
//
// Usable: on a link that is up (IFF_UP and IFF_RUNNING), not a loopback
// address (127/8, ::1, host scope; global addresses on lo count), not IPv6
// link-local, not tentative / deprecated / DAD-failed, and not on one of the
// ignored interfaces (our own TUN device). The path manager reads the
// set after each change; there is no batching delay.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"

namespace mobiked::daemon {

using AddressSet = std::set<IpAddress>;

// One netlink message's meaning, for the log and the unit tests.
struct AddressChange {
    // route_changed: a main-table route came or went (the preferred source
    // towards a peer may differ now); at most one per netlink read.
    enum class Kind { added, removed, link_up, link_down, route_changed };
    Kind kind = Kind::added;
    IpAddress address;  // unset for link changes
    int ifindex = 0;
    std::string ifname;
};
std::string to_string(const AddressChange& c);

// The parsing and bookkeeping half, fed raw netlink buffers (unit-testable).
class AddressTable {
public:
    explicit AddressTable(std::set<std::string> ignored_ifnames = {}) : ignored_(std::move(ignored_ifnames)) {}
    // Applies every RTM_NEWADDR / RTM_DELADDR / RTM_NEWLINK / RTM_DELLINK in
    // `buf` (one recv()'s worth); appends what changed the usable set.
    void apply(const std::uint8_t* buf, std::size_t len, std::vector<AddressChange>& changes);
    AddressSet usable() const;
    // The interface an address is on; 0 if unknown.
    int ifindex_of(const IpAddress& a) const {
        auto it = addrs_.find(a);
        return it == addrs_.end() ? 0 : it->second.ifindex;
    }
    // On a loopback device (a service address, not an uplink).
    bool on_loopback(const IpAddress& a) const {
        auto l = links_.find(ifindex_of(a));
        return l != links_.end() && l->second.loopback;
    }
    void ignore(const std::string& ifname) { ignored_.insert(ifname); }
    void clear_addresses() { addrs_.clear(); }

private:
    struct Addr {
        int ifindex = 0;
        bool usable_flags = false;  // not tentative/deprecated/dadfailed, not link-local
    };
    struct Link {
        std::string name;
        bool up = false;
        bool loopback = false;
    };
    bool usable(const IpAddress& a, const Addr& x) const;
    std::map<IpAddress, Addr> addrs_;
    std::map<int, Link> links_;
    std::set<std::string> ignored_;
};

class AddressMonitor {
public:
    explicit AddressMonitor(std::set<std::string> ignored_ifnames = {}) : table_(std::move(ignored_ifnames)) {}
    ~AddressMonitor();
    AddressMonitor(const AddressMonitor&) = delete;
    AddressMonitor& operator=(const AddressMonitor&) = delete;

    // Subscribes, then dumps the current links and addresses (synchronously).
    Status open();
    int fd() const { return fd_; }
    // Reads every pending notification; returns what changed the usable set.
    std::vector<AddressChange> on_readable();
    AddressSet addresses() const { return table_.usable(); }
    int ifindex_of(const IpAddress& a) const { return table_.ifindex_of(a); }
    bool on_loopback(const IpAddress& a) const { return table_.on_loopback(a); }
    void ignore_interface(const std::string& name) { table_.ignore(name); }

private:
    Status dump(std::uint16_t type, std::uint8_t family);
    int fd_ = -1;
    AddressTable table_;
};

}  // namespace mobiked::daemon
