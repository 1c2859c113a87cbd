#include "ipsec/replay_window.hpp"

#include <algorithm>

namespace mobiked::ipsec {

ReplayWindow::ReplayWindow(std::uint32_t size, bool esn)
    : size_(std::max<std::uint32_t>(64, (size + 63) / 64 * 64)), esn_(esn) {
    bits_.assign(size_ / 64 + 1, 0);
}

std::uint64_t ReplayWindow::reconstruct(std::uint32_t seq_lo) const {
    if (!esn_) return seq_lo;
    // RFC 4303 A.2.2: Tl/Th are the halves of the window top, W its size.
    const auto tl = static_cast<std::uint32_t>(top_);
    const auto th = static_cast<std::uint32_t>(top_ >> 32);
    const std::uint32_t w = size_;
    const std::uint32_t bottom = tl - w + 1;  // modulo 2^32 by design
    std::uint32_t seq_hi = 0;
    if (tl >= w - 1) {
        // Case A: the window lies inside one 2^32 subspace.
        seq_hi = seq_lo >= bottom ? th : th + 1;
    } else {
        // Case B: the window spans two subspaces (its bottom is in Th - 1).
        seq_hi = seq_lo >= bottom ? th - 1 : th;
        if (th == 0 && seq_lo >= bottom) return seq_lo;  // nothing below subspace 0
    }
    return (static_cast<std::uint64_t>(seq_hi) << 32) | seq_lo;
}

ReplayWindow::Verdict ReplayWindow::check(std::uint64_t seq) const {
    if (seq == 0) return Verdict::zero;  // never sent (RFC 4303 §3.3.3 starts at 1)
    if (seq > top_) return Verdict::ok;
    if (top_ - seq >= size_) return Verdict::too_old;
    return (block(seq) >> (seq & 63)) & 1 ? Verdict::duplicate : Verdict::ok;
}

bool ReplayWindow::update(std::uint64_t seq) {
    if (check(seq) != Verdict::ok) return false;
    if (seq > top_) {
        // Clear every block the window slides into (at most the whole ring).
        const std::uint64_t from = top_ >> 6;
        const std::uint64_t to = seq >> 6;
        const std::uint64_t n = std::min<std::uint64_t>(to - from, bits_.size());
        for (std::uint64_t i = 1; i <= n; ++i) bits_[(from + i) % bits_.size()] = 0;
        top_ = seq;
    }
    block(seq) |= std::uint64_t{1} << (seq & 63);
    return true;
}

}  // namespace mobiked::ipsec
