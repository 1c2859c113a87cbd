#include "ike/nat_detection.hpp"

#include "crypto/cipher.hpp"

namespace mobiked::ike {

Bytes nat_detection_hash(std::uint64_t spi_i, std::uint64_t spi_r, const Endpoint& ep) {
    Bytes data;
    Writer w(data);
    w.u64(spi_i);
    w.u64(spi_r);
    w.bytes(ep.address.bytes());
    w.u16(ep.port);
    return crypto::sha1(data);
}

}  // namespace mobiked::ike
