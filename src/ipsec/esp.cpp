#include "ipsec/esp.hpp"

#include <array>
#include <cstring>

#include "ipsec/ip.hpp"

namespace mobiked::ipsec {

// Friend of Sa: the transform code reaches the SA's contexts through here.
struct EspOps {
    static PacketResult seal(Sa& sa, PacketBuffer& pkt, Time now);
    static PacketResult open(Sa& sa, PacketBuffer& pkt, Time now);
    static bool encrypt(Sa& sa, std::uint8_t* esp, std::size_t body_len, std::uint64_t seq);
    static Status decrypt(Sa& sa, std::uint8_t* esp, std::size_t body_len, std::uint64_t seq);
    static Status rebuild_transport(Sa& sa, PacketBuffer& pkt, std::uint8_t nh);
};

namespace {

constexpr std::size_t kEspHeader = 8;
constexpr std::size_t kMaxIcv = 64;

// AEAD additional data: SPI || [Seq-hi] || Seq-lo (RFC 4106 §5).
std::size_t make_aad(std::uint8_t* aad, const std::uint8_t* esp, std::uint64_t seq, bool esn) {
    std::memcpy(aad, esp, 4);
    if (!esn) {
        std::memcpy(aad + 4, esp + 4, 4);
        return 8;
    }
    store_be32(aad + 4, static_cast<std::uint32_t>(seq >> 32));
    std::memcpy(aad + 8, esp + 4, 4);
    return 12;
}

std::uint8_t tunnel_next_header(int version) { return version == 4 ? ipproto::ipv4 : ipproto::ipv6; }

}  // namespace

bool EspOps::encrypt(Sa& sa, std::uint8_t* esp, std::size_t body_len, std::uint64_t seq) {
    std::uint8_t* iv = esp + kEspHeader;
    std::uint8_t* body = iv + sa.iv_size_;
    std::uint8_t* icv = body + body_len;
    if (sa.aead_) {
        store_be64(iv, seq);
        std::array<std::uint8_t, 12> nonce;
        std::memcpy(nonce.data(), sa.salt_.data(), 4);
        std::memcpy(nonce.data() + 4, iv, 8);
        std::array<std::uint8_t, 12> aad;
        const std::size_t aad_len = make_aad(aad.data(), esp, seq, sa.p_.esn);
        return sa.aead_->seal(nonce, {aad.data(), aad_len}, {body, body_len}, body);
    }
    // IV = AES_Kiv(seq): one block under the SA's private IV key (see Sa::create).
    std::array<std::uint8_t, 16> counter{};
    store_be64(counter.data() + 8, seq);
    static constexpr std::array<std::uint8_t, 16> kZero{};
    if (!sa.iv_gen_->encrypt(kZero, counter, iv)) return false;
    if (!sa.cbc_->encrypt({iv, sa.iv_size_}, {body, body_len}, body)) return false;
    // ESN: Seq-hi is appended for the ICV only (RFC 4303 §2.2.1); the ICV
    // then overwrites it, so it never reaches the wire.
    std::size_t covered = kEspHeader + sa.iv_size_ + body_len;
    if (sa.p_.esn) {
        store_be32(icv, static_cast<std::uint32_t>(seq >> 32));
        covered += 4;
    }
    sa.mac_->compute({esp, covered}, icv);
    return true;
}

Status EspOps::decrypt(Sa& sa, std::uint8_t* esp, std::size_t body_len, std::uint64_t seq) {
    std::uint8_t* iv = esp + kEspHeader;
    std::uint8_t* body = iv + sa.iv_size_;
    std::uint8_t* icv = body + body_len;
    if (sa.aead_) {
        std::array<std::uint8_t, 12> nonce;
        std::memcpy(nonce.data(), sa.salt_.data(), 4);
        std::memcpy(nonce.data() + 4, iv, 8);
        std::array<std::uint8_t, 12> aad;
        const std::size_t aad_len = make_aad(aad.data(), esp, seq, sa.p_.esn);
        return sa.aead_->open(nonce, {aad.data(), aad_len}, {body, body_len + sa.icv_size_}, body)
                   ? Status::ok
                   : Status::auth_failed;
    }
    if (body_len % sa.cbc_->block_size() != 0) return Status::malformed;
    std::array<std::uint8_t, kMaxIcv> received;
    std::memcpy(received.data(), icv, sa.icv_size_);
    std::size_t covered = kEspHeader + sa.iv_size_ + body_len;
    if (sa.p_.esn) {
        store_be32(icv, static_cast<std::uint32_t>(seq >> 32));
        covered += 4;
    }
    if (!sa.mac_->verify({esp, covered}, {received.data(), sa.icv_size_})) return Status::auth_failed;
    return sa.cbc_->decrypt({iv, sa.iv_size_}, {body, body_len}, body) ? Status::ok
                                                                        : Status::crypto_error;
}

PacketResult EspOps::seal(Sa& sa, PacketBuffer& pkt, Time now) {
    if (sa.p_.protocol != Protocol::esp || sa.p_.direction != Direction::outbound)
        return sa.drop(Status::unsupported);
    if (sa.expired()) return sa.drop(Status::expired);
    auto ip = parse_ip_header(pkt.view());
    if (!ip) return sa.drop(Status::malformed);
    pkt.trim_back(pkt.size() - ip->total_len);
    const bool tunnel = sa.p_.mode == Mode::tunnel;
    if (!tunnel && ip->version == 6 && is_ipv6_extension(ip->protocol)) return sa.drop(Status::unsupported);
    if (!tunnel && ip->version != (sa.p_.local.address.is_v4() ? 4 : 6)) return sa.drop(Status::unsupported);

    const std::size_t inner_len = pkt.size();
    const std::size_t hdr_len = tunnel ? 0 : ip->header_len;
    const std::uint8_t nh = tunnel ? tunnel_next_header(ip->version) : ip->protocol;
    const std::size_t payload_len = inner_len - hdr_len;
    const std::size_t pad = (sa.block_size_ - (payload_len + 2) % sa.block_size_) % sa.block_size_;
    const std::size_t body_len = payload_len + pad + 2;
    const std::size_t esp_hdr = kEspHeader + sa.iv_size_;
    const std::size_t udp = !tunnel && sa.p_.udp_encap ? kUdpHeaderSize : 0;
    if (pkt.tailroom() < pad + 2 + sa.icv_size_ || pkt.headroom() < esp::headroom_needed(sa))
        return sa.drop(Status::no_room);
    EventSet events;
    std::uint64_t seq = 0;
    if (!sa.next_seq(seq, events)) return sa.drop(Status::seq_overflow, events);

    // Trailer: padding 1, 2, 3, ... (RFC 4303 §2.4), pad length, next header.
    std::uint8_t* tail = pkt.data() + inner_len;
    for (std::size_t i = 0; i < pad; ++i) tail[i] = static_cast<std::uint8_t>(i + 1);
    tail[pad] = static_cast<std::uint8_t>(pad);
    tail[pad + 1] = nh;
    pkt.push_back(pad + 2 + sa.icv_size_);
    // Header: in transport mode the IP header moves in front of it.
    pkt.push_front(esp_hdr + udp);
    if (hdr_len != 0) std::memmove(pkt.data(), pkt.data() + esp_hdr + udp, hdr_len);
    std::uint8_t* esp = pkt.data() + hdr_len + udp;
    store_be32(esp, sa.p_.spi);
    store_be32(esp + 4, static_cast<std::uint32_t>(seq));
    if (!encrypt(sa, esp, body_len, seq)) return sa.drop(Status::crypto_error, events);

    PacketResult r;
    if (tunnel) {
        const std::size_t ip_len = push_outer_header(pkt, sa.p_, ipproto::esp, ip->tos, ip->df,
                                                     static_cast<std::uint16_t>(seq));
        r.ip_header_len = static_cast<std::uint16_t>(ip_len);
        r.esp_offset = static_cast<std::uint16_t>(ip_len + (sa.p_.udp_encap ? kUdpHeaderSize : 0));
    } else {
        set_ip_length_and_protocol(pkt.data(), pkt.size(), udp ? ipproto::udp : ipproto::esp);
        if (udp) write_udp_header(pkt.data() + hdr_len, sa.p_, pkt.size() - hdr_len - udp, pkt.data());
        r.ip_header_len = static_cast<std::uint16_t>(hdr_len);
        r.esp_offset = static_cast<std::uint16_t>(hdr_len + udp);
    }
    sa.account(inner_len, now, events);
    r.events = events;
    return r;
}

Status EspOps::rebuild_transport(Sa& sa, PacketBuffer& pkt, std::uint8_t nh) {
    const SaParams& p = sa.p_;
    const bool v4 = p.local.address.is_v4();
    const std::size_t h = v4 ? kIpv4HeaderSize : kIpv6HeaderSize;
    if (!pkt.push_front(h)) return Status::no_room;
    if (v4)
        write_ipv4_header(pkt.data(), p.remote.address, p.local.address, nh, pkt.size(), 0, false, 64, 0);
    else
        write_ipv6_header(pkt.data(), p.remote.address, p.local.address, nh, pkt.size(), 0, 64);
    return Status::ok;
}

PacketResult EspOps::open(Sa& sa, PacketBuffer& pkt, Time now) {
    if (sa.p_.protocol != Protocol::esp || sa.p_.direction != Direction::inbound)
        return sa.drop(Status::unsupported);
    if (sa.expired()) return sa.drop(Status::expired);
    const std::size_t esp_hdr = kEspHeader + sa.iv_size_;
    const std::size_t min_body = sa.aead_ ? 2 : sa.block_size_;
    if (pkt.size() < esp_hdr + min_body + sa.icv_size_) return sa.drop(Status::malformed);
    std::uint8_t* esp = pkt.data();
    if (load_be32(esp) != sa.p_.spi) return sa.drop(Status::unknown_spi);
    const std::uint64_t seq = sa.replay_.reconstruct(load_be32(esp + 4));
    if (sa.replay_.check(seq) != ReplayWindow::Verdict::ok) return sa.drop(Status::replay);

    const std::size_t body_len = pkt.size() - esp_hdr - sa.icv_size_;
    if (Status st = decrypt(sa, esp, body_len, seq); st != Status::ok) return sa.drop(st);
    sa.replay_.update(seq);  // authenticated: only now may the window move

    const std::uint8_t* body = esp + esp_hdr;
    const std::size_t pad = body[body_len - 2];
    const std::uint8_t nh = body[body_len - 1];
    if (pad + 2 > body_len) return sa.drop(Status::bad_padding);
    const std::size_t payload_len = body_len - pad - 2;
    for (std::size_t i = 0; i < pad; ++i)
        if (body[payload_len + i] != i + 1) return sa.drop(Status::bad_padding);
    if (nh == ipproto::none) return sa.drop(Status::dummy);

    pkt.pull_front(esp_hdr);
    pkt.trim_back(pkt.size() - payload_len);
    if (sa.p_.mode == Mode::tunnel) {
        auto inner = parse_ip_header(pkt.view());
        if ((nh != ipproto::ipv4 && nh != ipproto::ipv6) || !inner ||
            tunnel_next_header(inner->version) != nh)
            return sa.drop(Status::malformed);
        pkt.trim_back(pkt.size() - inner->total_len);  // TFC padding (RFC 4303 §2.7)
    } else if (Status st = rebuild_transport(sa, pkt, nh); st != Status::ok) {
        return sa.drop(st);
    }
    if (Status st = sa.check_inner(pkt.view()); st != Status::ok) return sa.drop(st);
    PacketResult r;
    r.next_header = nh;
    sa.account(pkt.size(), now, r.events);
    return r;
}

namespace esp {

std::size_t headroom_needed(const Sa& sa) {
    const bool v4 = sa.params().local.address.is_v4();
    const std::size_t outer = sa.params().mode == Mode::tunnel ? (v4 ? kIpv4HeaderSize : kIpv6HeaderSize) : 0;
    return outer + (sa.params().udp_encap ? kUdpHeaderSize : 0) + 8 + sa.iv_size();
}

std::size_t tailroom_needed(const Sa& sa) { return sa.block_size() + 1 + sa.icv_size(); }

PacketResult seal(Sa& sa, PacketBuffer& pkt, Time now) { return EspOps::seal(sa, pkt, now); }
PacketResult open(Sa& sa, PacketBuffer& pkt, Time now) { return EspOps::open(sa, pkt, now); }

std::optional<std::uint32_t> peek_spi(ByteView esp_packet) {
    if (esp_packet.size() < 4) return std::nullopt;
    return load_be32(esp_packet.data());
}

}  // namespace esp
}  // namespace mobiked::ipsec
