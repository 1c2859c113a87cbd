// NAT detection (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP | port).
#pragma once

#include <cstdint>

#include <vector>

#include "common/net.hpp"
#include "wire/message.hpp"

namespace mobiked::ike {

Bytes nat_detection_hash(std::uint64_t spi_i, std::uint64_t spi_r, const Endpoint& ep);

// From a message's NAT_DETECTION_* notifies: the peer is behind a NAT unless
// one SOURCE hash matches the address we saw it from; we are unless the
// DESTINATION hash matches our own address. False when the notifies are absent.
bool peer_behind_nat(const std::vector<wire::Payload>& p, std::uint64_t spi_i, std::uint64_t spi_r,
                     const Endpoint& remote);
bool we_are_behind_nat(const std::vector<wire::Payload>& p, std::uint64_t spi_i, std::uint64_t spi_r,
                       const Endpoint& local);

}  // namespace mobiked::ike
