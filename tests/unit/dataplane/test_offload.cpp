// TUN offloads: the virtio_net_hdr codec, partial checksum completion,
// segmentation of TSO/USO super-packets, and the TCP coalescer of the
// receive direction (with a round trip back through segmentation).
// Checksums are checked with a plain RFC 1071 sum written here, not the
// module's own.
#include "dataplane/offload.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "common/net.hpp"

namespace mobiked::dataplane {
namespace {

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20,
                       kEce = 0x40, kCwr = 0x80;
constexpr std::uint8_t kTcp = 6, kUdp = 17;

std::uint16_t be16(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]); }
std::uint32_t be32(const Bytes& b, std::size_t at) {
    return static_cast<std::uint32_t>(be16(b, at)) << 16 | be16(b, at + 2);
}
void put16(Bytes& b, std::size_t at, std::uint32_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(Bytes& b, std::size_t at, std::uint32_t v) {
    put16(b, at, v >> 16);
    put16(b, at + 2, v & 0xffff);
}

// Reference RFC 1071 arithmetic, one 16-bit word at a time.
std::uint32_t ref_sum(const Bytes& b, std::size_t from, std::size_t to, std::uint32_t sum = 0) {
    for (std::size_t i = from; i < to; i += 2) sum += (i + 1 < to) ? be16(b, i) : static_cast<std::uint32_t>(b[i] << 8);
    return sum;
}
std::uint16_t ref_fold(std::uint32_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(s);
}
std::size_t ip_hlen(const Bytes& p) { return p[0] >> 4 == 4 ? static_cast<std::size_t>(p[0] & 0x0f) * 4 : 40; }
std::uint32_t ref_pseudo(const Bytes& p, std::uint8_t proto, std::size_t l4_len) {
    const bool v4 = p[0] >> 4 == 4;
    return ref_sum(p, v4 ? 12 : 8, v4 ? 20 : 40) + proto + static_cast<std::uint32_t>(l4_len);
}
bool ipv4_checksum_ok(const Bytes& p) { return ref_fold(ref_sum(p, 0, ip_hlen(p))) == 0xffff; }
// Pseudo-header + transport header + payload sums to 0xffff when the checksum is right.
bool l4_checksum_ok(const Bytes& p, std::uint8_t proto) {
    const std::size_t h = ip_hlen(p);
    return ref_fold(ref_sum(p, h, p.size(), ref_pseudo(p, proto, p.size() - h))) == 0xffff;
}

struct Spec {
    bool v6 = false;
    const char* src = "10.1.0.1";
    const char* dst = "10.2.0.1";
    std::uint16_t sport = 40000;
    std::uint16_t dport = 443;
    std::uint32_t seq = 1000;
    std::uint32_t ack = 77777;
    std::uint8_t flags = kAck;
    std::uint16_t window = 512;
    Bytes options;  // a multiple of 4
    Bytes ip_options;  // IPv4, a multiple of 4
    std::uint16_t id = 100;
    std::uint8_t ttl = 64;
    std::uint8_t tos = 0;
    bool df = true;
    std::uint8_t proto = kTcp;
};

Spec v6_spec() {
    Spec s;
    s.v6 = true;
    s.src = "2001:db8:1::1";
    s.dst = "2001:db8:2::1";
    return s;
}

// A TCP (or, with proto UDP, UDP) packet with correct lengths and checksums.
Bytes build(const Spec& s, ByteView payload) {
    const std::size_t ihl = s.v6 ? 40 : 20 + s.ip_options.size();
    const std::size_t l4h = s.proto == kTcp ? 20 + s.options.size() : 8;
    Bytes p(ihl + l4h + payload.size(), 0);
    const IpAddress src = *IpAddress::parse(s.src), dst = *IpAddress::parse(s.dst);
    if (s.v6) {
        p[0] = static_cast<std::uint8_t>(0x60 | s.tos >> 4);
        p[1] = static_cast<std::uint8_t>(s.tos << 4);
        put16(p, 4, static_cast<std::uint32_t>(p.size() - 40));
        p[6] = s.proto;
        p[7] = s.ttl;
        std::memcpy(&p[8], src.bytes().data(), 16);
        std::memcpy(&p[24], dst.bytes().data(), 16);
    } else {
        p[0] = static_cast<std::uint8_t>(0x40 | ihl / 4);
        p[1] = s.tos;
        put16(p, 2, static_cast<std::uint32_t>(p.size()));
        put16(p, 4, s.id);
        p[6] = s.df ? 0x40 : 0;
        p[8] = s.ttl;
        p[9] = s.proto;
        std::memcpy(&p[12], src.bytes().data(), 4);
        std::memcpy(&p[16], dst.bytes().data(), 4);
        std::copy(s.ip_options.begin(), s.ip_options.end(), p.begin() + 20);
        put16(p, 10, static_cast<std::uint16_t>(~ref_fold(ref_sum(p, 0, ihl))));
    }
    put16(p, ihl, s.sport);
    put16(p, ihl + 2, s.dport);
    if (s.proto == kTcp) {
        put32(p, ihl + 4, s.seq);
        put32(p, ihl + 8, s.ack);
        p[ihl + 12] = static_cast<std::uint8_t>(l4h / 4 << 4);
        p[ihl + 13] = s.flags;
        put16(p, ihl + 14, s.window);
        std::copy(s.options.begin(), s.options.end(), p.begin() + static_cast<std::ptrdiff_t>(ihl + 20));
    } else {
        put16(p, ihl + 4, static_cast<std::uint32_t>(p.size() - ihl));
    }
    std::copy(payload.begin(), payload.end(), p.begin() + static_cast<std::ptrdiff_t>(ihl + l4h));
    const std::size_t csum_at = ihl + (s.proto == kTcp ? 16 : 6);
    const auto c = static_cast<std::uint16_t>(~ref_fold(ref_sum(p, ihl, p.size(), ref_pseudo(p, s.proto, p.size() - ihl))));
    put16(p, csum_at, c == 0 ? 0xffff : c);  // as the kernel's skb_checksum_help()
    return p;
}

Bytes pattern(std::size_t n, std::uint8_t seed = 0) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + seed + (i >> 8));
    return b;
}

// What the kernel hands over for a TSO send: the whole payload behind one
// header, the checksum field holding the pseudo-header sum only.
Bytes super_packet(const Spec& s, std::size_t payload_len, VnetHeader& h, std::uint16_t mss) {
    Bytes p = build(s, pattern(payload_len));
    const std::size_t ihl = ip_hlen(p);
    const std::size_t l4h = s.proto == kTcp ? 20 + s.options.size() : 8;
    const std::size_t csum_at = ihl + (s.proto == kTcp ? 16 : 6);
    put16(p, csum_at, ref_fold(ref_pseudo(p, s.proto, p.size() - ihl)));
    h = {};
    h.flags = vnet::kNeedsCsum;
    h.gso_type = s.proto == kUdp ? vnet::kGsoUdpL4 : (s.v6 ? vnet::kGsoTcpV6 : vnet::kGsoTcpV4);
    h.hdr_len = static_cast<std::uint16_t>(ihl + l4h);
    h.gso_size = mss;
    h.csum_start = static_cast<std::uint16_t>(ihl);
    h.csum_offset = s.proto == kTcp ? 16 : 6;
    return p;
}

// Fixed output slots, as the data plane hands them over.
struct Slots {
    explicit Slots(std::size_t n, std::size_t size = 2048) : storage(n, Bytes(size)), lengths(n) {
        for (auto& s : storage) spans.emplace_back(s);
    }
    std::optional<std::size_t> segment(const VnetHeader& h, const Bytes& p) {
        return segment_gso(h, p, spans, lengths);
    }
    Bytes at(std::size_t i) const { return Bytes(storage[i].begin(), storage[i].begin() + static_cast<std::ptrdiff_t>(lengths[i])); }
    std::vector<Bytes> storage;
    std::vector<std::span<std::uint8_t>> spans;
    std::vector<std::size_t> lengths;
};

TEST(OffloadVnetHeader, RoundTripAndShortInput) {
    VnetHeader h;
    h.flags = vnet::kNeedsCsum;
    h.gso_type = vnet::kGsoTcpV6;
    h.hdr_len = 72;
    h.gso_size = 1428;
    h.csum_start = 40;
    h.csum_offset = 16;
    std::array<std::uint8_t, kVnetHeaderSize> raw{};
    write_vnet_header(h, raw.data());
    EXPECT_EQ(raw[0], 1);
    EXPECT_EQ(raw[1], 4);
    std::uint16_t gso = 0;
    std::memcpy(&gso, &raw[4], 2);  // host order, as the kernel's legacy virtio header
    EXPECT_EQ(gso, 1428);
    const auto back = parse_vnet_header(raw);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->flags, h.flags);
    EXPECT_EQ(back->gso_type, h.gso_type);
    EXPECT_EQ(back->hdr_len, h.hdr_len);
    EXPECT_EQ(back->gso_size, h.gso_size);
    EXPECT_EQ(back->csum_start, h.csum_start);
    EXPECT_EQ(back->csum_offset, h.csum_offset);
    EXPECT_FALSE(parse_vnet_header(ByteView(raw).first(9)));
}

TEST(OffloadChecksum, UdpAndTcpPartialSums) {
    for (const bool v6 : {false, true}) {
        for (const std::uint8_t proto : {kUdp, kTcp}) {
            for (const std::size_t len : {0u, 1u, 333u, 1400u}) {
                Spec s = v6 ? v6_spec() : Spec{};
                s.proto = proto;
                VnetHeader h;
                Bytes p = super_packet(s, len, h, 1000);
                h.gso_type = vnet::kGsoNone;
                ASSERT_TRUE(complete_checksum(p, h));
                EXPECT_TRUE(l4_checksum_ok(p, proto)) << v6 << " " << int(proto) << " " << len;
                EXPECT_EQ(p, build(s, pattern(len)));
            }
        }
    }
}

TEST(OffloadChecksum, BoundsAndNoOp) {
    VnetHeader h;
    Bytes p = super_packet(Spec{}, 100, h, 1000);
    const Bytes before = p;
    h.flags = 0;
    EXPECT_TRUE(complete_checksum(p, h));
    EXPECT_EQ(p, before);
    h.flags = vnet::kNeedsCsum;
    h.csum_start = static_cast<std::uint16_t>(p.size() - 1);
    h.csum_offset = 0;
    EXPECT_FALSE(complete_checksum(p, h));
    h.csum_start = 20;
    h.csum_offset = static_cast<std::uint16_t>(p.size() - 21);
    EXPECT_FALSE(complete_checksum(p, h));
    h.csum_start = 0xffff;
    h.csum_offset = 0xffff;
    EXPECT_FALSE(complete_checksum(p, h));
    EXPECT_EQ(p, before);
}

// Checks the segments of a TCP super-packet built from `s` with `total`
// payload bytes: lengths, checksums, sequence numbers, IDs, flags, payload.
void expect_tcp_segments(const Spec& s, const Slots& out, std::size_t n, std::size_t total, std::uint16_t mss) {
    Bytes joined;
    for (std::size_t i = 0; i < n; ++i) {
        const Bytes seg = out.at(i);
        const std::size_t ihl = ip_hlen(seg);
        const std::size_t hlen = ihl + 20 + s.options.size();
        const std::size_t expect_payload = std::min<std::size_t>(mss, total - i * mss);
        ASSERT_EQ(seg.size(), hlen + expect_payload) << i;
        if (s.v6) {
            EXPECT_EQ(be16(seg, 4), seg.size() - 40);
        } else {
            EXPECT_EQ(be16(seg, 2), seg.size());
            EXPECT_EQ(be16(seg, 4), s.id + i);
            EXPECT_TRUE(ipv4_checksum_ok(seg)) << i;
        }
        EXPECT_TRUE(l4_checksum_ok(seg, kTcp)) << i;
        EXPECT_EQ(be32(seg, ihl + 4), static_cast<std::uint32_t>(s.seq + i * mss));
        EXPECT_EQ(be32(seg, ihl + 8), s.ack);
        const std::uint8_t flags = seg[ihl + 13];
        const bool last = i + 1 == n;
        EXPECT_EQ(flags & (kFin | kPsh), last ? s.flags & (kFin | kPsh) : 0) << i;
        EXPECT_EQ(flags & kCwr, i == 0 ? s.flags & kCwr : 0) << i;
        EXPECT_TRUE(flags & kAck);
        EXPECT_EQ(Bytes(seg.begin() + static_cast<std::ptrdiff_t>(ihl + 20), seg.begin() + static_cast<std::ptrdiff_t>(hlen)),
                  s.options);
        joined.insert(joined.end(), seg.begin() + static_cast<std::ptrdiff_t>(hlen), seg.end());
    }
    EXPECT_EQ(joined, pattern(total));
}

TEST(OffloadSegment, TcpV4) {
    Spec s;
    s.flags = kAck | kPsh | kFin | kCwr;
    s.seq = 0xfffff000;  // wraps during the run
    s.options = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};  // NOP NOP timestamps
    VnetHeader h;
    const Bytes p = super_packet(s, 3 * 1388 + 500, h, 1388);
    Slots out(8);
    const auto n = out.segment(h, p);
    ASSERT_EQ(n, 4u);
    expect_tcp_segments(s, out, *n, 3 * 1388 + 500, 1388);
}

TEST(OffloadSegment, TcpV6ExactMultiple) {
    Spec s = v6_spec();
    s.flags = kAck | kPsh;
    VnetHeader h;
    const Bytes p = super_packet(s, 5 * 1420, h, 1420);
    Slots out(8);
    const auto n = out.segment(h, p);
    ASSERT_EQ(n, 5u);
    expect_tcp_segments(s, out, *n, 5 * 1420, 1420);
}

TEST(OffloadSegment, Ipv4OptionsAndEcnFlag) {
    Spec s;
    s.ip_options = {1, 1, 1, 0};  // NOP NOP NOP EOL
    s.flags = kAck | kCwr;
    VnetHeader h;
    const Bytes p = super_packet(s, 2500, h, 1000);
    h.gso_type |= vnet::kGsoEcn;
    Slots out(4);
    const auto n = out.segment(h, p);
    ASSERT_EQ(n, 3u);
    EXPECT_EQ(out.at(0)[0], 0x46);
    expect_tcp_segments(s, out, *n, 2500, 1000);
}

TEST(OffloadSegment, HdrLenIsOnlyAHint) {
    // The kernel reports skb_headlen(): for a forwarded GRO packet the whole first segment.
    VnetHeader h;
    const Bytes p = super_packet(Spec{}, 3000, h, 1000);
    Slots expect(4), out(4);
    ASSERT_EQ(expect.segment(h, p), 3u);
    for (const std::uint16_t hint : {std::uint16_t(1040), std::uint16_t(0), std::uint16_t(p.size())}) {
        h.hdr_len = hint;
        ASSERT_EQ(out.segment(h, p), 3u) << hint;
        for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(out.at(i), expect.at(i));
    }
    h.hdr_len = static_cast<std::uint16_t>(p.size() + 1);  // beyond the packet: garbage
    EXPECT_FALSE(out.segment(h, p));
}

TEST(OffloadSegment, UdpL4BothVersions) {
    for (const bool v6 : {false, true}) {
        Spec s = v6 ? v6_spec() : Spec{};
        s.proto = kUdp;
        VnetHeader h;
        const Bytes p = super_packet(s, 2 * 1200 + 7, h, 1200);
        Slots out(4);
        const auto n = out.segment(h, p);
        ASSERT_EQ(n, 3u);
        Bytes joined;
        for (std::size_t i = 0; i < *n; ++i) {
            const Bytes seg = out.at(i);
            const std::size_t ihl = ip_hlen(seg);
            EXPECT_EQ(be16(seg, ihl + 4), seg.size() - ihl);
            EXPECT_TRUE(l4_checksum_ok(seg, kUdp));
            if (!v6) {
                EXPECT_TRUE(ipv4_checksum_ok(seg));
                EXPECT_EQ(be16(seg, 4), s.id + i);
            }
            joined.insert(joined.end(), seg.begin() + static_cast<std::ptrdiff_t>(ihl + 8), seg.end());
        }
        EXPECT_EQ(joined, pattern(2 * 1200 + 7));
    }
}

TEST(OffloadSegment, NoneCopiesAndCompletes) {
    VnetHeader h;
    Spec s;
    s.proto = kUdp;
    const Bytes p = super_packet(s, 300, h, 0);
    h.gso_type = vnet::kGsoNone;
    h.gso_size = 0;
    Slots out(1, 400);
    ASSERT_EQ(out.segment(h, p), 1u);
    EXPECT_EQ(out.at(0), build(s, pattern(300)));
    h.flags = 0;  // a complete packet is copied as is
    ASSERT_EQ(out.segment(h, p), 1u);
    EXPECT_EQ(out.at(0), p);
    Slots small(1, 100);
    EXPECT_FALSE(small.segment(h, p));
    h.flags = vnet::kNeedsCsum;
    h.csum_start = 0xfff0;
    EXPECT_FALSE(out.segment(h, p));
}

TEST(OffloadSegment, MalformedRejected) {
    VnetHeader good;
    const Bytes p = super_packet(Spec{}, 4000, good, 1000);
    Slots out(8);
    ASSERT_EQ(out.segment(good, p), 4u);

    auto rejects = [&](const VnetHeader& h, const Bytes& pkt) { return !out.segment(h, pkt).has_value(); };
    // truncated anywhere: the length field no longer matches, or headers are cut
    for (const std::size_t n : {0u, 1u, 19u, 20u, 39u, 40u, 1000u}) EXPECT_TRUE(rejects(good, Bytes(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n)))) << n;
    Bytes cut(p.begin(), p.begin() + 30);  // length field agrees, TCP header cut
    put16(cut, 2, 30);
    EXPECT_TRUE(rejects(good, cut));
    Bytes headers_only(p.begin(), p.begin() + 40);
    put16(headers_only, 2, 40);
    EXPECT_TRUE(rejects(good, headers_only));  // no payload
    Bytes bad_doff = p;
    bad_doff[32] = 0x40;  // data offset 16 bytes
    EXPECT_TRUE(rejects(good, bad_doff));
    bad_doff[32] = 0xf0;  // 60 bytes: inside the packet, so that is the header (hdr_len is only a hint)
    EXPECT_FALSE(rejects(good, bad_doff));

    VnetHeader h = good;
    h.gso_size = 0;
    EXPECT_TRUE(rejects(h, p));
    h = good;
    h.gso_size = 100;  // 40 segments, 8 slots
    EXPECT_TRUE(rejects(h, p));
    h = good;
    h.hdr_len = static_cast<std::uint16_t>(p.size() + 1);
    EXPECT_TRUE(rejects(h, p));
    h = good;
    h.csum_start = 24;
    EXPECT_TRUE(rejects(h, p));
    h = good;
    h.csum_offset = 6;
    EXPECT_TRUE(rejects(h, p));
    for (const std::uint8_t type : {vnet::kGsoTcpV6, vnet::kGsoUdp, std::uint8_t(2), std::uint8_t(6),
                                    std::uint8_t(vnet::kGsoEcn), std::uint8_t(vnet::kGsoUdpL4 | vnet::kGsoEcn)}) {
        h = good;
        h.gso_type = type;
        EXPECT_TRUE(rejects(h, p)) << int(type);
    }
    Bytes frag = p;
    frag[6] |= 0x20;  // MF
    EXPECT_TRUE(rejects(good, frag));
    Bytes udp = p;
    udp[9] = kUdp;
    EXPECT_TRUE(rejects(good, udp));
    Bytes ihl = p;
    ihl[0] = 0x44;
    EXPECT_TRUE(rejects(good, ihl));

    Slots small(8, 1000);  // a segment of 1040 bytes does not fit
    EXPECT_FALSE(small.segment(good, p));
    std::vector<std::size_t> few(2);  // lengths shorter than out
    EXPECT_FALSE(segment_gso(good, p, out.spans, few));

    // IPv6 with an extension header before TCP
    VnetHeader h6;
    Bytes p6 = super_packet(v6_spec(), 2000, h6, 1000);
    ASSERT_EQ(out.segment(h6, p6), 2u);
    p6[6] = 0;  // hop-by-hop
    EXPECT_TRUE(rejects(h6, p6));
}

// ---- coalescing ----

std::vector<Bytes> drain(TcpCoalescer& c) {
    std::vector<Bytes> out;
    c.flush([&](ByteView v) { out.push_back(to_bytes(v)); });
    return out;
}

VnetHeader header_of(const Bytes& item) { return *parse_vnet_header(item); }
Bytes packet_of(const Bytes& item) { return Bytes(item.begin() + kVnetHeaderSize, item.end()); }
bool zero_header(const Bytes& item) {
    return std::all_of(item.begin(), item.begin() + kVnetHeaderSize, [](std::uint8_t b) { return b == 0; });
}

// `n` consecutive segments of one flow as a Linux sender emits them: IDs
// counting up, the payload of segment i = pattern(...) slice.
std::vector<Bytes> run(Spec s, std::size_t n, std::size_t mss, std::size_t last = 0, bool psh_last = false) {
    std::vector<Bytes> out;
    const Bytes data = pattern(mss * n + last);
    for (std::size_t i = 0; i < n + (last ? 1 : 0); ++i) {
        const std::size_t len = i < n ? mss : last;
        s.flags = (psh_last && i + 1 == n + (last ? 1 : 0)) ? kAck | kPsh : kAck;
        out.push_back(build(s, ByteView(data).subspan(i * mss, len)));
        s.seq += static_cast<std::uint32_t>(len);
        ++s.id;
    }
    return out;
}

void expect_round_trip(const Bytes& item, const std::vector<Bytes>& originals) {
    Slots out(TcpCoalescer::kMaxSegments, 9000);
    const auto n = out.segment(header_of(item), packet_of(item));
    ASSERT_EQ(n, originals.size());
    for (std::size_t i = 0; i < *n; ++i) EXPECT_EQ(out.at(i), originals[i]) << i;
}

TEST(OffloadCoalescer, InOrderRunBecomesOneSuperPacket) {
    for (const bool v6 : {false, true}) {
        Spec s = v6 ? v6_spec() : Spec{};
        s.options = {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3};
        const auto pkts = run(s, 5, 1000, 300, true);
        TcpCoalescer c;
        for (const auto& p : pkts) ASSERT_TRUE(c.add(p));
        ASSERT_EQ(c.size(), 1u);
        const auto items = drain(c);
        ASSERT_EQ(items.size(), 1u);
        EXPECT_TRUE(c.empty());
        const VnetHeader h = header_of(items[0]);
        const std::size_t ihl = v6 ? 40 : 20;
        EXPECT_EQ(h.flags, vnet::kNeedsCsum);
        EXPECT_EQ(h.gso_type, v6 ? vnet::kGsoTcpV6 : vnet::kGsoTcpV4);
        EXPECT_EQ(h.hdr_len, ihl + 32);
        EXPECT_EQ(h.gso_size, 1000);
        EXPECT_EQ(h.csum_start, ihl);
        EXPECT_EQ(h.csum_offset, 16);
        const Bytes p = packet_of(items[0]);
        ASSERT_EQ(p.size(), ihl + 32 + 5300);
        if (v6) {
            EXPECT_EQ(be16(p, 4), p.size() - 40);
        } else {
            EXPECT_EQ(be16(p, 2), p.size());
            EXPECT_EQ(be16(p, 4), s.id);
            EXPECT_TRUE(ipv4_checksum_ok(p));
        }
        EXPECT_EQ(be32(p, ihl + 4), s.seq);
        EXPECT_EQ(p[ihl + 13], kAck | kPsh);  // the run's PSH, carried to its last segment again on output
        EXPECT_EQ(be16(p, ihl + 16), ref_fold(ref_pseudo(p, kTcp, p.size() - ihl)));
        EXPECT_EQ(Bytes(p.begin() + static_cast<std::ptrdiff_t>(ihl + 32), p.end()), pattern(5300));
        expect_round_trip(items[0], pkts);
    }
}

TEST(OffloadCoalescer, SinglesAndNonTcpPassUnchanged) {
    TcpCoalescer c;
    Spec udp;
    udp.proto = kUdp;
    const Bytes u = build(udp, pattern(100));
    const Bytes t = build(Spec{}, pattern(100));
    const Bytes garbage = {0x99, 1, 2};
    const Bytes empty;
    for (const Bytes* p : {&u, &t, &garbage, &empty}) ASSERT_TRUE(c.add(*p));
    const auto items = drain(c);
    ASSERT_EQ(items.size(), 4u);
    const Bytes* expect[] = {&u, &t, &garbage, &empty};
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_TRUE(zero_header(items[i])) << i;
        EXPECT_EQ(packet_of(items[i]), *expect[i]) << i;
    }
}

TEST(OffloadCoalescer, OutOfOrderStartsNewItems) {
    const auto pkts = run(Spec{}, 4, 1000);
    TcpCoalescer c;
    const std::size_t order[] = {0, 2, 1, 3};
    for (const std::size_t i : order) ASSERT_TRUE(c.add(pkts[i]));
    // 0 | 2 | 1 | 3: a packet joins only its flow's latest item, and none continues it
    const auto items = drain(c);
    ASSERT_EQ(items.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_TRUE(zero_header(items[i])) << i;
        EXPECT_EQ(packet_of(items[i]), pkts[order[i]]) << i;
    }
}

TEST(OffloadCoalescer, InterleavedFlowsMergeSeparately) {
    Spec b;
    b.sport = 40001;
    b.seq = 555;
    const auto a_pkts = run(Spec{}, 3, 1200);
    const auto b_pkts = run(b, 3, 800);
    TcpCoalescer c;
    for (std::size_t i = 0; i < 3; ++i) {
        ASSERT_TRUE(c.add(a_pkts[i]));
        ASSERT_TRUE(c.add(b_pkts[i]));
    }
    const auto items = drain(c);
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(header_of(items[0]).gso_size, 1200);
    EXPECT_EQ(header_of(items[1]).gso_size, 800);
    expect_round_trip(items[0], a_pkts);
    expect_round_trip(items[1], b_pkts);
}

TEST(OffloadCoalescer, PshEndsARun) {
    // segment 1 carries PSH: 0+1 merge, 2+3 start again
    std::vector<Bytes> pkts;
    Spec s;
    for (int i = 0; i < 4; ++i) {
        s.flags = i == 1 ? kAck | kPsh : kAck;
        pkts.push_back(build(s, pattern(1000, static_cast<std::uint8_t>(i))));
        s.seq += 1000;
        ++s.id;
    }
    TcpCoalescer c;
    for (const auto& p : pkts) ASSERT_TRUE(c.add(p));
    const auto items = drain(c);
    ASSERT_EQ(items.size(), 2u);
    expect_round_trip(items[0], {pkts[0], pkts[1]});
    expect_round_trip(items[1], {pkts[2], pkts[3]});
    // a first packet with PSH stands alone
    TcpCoalescer d;
    ASSERT_TRUE(d.add(pkts[1]));
    ASSERT_TRUE(d.add(pkts[2]));
    EXPECT_EQ(d.size(), 2u);
}

TEST(OffloadCoalescer, ShortSegmentEndsARunAndLargerNeverFollows) {
    const auto pkts = run(Spec{}, 2, 1000, 400);  // 1000 1000 400
    Spec s;
    s.seq += 2400;
    s.id = static_cast<std::uint16_t>(s.id + 3);
    const Bytes after = build(s, pattern(1000));
    TcpCoalescer c;
    for (const auto& p : pkts) ASSERT_TRUE(c.add(p));
    ASSERT_TRUE(c.add(after));
    ASSERT_EQ(c.size(), 2u);
    const auto items = drain(c);
    expect_round_trip(items[0], pkts);

    const auto grow = run(Spec{}, 1, 500);  // 500 then 1000: cannot merge
    Spec g;
    g.seq += 500;
    ++g.id;
    TcpCoalescer d;
    ASSERT_TRUE(d.add(grow[0]));
    ASSERT_TRUE(d.add(build(g, pattern(1000))));
    EXPECT_EQ(d.size(), 2u);
}

TEST(OffloadCoalescer, DifferingFieldsStartANewItem) {
    auto variant = [](auto change) {
        Spec s;
        const Bytes first = build(s, pattern(1000));
        s.seq += 1000;
        ++s.id;
        change(s);
        TcpCoalescer c;
        EXPECT_TRUE(c.add(first));
        EXPECT_TRUE(c.add(build(s, pattern(1000))));
        return c.size();
    };
    EXPECT_EQ(variant([](Spec&) {}), 1u);
    EXPECT_EQ(variant([](Spec& s) { s.ack += 1; }), 2u);
    EXPECT_EQ(variant([](Spec& s) { s.window = 1; }), 2u);
    EXPECT_EQ(variant([](Spec& s) { s.ttl = 63; }), 2u);
    EXPECT_EQ(variant([](Spec& s) { s.tos = 1; }), 2u);
    EXPECT_EQ(variant([](Spec& s) { s.df = false; }), 2u);
    EXPECT_EQ(variant([](Spec& s) { s.options = {1, 1, 1, 1}; }), 2u);
    EXPECT_EQ(variant([](Spec& s) { s.seq += 1; }), 2u);
    EXPECT_EQ(variant([](Spec& s) { s.dst = "10.2.0.2"; }), 2u);
    EXPECT_EQ(variant([](Spec& s) { s.dport = 444; }), 2u);
    for (const std::uint8_t f : {kFin, kSyn, kRst, kUrg, kEce, kCwr})
        EXPECT_EQ(variant([f](Spec& s) { s.flags = static_cast<std::uint8_t>(kAck | f); }), 2u) << int(f);
    EXPECT_EQ(variant([](Spec& s) { s.flags = kPsh; }), 2u);  // no ACK
    EXPECT_EQ(variant([](Spec& s) { s.ip_options = {1, 1, 1, 0}; }), 2u);
}

TEST(OffloadCoalescer, NonRunPacketsOfAFlowKeepItsOrder) {
    const auto pkts = run(Spec{}, 3, 1000);
    Spec ack_only;  // a pure ACK of the same flow between two data segments
    ack_only.seq = 2000;
    const Bytes pure_ack = build(ack_only, {});
    TcpCoalescer c;
    ASSERT_TRUE(c.add(pkts[0]));
    ASSERT_TRUE(c.add(pkts[1]));
    ASSERT_TRUE(c.add(pure_ack));
    ASSERT_TRUE(c.add(pkts[2]));  // continues item 0 by sequence, but must not jump the ACK
    const auto items = drain(c);
    ASSERT_EQ(items.size(), 3u);
    expect_round_trip(items[0], {pkts[0], pkts[1]});
    EXPECT_EQ(packet_of(items[1]), pure_ack);
    EXPECT_EQ(packet_of(items[2]), pkts[2]);
}

TEST(OffloadCoalescer, AmbiguousPacketClosesRuns) {
    const auto pkts = run(Spec{}, 2, 1000);
    Bytes frag = build(Spec{}, pattern(100));
    frag[6] = 0x00;
    frag[7] = 0x10;  // fragment offset 128: no TCP header to read
    TcpCoalescer c;
    ASSERT_TRUE(c.add(pkts[0]));
    ASSERT_TRUE(c.add(frag));
    ASSERT_TRUE(c.add(pkts[1]));
    EXPECT_EQ(c.size(), 3u);
}

TEST(OffloadCoalescer, SizeAndSegmentLimits) {
    {  // 64 segments of 100 bytes, then a new item
        const auto pkts = run(Spec{}, 70, 100);
        TcpCoalescer c;
        for (const auto& p : pkts) ASSERT_TRUE(c.add(p));
        const auto items = drain(c);
        ASSERT_EQ(items.size(), 2u);
        expect_round_trip(items[0], std::vector<Bytes>(pkts.begin(), pkts.begin() + 64));
        expect_round_trip(items[1], std::vector<Bytes>(pkts.begin() + 64, pkts.end()));
    }
    {  // 1400-byte segments: 46 fit in 65535 bytes (40 + 46 * 1400 = 64440)
        const auto pkts = run(Spec{}, 50, 1400);
        TcpCoalescer c;
        for (const auto& p : pkts) ASSERT_TRUE(c.add(p));
        const auto items = drain(c);
        ASSERT_EQ(items.size(), 2u);
        EXPECT_EQ(items[0].size(), kVnetHeaderSize + 40 + 46 * 1400);
        expect_round_trip(items[0], std::vector<Bytes>(pkts.begin(), pkts.begin() + 46));
    }
}

TEST(OffloadCoalescer, FullThenFlushAndAddAgain) {
    TcpCoalescer c(2);
    EXPECT_EQ(c.capacity(), 2u);
    Spec other;
    other.sport = 1;
    const auto a = run(Spec{}, 3, 1000);
    ASSERT_TRUE(c.add(a[0]));
    ASSERT_TRUE(c.add(build(other, pattern(10))));
    ASSERT_TRUE(c.add(a[1]));  // full, but a continuation still merges
    Spec third;
    third.sport = 2;
    const Bytes t = build(third, pattern(10));
    EXPECT_FALSE(c.add(t));
    EXPECT_EQ(c.size(), 2u);
    const auto items = drain(c);
    ASSERT_EQ(items.size(), 2u);
    expect_round_trip(items[0], {a[0], a[1]});
    EXPECT_TRUE(c.add(t));
    EXPECT_FALSE(c.add(Bytes(TcpCoalescer::kMaxIpPacket + 1, 0x45)));  // never, even when empty
    EXPECT_EQ(drain(c).size(), 1u);
}

}  // namespace
}  // namespace mobiked::dataplane
