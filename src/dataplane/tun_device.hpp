// The TUN seam: a layer-3 device whose reads are the packets the kernel
// routes into it and whose writes are packets the kernel receives from it.
// One IP packet per read/write (IFF_TUN | IFF_NO_PI), non-blocking.
// With offloads (IFF_VNET_HDR + TUNSETOFFLOAD) each read starts with a
// virtio_net_hdr and may be a 64 KB TCP super-packet or carry a partial
// checksum; writes can hand the kernel such super-packets too.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace mobiked::dataplane {

class TunDevice {
public:
    virtual ~TunDevice() = default;
    // A descriptor to poll for readability; -1 for fakes without one.
    virtual int fd() const = 0;
    virtual const std::string& name() const = 0;
    virtual int ifindex() const = 0;
    // One packet into `buf`; its length, or nullopt when none is waiting
    // (or on error). Packets larger than `buf` are truncated by the kernel
    // and reported with their size clipped to buf.size(): callers must
    // treat a full buffer as malformed.
    virtual std::optional<std::size_t> read(std::span<std::uint8_t> buf) = 0;
    // One packet out; false when the kernel refused it (full queue, bad header).
    // With offloads, an all-zero virtio_net_hdr goes in front of it.
    virtual bool write(ByteView packet) = 0;
    // Whether reads start with a virtio_net_hdr (offloads on).
    virtual bool offloads() const { return false; }
    // With offloads: a virtio_net_hdr followed by the packet, as is.
    virtual bool write_with_header(ByteView header_and_packet) {
        (void)header_and_packet;
        return false;
    }
};

struct TunOptions {
    std::string name = "mobiked0";  // at most 15 characters
    unsigned mtu = 1500;
    // Packets the kernel queues for us while the loop is busy (tun default 500).
    unsigned tx_queue_len = 1000;
    // TSO/checksum offload: the kernel skips segmenting TCP for us and we skip
    // one read per segment. Falls back to none when the kernel refuses.
    bool offload = false;
    // Queues (IFF_MULTI_QUEUE): one per data-plane thread; the kernel spreads
    // flows over them. 1 opens a plain single-queue device.
    unsigned queues = 1;
};

// Opens /dev/net/tun, creates (or attaches to) the named device, sets its
// MTU and brings it up. Errors name the failing step (no /dev/net/tun,
// missing CAP_NET_ADMIN, ...).
Result<std::unique_ptr<TunDevice>> open_tun(const TunOptions& options);
// One more queue of a device open_tun made with options.queues > 1 (same
// name and flags); reads on it see the flows the kernel steers to it.
Result<std::unique_ptr<TunDevice>> open_tun_queue(const std::string& name, const TunOptions& options);

// Sets the MTU of an existing interface (0 on success, else errno).
int set_interface_mtu(const std::string& name, unsigned mtu);

}  // namespace mobiked::dataplane
