// Stateless responder cookies (RFC 7296 §2.6):
// Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>).
// The secret rotates; cookies made with the previous secret stay valid for
// one more period so a client mid-exchange is not turned away.
#pragma once

#include <cstdint>

#include "common/net.hpp"
#include "common/time.hpp"
#include "crypto/random.hpp"

namespace mobiked::ike {

class CookieJar {
public:
    explicit CookieJar(Duration rotation = std::chrono::seconds(120)) : rotation_(rotation) {}

    Bytes make(ByteView ni, const IpAddress& ip, std::uint64_t spi_i, Time now, crypto::Random& random);
    bool verify(ByteView cookie, ByteView ni, const IpAddress& ip, std::uint64_t spi_i, Time now,
                crypto::Random& random);

private:
    void rotate_if_due(Time now, crypto::Random& random);
    Bytes compute(std::uint8_t version, const Bytes& secret, ByteView ni, const IpAddress& ip,
                  std::uint64_t spi_i) const;

    Duration rotation_;
    Time rotated_at_{};
    bool initialised_ = false;
    std::uint8_t version_ = 0;
    Bytes secret_, previous_secret_;
};

}  // namespace mobiked::ike
