// Inner-address pools for the Configuration Payload (RFC 7296 §3.15).
// An identity gets the same address back when it reconnects (its lease is
// kept, offline, after its SA goes); an address is never online twice. Pools
// are bounded: at most kMaxAddresses addresses per pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"

namespace mobiked::ike {

class AddressPool {
public:
    static constexpr std::uint32_t kMaxAddresses = 1u << 20;

    AddressPool(std::string name, AddressRange range);

    const std::string& name() const { return name_; }
    IpAddress::Family family() const { return range_.first.family(); }
    std::uint32_t size() const { return size_; }
    std::uint32_t online() const { return online_; }

    // The identity's previous address if free, else the lowest free one;
    // nullopt when every address is online.
    std::optional<IpAddress> acquire(const std::string& identity);
    // Marks the identity's address offline; it stays reserved for the
    // identity until another one needs it (the pool is full otherwise).
    void release(const std::string& identity);

private:
    IpAddress at(std::uint32_t offset) const;
    std::optional<std::uint32_t> free_offset();

    std::string name_;
    AddressRange range_;
    std::uint32_t size_ = 0;
    std::uint32_t online_ = 0;
    std::uint32_t next_unused_ = 0;  // offsets below this were handed out at least once
    std::unordered_map<std::string, std::uint32_t> lease_;  // identity -> offset
    std::vector<std::string> holder_;                        // offset -> identity ("" = never used)
    std::vector<std::uint16_t> refs_;  // SAs using the address; 0 = offline
};

}  // namespace mobiked::ike
