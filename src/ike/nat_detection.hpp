// NAT detection (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP | port).
#pragma once

#include <cstdint>

#include "common/net.hpp"

namespace mobiked::ike {

Bytes nat_detection_hash(std::uint64_t spi_i, std::uint64_t spi_r, const Endpoint& ep);

}  // namespace mobiked::ike
