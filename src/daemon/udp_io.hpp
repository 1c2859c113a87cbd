// UDP sockets for IKE (ike_port) and NAT-T (natt_port), IPv4 and IPv6, bound
// to the wildcard address. Each datagram's local address comes from
// IP_PKTINFO / IPV6_PKTINFO and replies leave from that same address, so a
// multi-homed host answers from the address the peer used (and MOBIKE sees
// which address a datagram arrived on).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/bytes.hpp"
#include "common/net.hpp"
#include "common/result.hpp"
#include "common/source_pins.hpp"
#include "dataplane/esp_socket.hpp"
#include "ike/engine.hpp"

namespace mobiked::daemon {

// What a datagram on the NAT-T port carries (RFC 3948 §2).
enum class NattPayload { ike, esp, keepalive, invalid };
NattPayload classify_natt(ByteView datagram);

// Whether a datagram between these ports carries the 4-byte non-ESP marker.
bool needs_marker(const Endpoint& local, const Endpoint& remote, std::uint16_t natt_port);

struct ReceivedDatagram {
    Endpoint local;
    Endpoint remote;
    Bytes data;
};

// Reusable receive buffers for recvmmsg: kSlots datagrams per system call,
// each slot with `kHeadroom` free bytes in front so the data plane can
// decapsulate in place. Owned by the caller; reused by every receive_batch.
class RecvBatch {
public:
    static constexpr std::size_t kSlots = 32;
    static constexpr std::size_t kHeadroom = 128;
    static constexpr std::size_t kSlotSize = kHeadroom + 65536 + 64;  // + tailroom

    struct Entry {
        Endpoint local;
        Endpoint remote;
        std::size_t length = 0;  // datagram bytes at slot(i) + kHeadroom
        bool valid = false;      // false: truncated or without pktinfo (dropped)
        // UDP_GRO: the kernel coalesced datagrams of this size back to back
        // (the last may be shorter); 0 for a single datagram.
        std::size_t segment = 0;
    };
    RecvBatch() : storage_(kSlots * kSlotSize) {}
    std::span<std::uint8_t> slot(std::size_t i) { return {storage_.data() + i * kSlotSize, kSlotSize}; }
    ByteView data(std::size_t i) const { return {storage_.data() + i * kSlotSize + kHeadroom, entries[i].length}; }
    std::array<Entry, kSlots> entries{};

private:
    std::vector<std::uint8_t> storage_;
};

class UdpSockets {
public:
    UdpSockets() = default;
    ~UdpSockets();
    UdpSockets(const UdpSockets&) = delete;
    UdpSockets& operator=(const UdpSockets&) = delete;

    // IPv4 sockets are required; IPv6 ones are skipped when the host has no
    // IPv6 (reported through `warnings`).
    Status open(std::uint16_t ike_port, std::uint16_t natt_port, std::vector<std::string>& warnings);
    std::vector<int> fds() const;
    bool is_natt(int fd) const;
    // SO_MARK on every socket, so our datagrams bypass the data plane's
    // routing table (see dataplane/routes.hpp). False if any socket refused.
    bool set_mark(std::uint32_t mark);

    // One datagram, or nullopt when the socket has nothing more (or on error,
    // with `error` set). Datagrams larger than an IKE message are truncated
    // and reported as errors.
    std::optional<ReceivedDatagram> receive(int fd, std::string& error);
    // Up to RecvBatch::kSlots datagrams with one recvmmsg; returns how many
    // (0 when the socket has nothing, or on error with `error` set).
    std::size_t receive_batch(int fd, RecvBatch& batch, std::string& error);
    // Larger kernel receive buffers (SO_RCVBUFFORCE, falls back to SO_RCVBUF)
    // for the NAT-T sockets, which carry ESP bursts.
    void set_natt_receive_buffer(int bytes);
    // `data` is sent as is; the caller adds the non-ESP marker.
    Status send(const Endpoint& local, const Endpoint& remote, ByteView data);
    // sendmmsg for runs of datagrams leaving through the same socket (ESP from
    // the data plane). Consecutive equal-size datagrams between the same
    // endpoints leave as one UDP_SEGMENT (GSO) message. Returns how many were
    // sent; the rest were refused.
    std::size_t send_batch(std::span<const dataplane::OutDatagram> batch);
    // UDP GSO on send / GRO on receive; on by default, off for good when the
    // kernel refuses UDP_SEGMENT. `enable_gro` is for the NAT-T sockets.
    void set_gso(bool on) { gso_.store(on, std::memory_order_relaxed); }
    bool gso() const { return gso_.load(std::memory_order_relaxed); }
    void enable_gro();
    // Source addresses bound to an interface (MOBIKE failover); must outlive us.
    void set_source_pins(const SourcePins* pins) { pins_ = pins; }

private:
    std::size_t send_run(std::span<const dataplane::OutDatagram> batch, bool gso);
    // Data-plane workers send too (send_batch): what they read or write here
    // is this flag, the fixed socket list and the pins (locked inside).
    std::atomic<bool> gso_{true};
    int pin(const IpAddress& source) const { return pins_ ? pins_->ifindex(source) : 0; }
    const SourcePins* pins_ = nullptr;
    struct Socket {
        int fd = -1;
        bool v6 = false;
        std::uint16_t port = 0;
    };
    const Socket* find(int fd) const;
    const Socket* socket_for(const Endpoint& local, const Endpoint& remote) const;
    std::vector<Socket> sockets_;
    std::uint16_t natt_port_ = 0;
    // Reused for every receive: a fresh zero-filled 64 KiB buffer per
    // datagram was 7% of a busy responder's instructions.
    std::vector<std::uint8_t> scratch_;
};

// The source address the kernel's routing would pick towards `remote`
// (connect() on a UDP socket, then getsockname()); nullopt when unroutable.
// `mark` (SO_MARK) makes the lookup the one our own marked sockets get.
std::optional<IpAddress> route_source(const IpAddress& remote, std::uint32_t mark = 0);

}  // namespace mobiked::daemon
