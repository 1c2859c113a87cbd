// Data-plane counters: packets and bytes each way, drops by reason. Transform
// failures (replay, auth_failed, ...) are counted per ipsec::Status; the
// reasons before a transform runs have their own names here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ipsec/constants.hpp"

namespace mobiked::dataplane {

enum class Drop : std::uint8_t {
    malformed,          // not an IP packet / ESP header too short
    too_big,            // larger than the receive buffer
    discard,            // DISCARD policy or no policy (RFC 4301 §5.1 default)
    bypass_in_tun,      // BYPASS traffic routed into the TUN: nowhere to send it in clear
    no_sa,              // policy bound to an SA that is gone
    acquire_queue_full, // packets beyond the ACQUIRE queue bound
    acquire_expired,    // queued for an SA that never came
    unknown_spi,        // inbound SAD miss
    transform,          // seal/open failed: see by_status
    send_failed,        // UDP/raw socket refused the packet
    tun_write_failed,   // the kernel refused the decapsulated packet
    path_mtu,           // too big for its SA's path: ICMP Fragmentation Needed / Packet Too Big sent back
    keepalive,          // NAT-T keepalives (not a failure; counted for visibility)
};
inline constexpr std::size_t kDropCount = static_cast<std::size_t>(Drop::keepalive) + 1;
std::string_view drop_name(Drop d);

struct Counters {
    std::uint64_t tun_packets_in = 0;   // read from the TUN (outbound cleartext)
    std::uint64_t tun_bytes_in = 0;
    std::uint64_t tun_packets_out = 0;  // written to the TUN (decapsulated)
    std::uint64_t tun_bytes_out = 0;
    std::uint64_t esp_packets_out = 0;  // sent (UDP-encapsulated or raw)
    std::uint64_t esp_bytes_out = 0;
    std::uint64_t esp_packets_in = 0;   // received, before any check
    std::uint64_t esp_bytes_in = 0;
    std::uint64_t acquires = 0;         // ACQUIRE requests sent to IKE
    std::uint64_t lifetime_events = 0;  // soft/hard lifetime events raised by traffic
    std::array<std::uint64_t, kDropCount> drops{};
    std::array<std::uint64_t, ipsec::kStatusCount> by_status{};

    void drop(Drop d) { ++drops[static_cast<std::size_t>(d)]; }
    void drop(ipsec::Status s) {
        drop(Drop::transform);
        ++by_status[static_cast<std::size_t>(s)];
    }
    std::uint64_t dropped() const {
        std::uint64_t n = 0;
        for (std::size_t i = 0; i < kDropCount; ++i)
            if (static_cast<Drop>(i) != Drop::keepalive) n += drops[i];
        return n;
    }
};

}  // namespace mobiked::dataplane
