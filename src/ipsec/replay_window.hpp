// Anti-replay window of RFC 4303 §3.4.3 with 64-bit extended sequence numbers
// (§2.2.1, Appendix A). A standalone unit (wireguard-go replay/replay.go):
// the receiver asks `check` before integrity verification and calls `update`
// only after the packet authenticated, so forged packets never move the window.
//
// The bitmap is a ring of 64-bit blocks (RFC 6479): sliding costs one block
// clear per 64 sequence numbers, whatever the window size.
#pragma once

#include <cstdint>
#include <vector>

namespace mobiked::ipsec {

class ReplayWindow {
public:
    enum class Verdict : std::uint8_t { ok, duplicate, too_old, zero };

    static constexpr std::uint32_t kDefaultSize = 1024;

    // `size` packets are tracked below the highest one received; rounded up
    // to a multiple of 64, at least 64. `esn` selects 64-bit reconstruction.
    explicit ReplayWindow(std::uint32_t size = kDefaultSize, bool esn = false);

    // Full 64-bit sequence number for a received low half (RFC 4303 A.2.2).
    // Without ESN the high half is always 0.
    std::uint64_t reconstruct(std::uint32_t seq_lo) const;

    // Would a packet with this (reconstructed) number be accepted? No state change.
    Verdict check(std::uint64_t seq) const;
    // Marks `seq` received and slides the window. Call after integrity passed
    // and check() said ok; returns false (and changes nothing) otherwise.
    bool update(std::uint64_t seq);

    std::uint64_t top() const { return top_; }
    std::uint32_t size() const { return size_; }
    bool esn() const { return esn_; }

private:
    std::uint64_t& block(std::uint64_t seq) { return bits_[(seq >> 6) % bits_.size()]; }
    const std::uint64_t& block(std::uint64_t seq) const { return bits_[(seq >> 6) % bits_.size()]; }

    std::vector<std::uint64_t> bits_;  // size_/64 + 1 blocks: one spare for the partial block
    std::uint64_t top_ = 0;            // highest authenticated sequence number (0: none yet)
    std::uint32_t size_;
    bool esn_;
};

}  // namespace mobiked::ipsec
