// Helpers for the ipsec unit tests: IP packets built byte by byte, SA pairs
// sharing keys, and buffers with headroom/tailroom.
#pragma once

#include <cstring>
#include <memory>
#include <string>

#include "common/bytes.hpp"
#include "common/net.hpp"
#include "crypto/random.hpp"
#include "ipsec/ip.hpp"
#include "ipsec/packet_buffer.hpp"
#include "ipsec/sa.hpp"
#include "wire/constants.hpp"

namespace mobiked::ipsec::test {

inline IpAddress ip(std::string_view s) { return *IpAddress::parse(s); }

// An IPv4 or IPv6 packet (family from the addresses) with a transport header
// for UDP/TCP (ports) or ICMP (type/code), then `payload_len` pattern bytes.
// TTL/hop limit 64, TOS 0, ID 0, DF clear: what ESP transport mode rebuilds.
inline Bytes make_packet(std::string_view src, std::string_view dst, std::uint8_t proto,
                         std::uint16_t sport, std::uint16_t dport, std::size_t payload_len) {
    const IpAddress s = ip(src), d = ip(dst);
    const std::size_t l4 = proto == ipproto::tcp ? 20 : 8;
    const std::size_t h = s.is_v4() ? 20 : 40;
    Bytes p(h + l4 + payload_len);
    if (s.is_v4())
        write_ipv4_header(p.data(), s, d, proto, p.size(), 0, false, 64, 0);
    else
        write_ipv6_header(p.data(), s, d, proto, p.size(), 0, 64);
    std::uint8_t* t = p.data() + h;
    if (proto == ipproto::icmp || proto == ipproto::icmpv6) {
        t[0] = static_cast<std::uint8_t>(sport);
        t[1] = static_cast<std::uint8_t>(dport);
    } else {
        store_be16(t, sport);
        store_be16(t + 2, dport);
    }
    for (std::size_t i = 0; i < payload_len; ++i) p[h + l4 + i] = static_cast<std::uint8_t>(i * 7 + 3);
    return p;
}

// A buffer with 128 bytes of headroom and 128 of tailroom around a packet.
struct Buf {
    Bytes storage;
    PacketBuffer pkt;
    explicit Buf(ByteView packet, std::size_t head = 128, std::size_t tail = 128)
        : storage(head + packet.size() + tail), pkt(storage, head, packet.size()) {
        if (!packet.empty()) std::memcpy(storage.data() + head, packet.data(), packet.size());
    }
    Bytes bytes() const { return to_bytes(pkt.view()); }
};

struct Algo {
    std::string name;
    std::uint16_t encr_id;
    std::uint16_t key_bits;
    std::uint16_t integ_id;
};

inline Bytes pattern_key(std::size_t n, std::uint8_t seed) {
    Bytes k(n);
    for (std::size_t i = 0; i < n; ++i) k[i] = static_cast<std::uint8_t>(seed + i * 13);
    return k;
}

// Parameters of one direction with deterministic keys; both ends of a test
// use the same keys with mirrored endpoints and selectors.
inline SaParams make_params(const Algo& a, Protocol proto, Mode mode, Direction dir, bool esn,
                            bool v6 = false) {
    SaParams p;
    p.spi = 0x11223344;
    p.protocol = proto;
    p.mode = mode;
    p.direction = dir;
    p.esn = esn;
    if (proto == Protocol::esp) {
        p.encr_id = a.encr_id;
        p.encr_key_bits = a.key_bits;
        auto info = crypto::encr_info(a.encr_id, a.key_bits);
        p.encr_key = pattern_key(info->key_size + info->salt_size, 0x40);
    }
    p.integ_id = a.integ_id;
    if (a.integ_id != 0) p.integ_key = pattern_key(crypto::integ_info(a.integ_id)->key_size, 0x80);
    // Gateways/hosts A (192.0.2.1 / 2001:db8::1) and B (...2 / ::2).
    const IpAddress ga = ip(v6 ? "2001:db8::1" : "192.0.2.1");
    const IpAddress gb = ip(v6 ? "2001:db8::2" : "192.0.2.2");
    const bool out = dir == Direction::outbound;
    p.local = {out ? ga : gb, 4500};
    p.remote = {out ? gb : ga, 4500};
    // Any selectors by default (tests narrow them when needed).
    p.local_ts = {TrafficSelector{AddressRange::any(IpAddress::Family::v4)},
                  TrafficSelector{AddressRange::any(IpAddress::Family::v6)}};
    p.remote_ts = p.local_ts;
    return p;
}

inline std::unique_ptr<Sa> make_sa(SaParams p, crypto::Random* rng = nullptr, Time now = Time{0}) {
    auto r = Sa::create(std::move(p), now, rng);
    if (!r) throw std::runtime_error("Sa::create: " + r.error());
    return std::move(r.value());
}

inline const std::vector<Algo>& esp_algorithms() {
    static const std::vector<Algo> v = {
        {"AesGcm128", wire::encr::aes_gcm_16, 128, 0},
        {"AesGcm256", wire::encr::aes_gcm_16, 256, 0},
        {"ChaCha20Poly1305", wire::encr::chacha20_poly1305, 0, 0},
        {"AesCbc128Sha256", wire::encr::aes_cbc, 128, wire::integ::hmac_sha2_256_128},
        {"AesCbc192Sha384", wire::encr::aes_cbc, 192, wire::integ::hmac_sha2_384_192},
        {"AesCbc256Sha512", wire::encr::aes_cbc, 256, wire::integ::hmac_sha2_512_256},
    };
    return v;
}

inline const std::vector<Algo>& ah_algorithms() {
    static const std::vector<Algo> v = {
        {"Sha256", 0, 0, wire::integ::hmac_sha2_256_128},
        {"Sha384", 0, 0, wire::integ::hmac_sha2_384_192},
        {"Sha512", 0, 0, wire::integ::hmac_sha2_512_256},
    };
    return v;
}

}  // namespace mobiked::ipsec::test
