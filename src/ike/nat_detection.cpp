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

bool peer_behind_nat(const std::vector<wire::Payload>& p, std::uint64_t spi_i, std::uint64_t spi_r,
                     const Endpoint& remote) {
    auto sources = wire::find_notifies(p, wire::notify::nat_detection_source_ip);
    if (sources.empty()) return false;
    const Bytes expect = nat_detection_hash(spi_i, spi_r, remote);
    for (const auto* n : sources)
        if (n->data == expect) return false;
    return true;
}

bool we_are_behind_nat(const std::vector<wire::Payload>& p, std::uint64_t spi_i, std::uint64_t spi_r,
                       const Endpoint& local) {
    const auto* dest = wire::find_notify(p, wire::notify::nat_detection_destination_ip);
    return dest && dest->data != nat_detection_hash(spi_i, spi_r, local);
}

}  // namespace mobiked::ike
