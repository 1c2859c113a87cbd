// TUN offloads (IFF_VNET_HDR + TUNSETOFFLOAD TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6):
// every TUN read and write starts with a virtio_net_hdr (linux/virtio_net.h).
// Reads may be TCP super-packets of up to 64 KiB (TSO) or packets whose
// transport checksum holds only the pseudo-header sum; segment_gso turns them
// into complete IP packets the ESP path can seal. Writes go through
// TcpCoalescer, which merges consecutive decrypted TCP segments of a flow
// into one super-packet so the kernel's TCP stack handles a 64 KiB batch per
// write instead of one MTU. Pure functions over caller memory: no I/O, and
// nothing allocates per packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "common/bytes.hpp"

namespace mobiked::dataplane {

// virtio_net_hdr flags and gso_type values (linux/virtio_net.h).
namespace vnet {
inline constexpr std::uint8_t kNeedsCsum = 1;  // checksum at csum_start+csum_offset is partial
inline constexpr std::uint8_t kDataValid = 2;  // checksum already verified (receive hint only)
inline constexpr std::uint8_t kGsoNone = 0;
inline constexpr std::uint8_t kGsoTcpV4 = 1;
inline constexpr std::uint8_t kGsoUdp = 3;  // UFO (IP fragmentation): never offered, rejected
inline constexpr std::uint8_t kGsoTcpV6 = 4;
inline constexpr std::uint8_t kGsoUdpL4 = 5;  // UDP segmentation (USO)
inline constexpr std::uint8_t kGsoEcn = 0x80;  // TCP super-packet with CWR set (on the first segment only)
}  // namespace vnet

//  0               1               2               3
//  +---------------+---------------+-------------------------------+
//  |     flags     |   gso_type    |            hdr_len            |
//  +---------------+---------------+-------------------------------+
//  |           gso_size            |          csum_start           |
//  +-------------------------------+-------------------------------+
//  |          csum_offset          |
//  +-------------------------------+
// The 16-bit fields are in host byte order: a TUN without TUNSETVNETLE/BE
// uses legacy virtio endianness, which is the host's.
inline constexpr std::size_t kVnetHeaderSize = 10;

struct VnetHeader {
    std::uint8_t flags = 0;
    std::uint8_t gso_type = vnet::kGsoNone;
    std::uint16_t hdr_len = 0;      // IP + transport header bytes; from the kernel only a hint (see segment_gso)
    std::uint16_t gso_size = 0;     // payload bytes per segment (the last may be shorter)
    std::uint16_t csum_start = 0;   // offset of the transport header from the IP header
    std::uint16_t csum_offset = 0;  // of the checksum field within it (TCP 16, UDP 6)
};

// nullopt when `in` is shorter than kVnetHeaderSize.
std::optional<VnetHeader> parse_vnet_header(ByteView in);
// Writes kVnetHeaderSize bytes at `out`.
void write_vnet_header(const VnetHeader& h, std::uint8_t* out);

// Finishes a partial checksum in place: with vnet::kNeedsCsum, the field at
// csum_start+csum_offset holds the pseudo-header sum; the checksum over
// csum_start..end replaces it. true without kNeedsCsum (nothing to do);
// false (packet unchanged) when the field lies outside `packet`.
bool complete_checksum(std::span<std::uint8_t> packet, const VnetHeader& h);

// Splits `packet` (the IP packet after the vnet header `h`) into complete IP
// packets: segment i goes to out[i], its length to lengths[i]; returns the
// count. Every segment gets its own IPv4 total length, ID (the
// super-packet's + i) and header checksum or IPv6 payload length, and a full
// transport checksum computed from scratch (the super-packet's field is
// ignored). TCP: sequence number advanced by gso_size per segment, FIN and
// PSH kept on the last segment only, CWR on the first only. UDP (kGsoUdpL4):
// UDP length per segment. kGsoNone: one copy, its checksum completed when
// kNeedsCsum. hdr_len is not trusted: the kernel reports the linear head of
// the skb there (for forwarded GRO packets the whole first segment), so the
// header length is parsed from the packet and hdr_len is only checked not
// to exceed the packet (the kernel's own check on writes).
// nullopt (contents of `out` unspecified) when the input is malformed or not
// supported: unknown gso_type or one not matching the IP version, IP/TCP/UDP
// headers truncated or their lengths inconsistent with the packet, IPv4
// fragment, IPv6 extension headers, kNeedsCsum with csum_start/csum_offset
// not at the transport checksum, gso_size 0, no payload, more segments than
// min(out.size(), lengths.size()), or a segment larger than its out buffer.
std::optional<std::size_t> segment_gso(const VnetHeader& h, ByteView packet,
                                       std::span<const std::span<std::uint8_t>> out,
                                       std::span<std::size_t> lengths);

// Receive-direction GRO: holds decrypted inner IP packets and hands them to
// the TUN as `vnet header + packet` buffers, consecutive TCP segments of a
// flow merged into one super-packet (gso_type TCPV4/TCPV6, kNeedsCsum, TCP
// checksum field = pseudo-header sum over the merged length, as the kernel
// expects for CHECKSUM_PARTIAL). Incoming checksums are not verified: ESP
// already protected the packets' integrity. A packet joins only its flow's
// most recent item, so each flow keeps its order, and items are emitted in
// arrival order; a packet whose flow cannot be read (IPv4 non-first
// fragment, IPv6 extension headers) ends every run, so nothing overtakes it.
// Unmerged packets are emitted unchanged with an all-zero vnet header.
//
// Storage: `max_items` slots of kSlotSize bytes allocated once in the
// constructor (64 slots: 4.0 MiB of address space, pages touched only as
// packets fill them); one slot per item, since a merged item may grow to
// a full 64 KiB IP packet.
class TcpCoalescer {
public:
    static constexpr std::size_t kMaxIpPacket = 65535;
    static constexpr std::size_t kSlotSize = kVnetHeaderSize + kMaxIpPacket;
    static constexpr std::size_t kDefaultItems = 64;
    // Segments per super-packet, bounding the work of one item like the
    // kernel's UDP_MAX_SEGMENTS; from an MSS of 1023 up the 64 KiB limit binds first.
    static constexpr std::size_t kMaxSegments = 64;

    explicit TcpCoalescer(std::size_t max_items = kDefaultItems);

    // Copies `ip_packet` in, merged into its flow's latest item when it
    // continues it. false (nothing held) when it needs a new item and all
    // max_items are in use: flush, then add again. A packet larger than
    // kMaxIpPacket is never accepted (no IP packet is; drop it).
    bool add(ByteView ip_packet);

    // Calls emit(ByteView) once per item, in arrival order, with
    // kVnetHeaderSize + IP packet bytes ready for one TUN write; the view is
    // valid during the call only. Then holds nothing. `emit` must not add().
    template <typename Emit>
    void flush(Emit&& emit) {
        for (std::size_t i = 0; i < count_; ++i) emit(finish(i));
        count_ = 0;
    }

    std::size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }
    std::size_t capacity() const { return max_items_; }

private:
    struct Item {
        std::uint32_t len = 0;       // IP packet bytes in the slot
        std::uint32_t next_seq = 0;  // sequence number a continuation must carry
        std::uint16_t gso_size = 0;  // payload of the first segment
        std::uint8_t ip_hlen = 0;
        std::uint8_t tcp_hlen = 0;
        std::uint8_t segments = 1;
        bool keyed = false;  // TCP whose addresses and ports were read: a flow's item
        bool open = false;   // may still take a continuation
    };

    std::uint8_t* slot(std::size_t i) { return storage_.get() + i * kSlotSize; }
    std::uint8_t* packet(std::size_t i) { return slot(i) + kVnetHeaderSize; }
    std::optional<std::size_t> latest_of_flow(ByteView p, std::size_t ip_hlen);
    bool try_merge(Item& item, std::uint8_t* held, ByteView p);
    void close_all();
    ByteView finish(std::size_t i);

    std::size_t max_items_;
    std::size_t count_ = 0;
    std::unique_ptr<std::uint8_t[]> storage_;
    std::unique_ptr<Item[]> items_;
};

}  // namespace mobiked::dataplane
