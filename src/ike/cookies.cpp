#include "ike/cookies.hpp"

#include "crypto/cipher.hpp"

namespace mobiked::ike {

void CookieJar::rotate_if_due(Time now, crypto::Random& random) {
    if (initialised_ && now - rotated_at_ < rotation_) return;
    previous_secret_ = initialised_ ? secret_ : Bytes{};
    secret_ = random.bytes(32);
    version_ = static_cast<std::uint8_t>(version_ + 1);
    rotated_at_ = now;
    initialised_ = true;
}

Bytes CookieJar::compute(std::uint8_t version, const Bytes& secret, ByteView ni, const IpAddress& ip,
                         std::uint64_t spi_i) const {
    Bytes data = to_bytes(ni);
    append(data, ip.bytes());
    Writer(data).u64(spi_i);
    append(data, secret);
    Bytes cookie{version};
    append(cookie, crypto::sha256(data));
    return cookie;
}

Bytes CookieJar::make(ByteView ni, const IpAddress& ip, std::uint64_t spi_i, Time now, crypto::Random& random) {
    rotate_if_due(now, random);
    return compute(version_, secret_, ni, ip, spi_i);
}

bool CookieJar::verify(ByteView cookie, ByteView ni, const IpAddress& ip, std::uint64_t spi_i, Time now,
                       crypto::Random& random) {
    rotate_if_due(now, random);
    if (cookie.empty()) return false;
    if (cookie[0] == version_) return equal_ct(cookie, compute(version_, secret_, ni, ip, spi_i));
    const auto prev = static_cast<std::uint8_t>(version_ - 1);
    if (cookie[0] == prev && !previous_secret_.empty())
        return equal_ct(cookie, compute(prev, previous_secret_, ni, ip, spi_i));
    return false;
}

}  // namespace mobiked::ike
