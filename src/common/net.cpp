#include "common/net.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace mobiked {

IpAddress IpAddress::v4(std::uint32_t host_order) {
    IpAddress a;
    store_be32(a.raw_.data(), host_order);
    return a;
}

std::optional<IpAddress> IpAddress::from_bytes(ByteView raw) {
    if (raw.size() != 4 && raw.size() != 16) return std::nullopt;
    IpAddress a;
    a.family_ = raw.size() == 4 ? Family::v4 : Family::v6;
    std::memcpy(a.raw_.data(), raw.data(), raw.size());
    return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN] = {};
    std::memcpy(buf, text.data(), text.size());
    IpAddress a;
    if (inet_pton(AF_INET, buf, a.raw_.data()) == 1) return a;
    if (inet_pton(AF_INET6, buf, a.raw_.data()) == 1) {
        a.family_ = Family::v6;
        return a;
    }
    return std::nullopt;
}

bool IpAddress::is_unspecified() const {
    for (std::size_t i = 0; i < size(); ++i)
        if (raw_[i]) return false;
    return true;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(is_v4() ? AF_INET : AF_INET6, raw_.data(), buf, sizeof buf);
    return buf;
}

std::string Endpoint::to_string() const {
    if (address.is_v4()) return address.to_string() + ":" + std::to_string(port);
    return "[" + address.to_string() + "]:" + std::to_string(port);
}

std::optional<AddressRange> AddressRange::from_prefix(const IpAddress& base, unsigned prefix_len) {
    const unsigned bits = static_cast<unsigned>(base.size() * 8);
    if (prefix_len > bits) return std::nullopt;
    Bytes lo = to_bytes(base.bytes()), hi = lo;
    for (unsigned i = prefix_len; i < bits; ++i) {
        const auto mask = static_cast<std::uint8_t>(0x80u >> (i % 8));
        lo[i / 8] &= static_cast<std::uint8_t>(~mask);
        hi[i / 8] |= mask;
    }
    return AddressRange{*IpAddress::from_bytes(lo), *IpAddress::from_bytes(hi)};
}

AddressRange AddressRange::any(IpAddress::Family f) {
    Bytes zero(f == IpAddress::Family::v4 ? 4 : 16, 0), ones(zero.size(), 0xff);
    return {*IpAddress::from_bytes(zero), *IpAddress::from_bytes(ones)};
}

// Returns the prefix length if [first,last] is exactly one CIDR block.
static std::optional<unsigned> prefix_of(const AddressRange& r) {
    auto lo = r.first.bytes(), hi = r.last.bytes();
    const unsigned bits = static_cast<unsigned>(lo.size() * 8);
    unsigned len = 0;
    while (len < bits && ((lo[len / 8] ^ hi[len / 8]) & (0x80u >> (len % 8))) == 0) ++len;
    for (unsigned i = len; i < bits; ++i) {
        const unsigned m = 0x80u >> (i % 8);
        if ((lo[i / 8] & m) != 0 || (hi[i / 8] & m) == 0) return std::nullopt;
    }
    return len;
}

std::string AddressRange::to_string() const {
    if (auto len = prefix_of(*this)) return first.to_string() + "/" + std::to_string(*len);
    return first.to_string() + "-" + last.to_string();
}

}  // namespace mobiked
