// Source addresses that must leave through a given interface.
//
// A host with two uplinks routes by destination: after a silent failure of
// the preferred link, a datagram sent *from* the other link's address would
// still leave through the dead link. When MOBIKE fails over to an address
// that is not the route's preferred source, the path manager pins that
// address to its interface here, and the senders put the interface index in
// IP_PKTINFO / IPV6_PKTINFO so the kernel routes through it (ip(7), ipv6(7)).
// A handful of entries at most: a linear scan, free when empty.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "common/net.hpp"

namespace mobiked {

class SourcePins {
public:
    void set(const IpAddress& a, int ifindex) {
        for (auto& [addr, index] : pins_)
            if (addr == a) {
                index = ifindex;
                return;
            }
        pins_.emplace_back(a, ifindex);
    }
    void clear(const IpAddress& a) {
        std::erase_if(pins_, [&](const auto& p) { return p.first == a; });
    }
    void clear_all() { pins_.clear(); }
    // 0 when the address is not pinned (the kernel picks the interface).
    int ifindex(const IpAddress& a) const {
        for (const auto& [addr, index] : pins_)
            if (addr == a) return index;
        return 0;
    }
    bool empty() const { return pins_.empty(); }
    const std::vector<std::pair<IpAddress, int>>& all() const { return pins_; }

private:
    std::vector<std::pair<IpAddress, int>> pins_;
};

}  // namespace mobiked
