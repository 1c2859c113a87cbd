// IP addresses and transport endpoints as plain values (no sockets here).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.hpp"

namespace mobiked {

class IpAddress {
public:
    enum class Family : std::uint8_t { v4 = 4, v6 = 6 };

    IpAddress() = default;  // 0.0.0.0
    static IpAddress v4(std::uint32_t host_order);
    static std::optional<IpAddress> from_bytes(ByteView raw);  // 4 or 16 bytes
    static std::optional<IpAddress> parse(std::string_view text);

    Family family() const { return family_; }
    bool is_v4() const { return family_ == Family::v4; }
    std::size_t size() const { return is_v4() ? 4 : 16; }
    ByteView bytes() const { return {raw_.data(), size()}; }
    bool is_unspecified() const;
    std::string to_string() const;

    auto operator<=>(const IpAddress&) const = default;

private:
    Family family_ = Family::v4;
    std::array<std::uint8_t, 16> raw_{};
};

struct Endpoint {
    IpAddress address;
    std::uint16_t port = 0;

    std::string to_string() const;
    auto operator<=>(const Endpoint&) const = default;
};

// Inclusive address range of one family, as traffic selectors carry it.
struct AddressRange {
    IpAddress first;
    IpAddress last;
    static std::optional<AddressRange> from_prefix(const IpAddress& base, unsigned prefix_len);
    static AddressRange any(IpAddress::Family f);
    bool contains(const IpAddress& a) const { return first <= a && a <= last && a.family() == first.family(); }
    std::string to_string() const;  // "10.0.0.0/24" when a prefix, else "a-b"
    auto operator<=>(const AddressRange&) const = default;
};

}  // namespace mobiked
