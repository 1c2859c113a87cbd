#include "ipsec/ah.hpp"

#include <array>
#include <cstring>

#include "ipsec/ip.hpp"

namespace mobiked::ipsec {

struct AhOps {
    static PacketResult seal(Sa& sa, PacketBuffer& pkt, Time now);
    static PacketResult open(Sa& sa, PacketBuffer& pkt, Time now);
    static Status compute_icv(Sa& sa, PacketBuffer& pkt, std::size_t hdr_len, std::uint64_t seq,
                              std::uint8_t* out);
};

namespace {

constexpr std::size_t kAhFixed = 12;  // next header, length, reserved, SPI, Seq
constexpr std::size_t kMaxIcv = 64;
constexpr std::size_t kMaxIpv4Header = 60;

// RFC 4302 Appendix A.1: the options that stay in the ICV; all others are
// mutable and zeroed. Returns false on a malformed option list.
bool zero_mutable_ipv4_options(std::uint8_t* opt, std::size_t len) {
    std::size_t i = 0;
    while (i < len) {
        const std::uint8_t type = opt[i];
        if (type == 0) return true;  // end of option list
        if (type == 1) {             // no-operation
            ++i;
            continue;
        }
        if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len) return false;
        const std::size_t olen = opt[i + 1];
        const bool immutable = type == 130 || type == 133 || type == 134 || type == 148 || type == 149;
        if (!immutable) std::memset(opt + i, 0, olen);
        i += olen;
    }
    return true;
}

// Zeroes the mutable fields of the IP header at `h` (length `hdr_len`).
bool zero_mutable(std::uint8_t* h, std::size_t hdr_len) {
    if (h[0] >> 4 == 4) {
        h[1] = 0;           // TOS
        h[6] = h[7] = 0;    // flags, fragment offset
        h[8] = 0;           // TTL
        h[10] = h[11] = 0;  // header checksum
        return zero_mutable_ipv4_options(h + kIpv4HeaderSize, hdr_len - kIpv4HeaderSize);
    }
    h[0] &= 0xf0;  // traffic class (high nibble), keep the version
    h[1] = h[2] = h[3] = 0;  // traffic class (low nibble), flow label
    h[7] = 0;                // hop limit
    return true;
}

std::size_t ah_length(const Sa& sa) { return kAhFixed + sa.icv_size(); }

}  // namespace

Status AhOps::compute_icv(Sa& sa, PacketBuffer& pkt, std::size_t hdr_len, std::uint64_t seq,
                          std::uint8_t* out) {
    std::uint8_t* h = pkt.data();
    std::array<std::uint8_t, kMaxIpv4Header> saved;
    std::memcpy(saved.data(), h, hdr_len);
    if (!zero_mutable(h, hdr_len)) {
        std::memcpy(h, saved.data(), hdr_len);
        return Status::malformed;
    }
    std::size_t covered = pkt.size();
    if (sa.p_.esn) {
        store_be32(h + covered, static_cast<std::uint32_t>(seq >> 32));  // in the tailroom
        covered += 4;
    }
    sa.mac_->compute({h, covered}, out);
    std::memcpy(h, saved.data(), hdr_len);
    return Status::ok;
}

PacketResult AhOps::seal(Sa& sa, PacketBuffer& pkt, Time now) {
    if (sa.p_.protocol != Protocol::ah || sa.p_.direction != Direction::outbound)
        return sa.drop(Status::unsupported);
    if (sa.expired()) return sa.drop(Status::expired);
    auto ip = parse_ip_header(pkt.view());
    if (!ip) return sa.drop(Status::malformed);
    pkt.trim_back(pkt.size() - ip->total_len);
    const bool tunnel = sa.p_.mode == Mode::tunnel;
    if (!tunnel && ip->version == 6 && is_ipv6_extension(ip->protocol)) return sa.drop(Status::unsupported);
    const std::size_t ah_len = ah_length(sa);
    const std::size_t outer =
        tunnel ? (sa.p_.local.address.is_v4() ? kIpv4HeaderSize : kIpv6HeaderSize) : 0;
    if (pkt.headroom() < ah_len + outer || pkt.tailroom() < (sa.p_.esn ? 4u : 0u))
        return sa.drop(Status::no_room);
    EventSet events;
    std::uint64_t seq = 0;
    if (!sa.next_seq(seq, events)) return sa.drop(Status::seq_overflow, events);

    const std::size_t inner_len = pkt.size();
    const std::size_t hdr_len = tunnel ? 0 : ip->header_len;
    pkt.push_front(ah_len);
    if (hdr_len != 0) std::memmove(pkt.data(), pkt.data() + ah_len, hdr_len);
    std::uint8_t* ah = pkt.data() + hdr_len;
    ah[0] = tunnel ? (ip->version == 4 ? ipproto::ipv4 : ipproto::ipv6) : ip->protocol;
    ah[1] = static_cast<std::uint8_t>(ah_len / 4 - 2);  // RFC 4302 §2.2
    ah[2] = ah[3] = 0;
    store_be32(ah + 4, sa.p_.spi);
    store_be32(ah + 8, static_cast<std::uint32_t>(seq));
    std::memset(ah + kAhFixed, 0, sa.icv_size_);

    PacketResult r;
    std::size_t ip_len = hdr_len;
    if (tunnel) {
        ip_len = push_outer_header(pkt, sa.p_, ipproto::ah, ip->tos, ip->df, static_cast<std::uint16_t>(seq));
    } else {
        set_ip_length_and_protocol(pkt.data(), pkt.size(), ipproto::ah);
    }
    if (Status st = compute_icv(sa, pkt, ip_len, seq, pkt.data() + ip_len + kAhFixed); st != Status::ok)
        return sa.drop(st, events);
    r.ip_header_len = static_cast<std::uint16_t>(ip_len);
    r.esp_offset = static_cast<std::uint16_t>(ip_len);
    sa.account(inner_len, now, events);
    r.events = events;
    return r;
}

PacketResult AhOps::open(Sa& sa, PacketBuffer& pkt, Time now) {
    if (sa.p_.protocol != Protocol::ah || sa.p_.direction != Direction::inbound)
        return sa.drop(Status::unsupported);
    if (sa.expired()) return sa.drop(Status::expired);
    auto ip = parse_ip_header(pkt.view());
    if (!ip) return sa.drop(Status::malformed);
    pkt.trim_back(pkt.size() - ip->total_len);
    if (ip->version == 6 && is_ipv6_extension(ip->protocol)) return sa.drop(Status::unsupported);
    if (ip->protocol != ipproto::ah) return sa.drop(Status::malformed);
    const std::size_t h = ip->header_len;
    const std::size_t ah_len = ah_length(sa);
    if (pkt.size() < h + ah_len) return sa.drop(Status::malformed);
    std::uint8_t* ah = pkt.data() + h;
    if ((std::size_t{ah[1]} + 2) * 4 != ah_len) return sa.drop(Status::malformed);
    if (load_be32(ah + 4) != sa.p_.spi) return sa.drop(Status::unknown_spi);
    const std::uint64_t seq = sa.replay_.reconstruct(load_be32(ah + 8));
    if (sa.replay_.check(seq) != ReplayWindow::Verdict::ok) return sa.drop(Status::replay);
    if (sa.p_.esn && pkt.tailroom() < 4) return sa.drop(Status::no_room);

    std::array<std::uint8_t, kMaxIcv> received;
    std::memcpy(received.data(), ah + kAhFixed, sa.icv_size_);
    std::memset(ah + kAhFixed, 0, sa.icv_size_);
    std::array<std::uint8_t, kMaxIcv> computed;
    if (Status st = compute_icv(sa, pkt, h, seq, computed.data()); st != Status::ok) return sa.drop(st);
    if (!equal_ct({received.data(), sa.icv_size_}, {computed.data(), sa.icv_size_}))
        return sa.drop(Status::auth_failed);
    sa.replay_.update(seq);

    const std::uint8_t nh = ah[0];
    if (sa.p_.mode == Mode::tunnel) {
        pkt.pull_front(h + ah_len);
        auto inner = parse_ip_header(pkt.view());
        const std::uint8_t want = inner && inner->version == 4 ? ipproto::ipv4 : ipproto::ipv6;
        if (!inner || nh != want) return sa.drop(Status::malformed);
        pkt.trim_back(pkt.size() - inner->total_len);
    } else {
        std::memmove(pkt.data() + ah_len, pkt.data(), h);
        pkt.pull_front(ah_len);
        set_ip_length_and_protocol(pkt.data(), pkt.size(), nh);
    }
    if (Status st = sa.check_inner(pkt.view()); st != Status::ok) return sa.drop(st);
    PacketResult r;
    r.next_header = nh;
    sa.account(pkt.size(), now, r.events);
    return r;
}

namespace ah {

PacketResult seal(Sa& sa, PacketBuffer& pkt, Time now) { return AhOps::seal(sa, pkt, now); }
PacketResult open(Sa& sa, PacketBuffer& pkt, Time now) { return AhOps::open(sa, pkt, now); }

}  // namespace ah
}  // namespace mobiked::ipsec
