// A view of one packet inside a caller-owned buffer with headroom in front
// and tailroom behind, so ESP/AH can add headers and trailers in place
// without allocating. The buffer memory is owned by the caller and must
// outlive the PacketBuffer; nothing here frees or reallocates it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.hpp"

namespace mobiked::ipsec {

// Headroom enough for outer IPv6 + UDP + ESP header + CBC IV (40+8+8+16),
// rounded up; tailroom enough for CBC padding + trailer + the largest ICV.
inline constexpr std::size_t kMinHeadroom = 128;
inline constexpr std::size_t kMinTailroom = 64;

class PacketBuffer {
public:
    // `storage` is the whole buffer; the packet occupies [offset, offset+length).
    PacketBuffer(std::span<std::uint8_t> storage, std::size_t offset, std::size_t length)
        : base_(storage.data()), capacity_(storage.size()), off_(offset), len_(length) {}

    std::uint8_t* data() { return base_ + off_; }
    const std::uint8_t* data() const { return base_ + off_; }
    std::size_t size() const { return len_; }
    ByteView view() const { return {data(), len_}; }
    std::span<std::uint8_t> span() { return {data(), len_}; }
    std::size_t headroom() const { return off_; }
    std::size_t tailroom() const { return capacity_ - off_ - len_; }

    // Each returns false (and changes nothing) when the room is missing.
    bool push_front(std::size_t n) {
        if (n > off_) return false;
        off_ -= n;
        len_ += n;
        return true;
    }
    bool pull_front(std::size_t n) {
        if (n > len_) return false;
        off_ += n;
        len_ -= n;
        return true;
    }
    bool push_back(std::size_t n) {
        if (n > tailroom()) return false;
        len_ += n;
        return true;
    }
    bool trim_back(std::size_t n) {
        if (n > len_) return false;
        len_ -= n;
        return true;
    }

private:
    std::uint8_t* base_;
    std::size_t capacity_;
    std::size_t off_;
    std::size_t len_;
};

}  // namespace mobiked::ipsec
