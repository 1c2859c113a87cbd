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
#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "common/net.hpp"

namespace mobiked {

// Written by the event loop, read by every thread that sends ESP (the
// data-plane workers too): a mutex, skipped while nothing is pinned.
class SourcePins {
public:
    void set(const IpAddress& a, int ifindex) {
        std::lock_guard g(mu_);
        for (auto& [addr, index] : pins_)
            if (addr == a) {
                index = ifindex;
                return;
            }
        pins_.emplace_back(a, ifindex);
        count_.store(pins_.size(), std::memory_order_release);
    }
    void clear(const IpAddress& a) {
        std::lock_guard g(mu_);
        std::erase_if(pins_, [&](const auto& p) { return p.first == a; });
        count_.store(pins_.size(), std::memory_order_release);
    }
    void clear_all() {
        std::lock_guard g(mu_);
        pins_.clear();
        count_.store(0, std::memory_order_release);
    }
    // 0 when the address is not pinned (the kernel picks the interface).
    int ifindex(const IpAddress& a) const {
        if (empty()) return 0;
        std::lock_guard g(mu_);
        for (const auto& [addr, index] : pins_)
            if (addr == a) return index;
        return 0;
    }
    bool empty() const { return count_.load(std::memory_order_acquire) == 0; }
    std::vector<std::pair<IpAddress, int>> all() const {
        std::lock_guard g(mu_);
        return pins_;
    }

private:
    mutable std::mutex mu_;
    std::atomic<std::size_t> count_{0};
    std::vector<std::pair<IpAddress, int>> pins_;
};

}  // namespace mobiked
