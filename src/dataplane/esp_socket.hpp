// Raw ESP (IP protocol 50) sockets for SAs without UDP encapsulation.
// The kernel here has no ESP handler, so a raw socket sees every ESP packet
// addressed to the host; it adds the outer IP header on send (no HDRINCL),
// with the source address chosen by IP_PKTINFO / IPV6_PKTINFO.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "common/bytes.hpp"
#include "common/net.hpp"
#include "common/result.hpp"
#include "common/source_pins.hpp"

namespace mobiked::dataplane {

// One datagram to send: addresses and a view of caller memory.
struct OutDatagram {
    Endpoint local;  // address (and port for UDP); unspecified address: the kernel picks
    Endpoint remote;
    ByteView data;
};

struct RawEspPacket {
    IpAddress local;
    IpAddress remote;
    std::size_t offset = 0;  // where the ESP header starts in the caller's buffer
    std::size_t length = 0;  // ESP header to end
};

class RawEspSocket {
public:
    static constexpr int kReceiveBuffer = 4 << 20;

    RawEspSocket() = default;
    ~RawEspSocket();
    RawEspSocket(const RawEspSocket&) = delete;
    RawEspSocket& operator=(const RawEspSocket&) = delete;

    // `mark` (SO_MARK) keeps our ESP out of the TUN routing table.
    Status open(IpAddress::Family family, std::uint32_t mark);
    int fd() const { return fd_; }
    bool v6() const { return v6_; }

    // One packet into buf (IPv4: the IP header is skipped and checked).
    // nullopt when nothing is waiting or the packet is malformed (`bad` set).
    std::optional<RawEspPacket> receive(std::span<std::uint8_t> buf, bool& bad);
    bool send(const IpAddress& local, const IpAddress& remote, ByteView esp);
    // sendmmsg of up to kMaxBatch datagrams (ports ignored); how many were sent.
    std::size_t send_batch(std::span<const OutDatagram> batch);
    static constexpr std::size_t kMaxBatch = 64;

    // Source addresses bound to an interface (MOBIKE failover); must outlive us.
    void set_source_pins(const SourcePins* pins) { pins_ = pins; }

private:
    int fd_ = -1;
    bool v6_ = false;
    const SourcePins* pins_ = nullptr;
};

}  // namespace mobiked::dataplane
