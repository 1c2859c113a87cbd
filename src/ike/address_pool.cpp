#include "ike/address_pool.hpp"

#include <algorithm>

namespace mobiked::ike {

namespace {

// Number of addresses in the range, capped (the low 32 bits of last - first + 1).
std::uint32_t range_size(const AddressRange& r) {
    auto a = r.first.bytes(), b = r.last.bytes();
    for (std::size_t i = 0; i + 4 < a.size(); ++i)
        if (a[i] != b[i]) return AddressPool::kMaxAddresses;  // wider than 32 bits
    const std::uint64_t span = std::uint64_t(load_be32(b.data() + b.size() - 4)) -
                               load_be32(a.data() + a.size() - 4) + 1;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(span, AddressPool::kMaxAddresses));
}

}  // namespace

AddressPool::AddressPool(std::string name, AddressRange range)
    : name_(std::move(name)), range_(range), size_(range_size(range)), holder_(size_), refs_(size_, 0) {}

IpAddress AddressPool::at(std::uint32_t offset) const {
    Bytes raw = to_bytes(range_.first.bytes());
    std::uint64_t carry = offset;
    for (std::size_t i = raw.size(); i-- > 0 && carry;) {
        carry += raw[i];
        raw[i] = static_cast<std::uint8_t>(carry);
        carry >>= 8;
    }
    return *IpAddress::from_bytes(raw);
}

std::optional<std::uint32_t> AddressPool::free_offset() {
    if (next_unused_ < size_) return next_unused_++;
    // Every address was used once: take back the one of an offline lease.
    for (std::uint32_t o = 0; o < size_; ++o)
        if (refs_[o] == 0) {
            lease_.erase(holder_[o]);
            return o;
        }
    return std::nullopt;
}

std::optional<IpAddress> AddressPool::acquire(const std::string& identity) {
    std::uint32_t offset;
    if (auto it = lease_.find(identity); it != lease_.end()) {
        // Two SAs of one identity at once (e.g. make-before-break) share it.
        offset = it->second;
        if (refs_[offset] == 0) ++online_;
    } else {
        auto o = free_offset();
        if (!o) return std::nullopt;
        offset = *o;
        lease_[identity] = offset;
        holder_[offset] = identity;
        ++online_;
    }
    ++refs_[offset];
    return at(offset);
}

void AddressPool::release(const std::string& identity) {
    auto it = lease_.find(identity);
    if (it == lease_.end() || refs_[it->second] == 0) return;
    if (--refs_[it->second] == 0) --online_;
}

}  // namespace mobiked::ike
