#include "dataplane/offload.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace mobiked::dataplane {
namespace {

constexpr std::size_t kV4Header = 20;
constexpr std::size_t kV6Header = 40;
constexpr std::size_t kTcpHeader = 20;
constexpr std::size_t kUdpHeader = 8;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint16_t kTcpCsumOffset = 16;
constexpr std::uint16_t kUdpCsumOffset = 6;

// TCP flags, byte 13 of the header.
constexpr std::uint8_t kFin = 0x01;
constexpr std::uint8_t kPsh = 0x08;
constexpr std::uint8_t kAck = 0x10;
constexpr std::uint8_t kCwr = 0x80;

std::uint16_t fold(std::uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}

// RFC 1071 sum of `n` bytes as big-endian 16-bit words (an odd last byte
// padded with zero), folded, not inverted. The sum does not depend on byte
// order (RFC 1071 §2 B), so host-order words are added and the result
// swapped once. Every segment of a TSO read is summed from scratch, which
// made this the data plane's hottest function: 16 bytes per step into two
// independent 64-bit accumulators of 32-bit halves (no carries lost below
// 2^31 steps), which the compiler turns into vector adds.
std::uint16_t sum16(const std::uint8_t* p, std::size_t n) {
    std::uint64_t acc0 = 0, acc1 = 0;
    for (; n >= 16; p += 16, n -= 16) {
        std::uint64_t a, b;
        std::memcpy(&a, p, 8);
        std::memcpy(&b, p + 8, 8);
        acc0 += (a & 0xffffffffu) + (a >> 32);
        acc1 += (b & 0xffffffffu) + (b >> 32);
    }
    std::uint64_t acc = acc0 + acc1;
    for (; n >= 4; p += 4, n -= 4) {
        std::uint32_t w;
        std::memcpy(&w, p, 4);
        acc += w;
    }
    const std::uint8_t tail[4] = {n > 0 ? p[0] : std::uint8_t{0}, n > 1 ? p[1] : std::uint8_t{0},
                                  n > 2 ? p[2] : std::uint8_t{0}, 0};
    std::uint32_t w;
    std::memcpy(&w, tail, 4);
    acc += w;
    const std::uint16_t r = fold(acc);
    if constexpr (std::endian::native == std::endian::little) return static_cast<std::uint16_t>(r << 8 | r >> 8);
    return r;
}

// A finished transport checksum: zero is sent as 0xffff, which means the
// same in one's complement but not "no checksum" to UDP over IPv4.
std::uint16_t finish_csum(std::uint64_t sum) {
    const auto c = static_cast<std::uint16_t>(~fold(sum));
    return c == 0 ? 0xffff : c;
}

// The pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1) for `l4_len`
// transport bytes after the IP header `ip`.
std::uint16_t pseudo_sum(const std::uint8_t* ip, std::uint8_t proto, std::size_t l4_len) {
    const std::uint16_t addrs = ip[0] >> 4 == 4 ? sum16(ip + 12, 8) : sum16(ip + 8, 32);
    return fold(std::uint64_t{addrs} + proto + (l4_len >> 16) + (l4_len & 0xffff));
}

// Rewrites the IPv4 total length and header checksum, or the IPv6 payload
// length, for a packet of `len` bytes.
void set_ip_length(std::uint8_t* ip, std::size_t ip_hlen, std::size_t len) {
    if (ip[0] >> 4 == 6) {
        store_be16(ip + 4, static_cast<std::uint16_t>(len - kV6Header));
        return;
    }
    store_be16(ip + 2, static_cast<std::uint16_t>(len));
    store_be16(ip + 10, 0);
    store_be16(ip + 10, static_cast<std::uint16_t>(~sum16(ip, ip_hlen)));
}

// The IP header length of `p` when it is one whole, unfragmented packet of
// `proto` (the length field matching p.size(); IPv6 without extension
// headers), else nullopt.
std::optional<std::size_t> whole_ip_header(ByteView p, std::uint8_t proto) {
    if (p.empty()) return std::nullopt;
    if (p[0] >> 4 == 4) {
        if (p.size() < kV4Header) return std::nullopt;
        const std::size_t ihl = static_cast<std::size_t>(p[0] & 0x0f) * 4;
        const bool fragment = (load_be16(&p[6]) & 0x3fff) != 0;  // MF or an offset
        if (ihl < kV4Header || ihl > p.size() || load_be16(&p[2]) != p.size() || fragment || p[9] != proto)
            return std::nullopt;
        return ihl;
    }
    if (p[0] >> 4 == 6) {
        if (p.size() < kV6Header || load_be16(&p[4]) + kV6Header != p.size() || p[6] != proto)
            return std::nullopt;
        return kV6Header;
    }
    return std::nullopt;
}

// Length of the TCP or UDP header at `at`; 0 when truncated or malformed.
std::size_t l4_header_len(ByteView p, std::size_t at, std::uint8_t proto) {
    if (proto == kProtoUdp) return at + kUdpHeader <= p.size() ? kUdpHeader : 0;
    if (at + kTcpHeader > p.size()) return 0;
    const std::size_t thl = static_cast<std::size_t>(p[at + 12] >> 4) * 4;
    return thl >= kTcpHeader && at + thl <= p.size() ? thl : 0;
}

// ---- segmentation (TUN read direction) ----

struct GsoLayout {
    std::size_t ip_hlen = 0;
    std::size_t l4_hlen = 0;
    std::uint8_t proto = 0;
};

// The headers of a super-packet, when they are well formed and agree with
// its vnet header.
std::optional<GsoLayout> parse_gso(const VnetHeader& h, ByteView p) {
    const int type = h.gso_type & ~vnet::kGsoEcn;
    const bool ecn = (h.gso_type & vnet::kGsoEcn) != 0;
    GsoLayout l;
    int version = 0;  // UDP segmentation exists for both
    if (type == vnet::kGsoTcpV4 || type == vnet::kGsoTcpV6) {
        l.proto = kProtoTcp;
        version = type == vnet::kGsoTcpV4 ? 4 : 6;
    } else if (type == vnet::kGsoUdpL4 && !ecn) {
        l.proto = kProtoUdp;
    } else {
        return std::nullopt;
    }
    const auto ihl = whole_ip_header(p, l.proto);
    if (!ihl || (version != 0 && p[0] >> 4 != version)) return std::nullopt;
    l.ip_hlen = *ihl;
    l.l4_hlen = l4_header_len(p, l.ip_hlen, l.proto);
    if (l.l4_hlen == 0 || l.ip_hlen + l.l4_hlen >= p.size()) return std::nullopt;
    const std::uint16_t csum_offset = l.proto == kProtoTcp ? kTcpCsumOffset : kUdpCsumOffset;
    if ((h.flags & vnet::kNeedsCsum) && (h.csum_start != l.ip_hlen || h.csum_offset != csum_offset))
        return std::nullopt;
    if (h.hdr_len > p.size() || h.gso_size == 0) return std::nullopt;
    return l;
}

// The per-segment transport fields: TCP sequence number and the flags that
// belong to one end of the run only; UDP length.
void set_l4_segment(std::uint8_t* l4, const GsoLayout& l, std::size_t i, bool last, std::size_t gso_size,
                    std::size_t l4_len) {
    if (l.proto == kProtoUdp) {
        store_be16(l4 + 4, static_cast<std::uint16_t>(l4_len));
        return;
    }
    store_be32(l4 + 4, load_be32(l4 + 4) + static_cast<std::uint32_t>(i * gso_size));
    if (!last) l4[13] &= static_cast<std::uint8_t>(~(kFin | kPsh));
    if (i != 0) l4[13] &= static_cast<std::uint8_t>(~kCwr);
}

// Writes segment `i` (headers `hdr`, payload `data`) as a complete packet at `o`.
void write_segment(const GsoLayout& l, const std::uint8_t* hdr, ByteView data, std::size_t i, bool last,
                   std::size_t gso_size, std::uint8_t* o) {
    const std::size_t hlen = l.ip_hlen + l.l4_hlen;
    const std::size_t l4_len = l.l4_hlen + data.size();
    std::memcpy(o, hdr, hlen);
    std::memcpy(o + hlen, data.data(), data.size());
    if (o[0] >> 4 == 4) store_be16(o + 4, static_cast<std::uint16_t>(load_be16(o + 4) + i));
    set_ip_length(o, l.ip_hlen, hlen + data.size());
    std::uint8_t* l4 = o + l.ip_hlen;
    set_l4_segment(l4, l, i, last, gso_size, l4_len);
    std::uint8_t* csum = l4 + (l.proto == kProtoTcp ? kTcpCsumOffset : kUdpCsumOffset);
    store_be16(csum, 0);
    const std::uint64_t sum = std::uint64_t{pseudo_sum(o, l.proto, l4_len)} + sum16(l4, l.l4_hlen) +
                              sum16(o + hlen, data.size());
    store_be16(csum, finish_csum(sum));
}

std::optional<std::size_t> copy_whole(const VnetHeader& h, ByteView packet,
                                      std::span<const std::span<std::uint8_t>> out,
                                      std::span<std::size_t> lengths) {
    if (out.empty() || lengths.empty() || packet.empty() || out[0].size() < packet.size()) return std::nullopt;
    std::memcpy(out[0].data(), packet.data(), packet.size());
    if (!complete_checksum(out[0].first(packet.size()), h)) return std::nullopt;
    lengths[0] = packet.size();
    return 1;
}

// ---- coalescing (TUN write direction) ----

enum class Kind : std::uint8_t {
    other,      // not TCP: never part of a run
    ambiguous,  // might be TCP of any flow (IPv4 non-first fragment, IPv6 extension headers)
    tcp,        // TCP with readable addresses and ports
};

struct Classified {
    Kind kind = Kind::other;
    std::size_t ip_hlen = 0;
    std::size_t tcp_hlen = 0;  // nonzero when the packet may start or continue a run
};

bool ipv6_extension(std::uint8_t nh) { return nh == 0 || nh == 43 || nh == 44 || nh == 60; }

// The TCP header length when `p` may be part of a run: a whole packet,
// IPv4 without options, ACK or ACK|PSH only, some payload. Else 0.
std::size_t run_tcp_hlen(ByteView p) {
    const auto ihl = whole_ip_header(p, kProtoTcp);
    if (!ihl || (p[0] >> 4 == 4 && *ihl != kV4Header)) return 0;
    const std::size_t thl = l4_header_len(p, *ihl, kProtoTcp);
    if (thl == 0 || *ihl + thl >= p.size()) return 0;
    return (p[*ihl + 13] & ~kPsh) == kAck ? thl : 0;
}

Classified classify(ByteView p) {
    Classified c;
    if (p.empty()) return c;
    if (p[0] >> 4 == 4 && p.size() >= kV4Header && p[9] == kProtoTcp) {
        if ((load_be16(&p[6]) & 0x1fff) != 0) return {Kind::ambiguous};
        c.ip_hlen = static_cast<std::size_t>(p[0] & 0x0f) * 4;
        if (c.ip_hlen < kV4Header) return c;
    } else if (p[0] >> 4 == 6 && p.size() >= kV6Header) {
        if (ipv6_extension(p[6])) return {Kind::ambiguous};
        if (p[6] != kProtoTcp) return c;
        c.ip_hlen = kV6Header;
    } else {
        return c;
    }
    if (c.ip_hlen + 4 > p.size()) return {};  // no ports: dropped by the kernel, part of nothing
    c.kind = Kind::tcp;
    c.tcp_hlen = run_tcp_hlen(p);
    return c;
}

// Same version, addresses and ports (both keyed TCP packets).
bool same_flow(const std::uint8_t* a, std::size_t a_hlen, ByteView b, std::size_t b_hlen) {
    if (a[0] >> 4 != b[0] >> 4) return false;
    const bool v4 = a[0] >> 4 == 4;
    const std::size_t addrs = v4 ? 12 : 8;
    const std::size_t addrs_len = v4 ? 8 : 32;
    return std::memcmp(a + addrs, &b[addrs], addrs_len) == 0 && std::memcmp(a + a_hlen, &b[b_hlen], 4) == 0;
}

// IP fields every segment of a super-packet shares (the kernel resegments
// with the first one's header): IPv4 TOS, TTL, DF (and the reserved bit);
// IPv6 traffic class, flow label and hop limit.
bool same_ip_fields(const std::uint8_t* a, const std::uint8_t* b) {
    if (a[0] >> 4 == 4) return a[1] == b[1] && a[8] == b[8] && (a[6] & 0xe0) == (b[6] & 0xe0);
    return std::memcmp(a, b, 4) == 0 && a[7] == b[7];
}

// TCP fields likewise: ACK number, data offset and reserved bits, window,
// options, and the urgent pointer (meaningless without URG, but a merged
// segment must come out of the kernel's resegmentation as it went in).
bool same_tcp_fields(const std::uint8_t* a, const std::uint8_t* b, std::size_t thl) {
    return std::memcmp(a + 8, b + 8, 5) == 0 && std::memcmp(a + 14, b + 14, 2) == 0 &&
           std::memcmp(a + 18, b + 18, thl - 18) == 0;
}

}  // namespace

std::optional<VnetHeader> parse_vnet_header(ByteView in) {
    if (in.size() < kVnetHeaderSize) return std::nullopt;
    VnetHeader h;
    h.flags = in[0];
    h.gso_type = in[1];
    std::memcpy(&h.hdr_len, &in[2], 2);
    std::memcpy(&h.gso_size, &in[4], 2);
    std::memcpy(&h.csum_start, &in[6], 2);
    std::memcpy(&h.csum_offset, &in[8], 2);
    return h;
}

void write_vnet_header(const VnetHeader& h, std::uint8_t* out) {
    out[0] = h.flags;
    out[1] = h.gso_type;
    std::memcpy(out + 2, &h.hdr_len, 2);
    std::memcpy(out + 4, &h.gso_size, 2);
    std::memcpy(out + 6, &h.csum_start, 2);
    std::memcpy(out + 8, &h.csum_offset, 2);
}

bool complete_checksum(std::span<std::uint8_t> packet, const VnetHeader& h) {
    if (!(h.flags & vnet::kNeedsCsum)) return true;
    const std::size_t start = h.csum_start;
    const std::size_t field = start + h.csum_offset;
    if (field + 2 > packet.size()) return false;
    store_be16(packet.data() + field, finish_csum(sum16(packet.data() + start, packet.size() - start)));
    return true;
}

std::optional<std::size_t> segment_gso(const VnetHeader& h, ByteView packet,
                                       std::span<const std::span<std::uint8_t>> out,
                                       std::span<std::size_t> lengths) {
    if (h.gso_type == vnet::kGsoNone) return copy_whole(h, packet, out, lengths);
    const auto l = parse_gso(h, packet);
    if (!l) return std::nullopt;
    const std::size_t hlen = l->ip_hlen + l->l4_hlen;
    const ByteView payload = packet.subspan(hlen);
    const std::size_t gso = h.gso_size;
    const std::size_t n = (payload.size() + gso - 1) / gso;
    if (n > std::min(out.size(), lengths.size())) return std::nullopt;
    for (std::size_t i = 0; i < n; ++i) {
        const ByteView data = payload.subspan(i * gso, std::min(gso, payload.size() - i * gso));
        if (out[i].size() < hlen + data.size()) return std::nullopt;
        write_segment(*l, packet.data(), data, i, i + 1 == n, gso, out[i].data());
        lengths[i] = hlen + data.size();
    }
    return n;
}

TcpCoalescer::TcpCoalescer(std::size_t max_items)
    : max_items_(std::max<std::size_t>(max_items, 1)),
      storage_(new std::uint8_t[max_items_ * kSlotSize]),  // uninitialised: pages are touched as used
      items_(new Item[max_items_]) {}

bool TcpCoalescer::add(ByteView p) {
    if (p.size() > kMaxIpPacket) return false;
    const Classified c = classify(p);
    if (c.kind == Kind::ambiguous) close_all();
    if (c.kind == Kind::tcp && c.tcp_hlen != 0) {
        const auto latest = latest_of_flow(p, c.ip_hlen);
        if (latest && try_merge(items_[*latest], packet(*latest), p)) return true;
    }
    if (count_ == max_items_) return false;
    Item& it = items_[count_];
    if (!p.empty()) std::memcpy(packet(count_), p.data(), p.size());
    it = Item{};
    it.len = static_cast<std::uint32_t>(p.size());
    it.keyed = c.kind == Kind::tcp;
    it.ip_hlen = static_cast<std::uint8_t>(c.ip_hlen);
    if (c.tcp_hlen != 0) {
        const std::uint8_t* tcp = p.data() + c.ip_hlen;
        it.tcp_hlen = static_cast<std::uint8_t>(c.tcp_hlen);
        it.gso_size = static_cast<std::uint16_t>(p.size() - c.ip_hlen - c.tcp_hlen);
        it.next_seq = load_be32(tcp + 4) + it.gso_size;
        it.open = (tcp[13] & kPsh) == 0;
    }
    ++count_;
    return true;
}

std::optional<std::size_t> TcpCoalescer::latest_of_flow(ByteView p, std::size_t ip_hlen) {
    for (std::size_t i = count_; i-- > 0;)
        if (items_[i].keyed && same_flow(packet(i), items_[i].ip_hlen, p, ip_hlen)) return i;
    return std::nullopt;
}

// Appends `p` (a run candidate of the same flow) to `item` when it continues
// the run exactly and the result stays within the limits.
bool TcpCoalescer::try_merge(Item& item, std::uint8_t* held, ByteView p) {
    if (!item.open) return false;
    const std::size_t hlen = std::size_t{item.ip_hlen} + item.tcp_hlen;
    const std::uint8_t* tcp = p.data() + item.ip_hlen;
    if (static_cast<std::size_t>(tcp[12] >> 4) * 4 != item.tcp_hlen) return false;
    const std::size_t payload = p.size() - hlen;
    if (payload > item.gso_size || item.segments >= kMaxSegments || item.len + payload > kMaxIpPacket)
        return false;
    if (load_be32(tcp + 4) != item.next_seq || !same_ip_fields(held, p.data()) ||
        !same_tcp_fields(held + item.ip_hlen, tcp, item.tcp_hlen))
        return false;
    std::memcpy(held + item.len, p.data() + hlen, payload);
    item.len += static_cast<std::uint32_t>(payload);
    item.next_seq += static_cast<std::uint32_t>(payload);
    ++item.segments;
    // A short segment or PSH ends what the sender wrote in one go: nothing may follow it.
    if (tcp[13] & kPsh) held[item.ip_hlen + 13] |= kPsh;
    if ((tcp[13] & kPsh) || payload < item.gso_size) item.open = false;
    return true;
}

void TcpCoalescer::close_all() {
    for (std::size_t i = 0; i < count_; ++i) items_[i].open = false;
}

ByteView TcpCoalescer::finish(std::size_t i) {
    const Item& it = items_[i];
    VnetHeader h;
    if (it.segments > 1) {
        std::uint8_t* ip = packet(i);
        set_ip_length(ip, it.ip_hlen, it.len);
        h.flags = vnet::kNeedsCsum;
        h.gso_type = ip[0] >> 4 == 4 ? vnet::kGsoTcpV4 : vnet::kGsoTcpV6;
        h.hdr_len = static_cast<std::uint16_t>(it.ip_hlen + it.tcp_hlen);
        h.gso_size = it.gso_size;
        h.csum_start = it.ip_hlen;
        h.csum_offset = kTcpCsumOffset;
        store_be16(ip + it.ip_hlen + kTcpCsumOffset, pseudo_sum(ip, kProtoTcp, it.len - it.ip_hlen));
    }
    write_vnet_header(h, slot(i));
    return {slot(i), kVnetHeaderSize + it.len};
}

}  // namespace mobiked::dataplane
