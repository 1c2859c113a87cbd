// SA lifetimes (RFC 4301 §4.4.2.1): soft and hard limits in bytes, packets
// and seconds, plus sequence-number exhaustion (RFC 4303 §3.3.3). Each limit
// raises its event once; the data plane turns soft events into rekey
// requests and hard events into deletes for the IKE engine. After a hard
// event the SA is expired and must carry no more traffic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/time.hpp"

namespace mobiked::ipsec {

// A set of lifetime events, as bits.
enum class SaEvent : std::uint16_t {
    soft_bytes = 1 << 0,
    hard_bytes = 1 << 1,
    soft_packets = 1 << 2,
    hard_packets = 1 << 3,
    soft_time = 1 << 4,
    hard_time = 1 << 5,
    seq_soft = 1 << 6,  // outbound counter nearly exhausted: rekey now
    seq_hard = 1 << 7,  // counter exhausted: no more packets on this SA
};
struct EventSet {
    std::uint16_t bits = 0;
    bool has(SaEvent e) const { return (bits & static_cast<std::uint16_t>(e)) != 0; }
    void add(SaEvent e) { bits |= static_cast<std::uint16_t>(e); }
    void add(EventSet o) { bits |= o.bits; }
    bool empty() const { return bits == 0; }
    bool any_soft() const { return (bits & 0x55) != 0; }
    bool any_hard() const { return (bits & 0xaa) != 0; }
    std::string to_string() const;  // "soft_bytes,hard_time", for logs
};

// Zero means "no limit". Soft limits should be below the hard ones.
struct LifetimeLimits {
    std::uint64_t soft_bytes = 0;
    std::uint64_t hard_bytes = 0;
    std::uint64_t soft_packets = 0;
    std::uint64_t hard_packets = 0;
    Duration soft_time{0};
    Duration hard_time{0};
};

class Lifetime {
public:
    Lifetime(const LifetimeLimits& limits, Time installed) : limits_(limits), installed_(installed) {}

    // Counts one packet of `bytes` at `now`; returns the events that fired now.
    EventSet account(std::uint64_t bytes, Time now);
    // Time-based limits only (the caller polls at next_deadline()).
    EventSet poll(Time now);
    // Raises an event not tied to counting (the sequence-number limits).
    EventSet raise(SaEvent e);
    // Earliest instant a not-yet-fired time limit fires; nullopt if none.
    std::optional<Time> next_deadline() const;

    bool expired() const { return expired_; }
    std::uint64_t bytes() const { return bytes_; }
    std::uint64_t packets() const { return packets_; }
    EventSet fired() const { return fired_; }

private:
    EventSet fire_if(bool cond, SaEvent e);

    LifetimeLimits limits_;
    Time installed_;
    std::uint64_t bytes_ = 0;
    std::uint64_t packets_ = 0;
    EventSet fired_;
    bool expired_ = false;
};

}  // namespace mobiked::ipsec
