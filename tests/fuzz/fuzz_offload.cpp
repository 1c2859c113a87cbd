// libFuzzer target for the TUN offloads. The first byte picks the mode:
//  even: the rest is a vnet header + IP packet for segment_gso into 64 slots
//        of 1600 bytes, each its own heap block so ASan sees any overflow.
//        Segments must fit their slot; GSO segments must be whole IP packets
//        with valid IPv4 header and transport checksums whose payloads add
//        up to the input's; a kGsoNone copy must equal the input except the
//        completed checksum, which must verify against the partial sum.
//  odd:  the rest is a list of [u16 length][packet] records fed to a
//        TcpCoalescer of 8 items (flushed when full). Every emitted item must
//        segment back into packets that went in - each used once, equal
//        except IPv4 ID/header checksum and TCP checksum - and items must
//        come out in the order their first packets arrived.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "dataplane/offload.hpp"
#include "ipsec/ip.hpp"

using namespace mobiked;
using namespace mobiked::dataplane;

namespace {

constexpr std::size_t kSlots = 64;

struct Slots {
    explicit Slots(std::size_t size) : size(size) {
        for (std::size_t i = 0; i < kSlots; ++i) {
            blocks.emplace_back(new std::uint8_t[size]);
            spans.emplace_back(blocks.back().get(), size);
        }
    }
    std::size_t size;
    std::vector<std::unique_ptr<std::uint8_t[]>> blocks;
    std::vector<std::span<std::uint8_t>> spans;
    std::size_t lengths[kSlots];
};

void check(bool ok) {
    if (!ok) __builtin_trap();
}

std::uint16_t sum(ByteView v, std::uint32_t start = 0) {
    return ipsec::checksum_fold(ipsec::checksum_add(start, v));
}

std::size_t ip_hlen(ByteView p) { return p[0] >> 4 == 4 ? static_cast<std::size_t>(p[0] & 0x0f) * 4 : 40; }

// A GSO segment: whole IP packet, lengths and checksums right. Returns its header length.
std::size_t check_segment(ByteView s, std::uint8_t proto) {
    check(!s.empty());
    const std::size_t ihl = ip_hlen(s);
    check(s.size() > ihl + (proto == 6 ? 20 : 8));
    std::uint32_t pseudo;
    if (s[0] >> 4 == 4) {
        check(load_be16(&s[2]) == s.size() && sum(s.first(ihl)) == 0xffff && s[9] == proto);
        pseudo = ipsec::checksum_add(0, s.subspan(12, 8));
    } else {
        check(s[0] >> 4 == 6 && load_be16(&s[4]) + 40u == s.size() && s[6] == proto);
        pseudo = ipsec::checksum_add(0, s.subspan(8, 32));
    }
    const std::size_t l4_len = s.size() - ihl;
    pseudo += proto + static_cast<std::uint32_t>(l4_len);
    check(sum(s.subspan(ihl), pseudo) == 0xffff);
    const std::size_t l4h = proto == 6 ? static_cast<std::size_t>(s[ihl + 12] >> 4) * 4 : 8;
    if (proto == 17) check(load_be16(&s[ihl + 4]) == l4_len);
    check(ihl + l4h < s.size());
    return ihl + l4h;
}

void fuzz_segment(ByteView in) {
    static Slots slots(1600);
    const auto h = parse_vnet_header(in);
    if (!h) return;
    const ByteView packet = in.subspan(kVnetHeaderSize);
    const auto n = segment_gso(*h, packet, slots.spans, slots.lengths);
    if (!n) return;
    check(*n >= 1 && *n <= kSlots);
    auto seg = [&](std::size_t i) { return ByteView(slots.spans[i].data(), slots.lengths[i]); };
    for (std::size_t i = 0; i < *n; ++i) check(slots.lengths[i] <= slots.size);
    if (h->gso_type == vnet::kGsoNone) {
        check(*n == 1 && slots.lengths[0] == packet.size());
        const ByteView out = seg(0);
        if (!(h->flags & vnet::kNeedsCsum)) {
            check(std::memcmp(out.data(), packet.data(), packet.size()) == 0);
            return;
        }
        const std::size_t field = std::size_t{h->csum_start} + h->csum_offset;
        check(std::memcmp(out.data(), packet.data(), field) == 0);
        check(std::memcmp(out.data() + field + 2, packet.data() + field + 2, packet.size() - field - 2) == 0);
        // the completed checksum plus the partial sum it replaced verifies (a field
        // at an odd offset straddles two words of the sum: no real protocol has one)
        if (h->csum_offset % 2 == 0) check(sum(out.subspan(h->csum_start), load_be16(&packet[field])) == 0xffff);
        return;
    }
    const std::uint8_t proto = (h->gso_type & ~vnet::kGsoEcn) == vnet::kGsoUdpL4 ? 17 : 6;
    std::size_t payload = 0;
    const std::size_t hlen = check_segment(seg(0), proto);
    for (std::size_t i = 0; i < *n; ++i) {
        check(check_segment(seg(i), proto) == hlen);
        check(slots.lengths[i] - hlen <= h->gso_size);
        payload += slots.lengths[i] - hlen;
    }
    check(payload == packet.size() - hlen);
}

// Equal except the fields segmentation rewrites: IPv4 ID and header
// checksum, TCP checksum.
bool same_segment(ByteView a, ByteView b, std::size_t hlen) {
    if (a.size() != b.size() || a.size() < hlen) return false;
    std::size_t skip[3][2] = {{0, 0}, {0, 0}, {ip_hlen(a) + 16, ip_hlen(a) + 18}};
    if (a[0] >> 4 == 4) {
        skip[0][0] = 4, skip[0][1] = 6;
        skip[1][0] = 10, skip[1][1] = 12;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const bool skipped = (i >= skip[0][0] && i < skip[0][1]) || (i >= skip[1][0] && i < skip[1][1]) ||
                             (i >= skip[2][0] && i < skip[2][1]);
        if (!skipped && a[i] != b[i]) return false;
    }
    return true;
}

struct Inputs {
    std::vector<ByteView> packets;
    std::vector<bool> used;
    std::size_t last_first = 0;  // arrival index of the previous item's first packet, +1
};

// Marks the earliest unused input equal to `s` (all of it when `hlen` is 0).
std::size_t match(Inputs& in, ByteView s, std::size_t hlen) {
    for (std::size_t i = 0; i < in.packets.size(); ++i) {
        if (in.used[i]) continue;
        const ByteView p = in.packets[i];
        const bool eq = hlen == 0 ? p.size() == s.size() && std::memcmp(p.data(), s.data(), s.size()) == 0
                                  : same_segment(s, p, hlen);
        if (eq) {
            in.used[i] = true;
            return i;
        }
    }
    __builtin_trap();
}

void check_item(Inputs& in, ByteView item) {
    static Slots slots(TcpCoalescer::kMaxIpPacket);
    check(item.size() >= kVnetHeaderSize && item.size() <= TcpCoalescer::kSlotSize);
    const VnetHeader h = *parse_vnet_header(item);
    const ByteView p = item.subspan(kVnetHeaderSize);
    std::size_t first;
    if (h.gso_type == vnet::kGsoNone) {
        static constexpr std::uint8_t zero[kVnetHeaderSize]{};
        check(std::memcmp(item.data(), zero, kVnetHeaderSize) == 0);
        first = match(in, p, 0);
    } else {
        const auto n = segment_gso(h, p, slots.spans, slots.lengths);
        check(n && *n >= 2 && *n <= TcpCoalescer::kMaxSegments);
        first = match(in, ByteView(slots.spans[0].data(), slots.lengths[0]), h.hdr_len);
        std::size_t prev = first;
        for (std::size_t i = 1; i < *n; ++i) {
            const std::size_t at = match(in, ByteView(slots.spans[i].data(), slots.lengths[i]), h.hdr_len);
            check(at > prev);  // a flow's packets stay in order
            prev = at;
        }
    }
    check(first + 1 > in.last_first);
    in.last_first = first + 1;
}

void fuzz_coalesce(ByteView data) {
    static TcpCoalescer c(8);
    Inputs in;
    auto flush = [&] {
        c.flush([&](ByteView item) { check_item(in, item); });
        for (const bool u : in.used) check(u);
    };
    while (data.size() >= 2 && in.packets.size() < 256) {
        const std::size_t len = std::min<std::size_t>(load_be16(data.data()), data.size() - 2);
        const ByteView p = data.subspan(2, len);
        data = data.subspan(2 + len);
        if (!c.add(p)) {
            flush();
            check(c.add(p));
        }
        in.packets.push_back(p);
        in.used.push_back(false);
    }
    flush();
    check(c.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const ByteView rest(data + 1, size - 1);
    if (data[0] & 1)
        fuzz_coalesce(rest);
    else
        fuzz_segment(rest);
    return 0;
}
