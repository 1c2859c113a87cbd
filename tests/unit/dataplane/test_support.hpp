// Helpers shared by the data plane unit tests: a fake TUN device, IPv4 UDP
// packets, traffic selectors, the CHILD_SA between hosts A (192.0.2.1) and
// B (192.0.2.2) as each end installs it, and a peer whose UDP sends are kept
// for the test to deliver.
#pragma once

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.hpp"
#include "common/net.hpp"
#include "crypto/random.hpp"
#include "dataplane/dataplane.hpp"
#include "ipsec/ip.hpp"

namespace mobiked::dataplane::test {

inline IpAddress ip(std::string_view s) { return *IpAddress::parse(s); }

// A TUN device without a kernel: reads hand out `queued` packets (nothing
// once it is empty), writes are kept in `written`.
class FakeTun : public TunDevice {
public:
    explicit FakeTun(std::string name = "fake0") : name_(std::move(name)) {}
    int fd() const override { return -1; }
    const std::string& name() const override { return name_; }
    int ifindex() const override { return 0; }
    std::optional<std::size_t> read(std::span<std::uint8_t> buf) override {
        if (queued.empty()) return std::nullopt;
        Bytes p = std::move(queued.front());
        queued.pop_front();
        const std::size_t n = std::min(p.size(), buf.size());
        std::copy_n(p.begin(), n, buf.begin());
        return n;
    }
    bool write(ByteView p) override {
        written.emplace_back(p.begin(), p.end());
        return true;
    }

    std::deque<Bytes> queued;  // what the kernel would route into the device
    std::vector<Bytes> written;

private:
    std::string name_;
};

// An IPv4 UDP packet src -> dst (ID 1, TTL 64, DF clear) with `payload_len`
// payload bytes 0, 1, 2, ...
inline Bytes udp_packet(const IpAddress& src, const IpAddress& dst, std::size_t payload_len,
                        std::uint16_t sport = 1000, std::uint16_t dport = 2000) {
    Bytes p(20 + 8 + payload_len);
    ipsec::write_ipv4_header(p.data(), src, dst, ipsec::ipproto::udp, p.size(), 0, false, 64, 1);
    store_be16(p.data() + 20, sport);
    store_be16(p.data() + 22, dport);
    store_be16(p.data() + 24, static_cast<std::uint16_t>(8 + payload_len));
    for (std::size_t i = 0; i < payload_len; ++i) p[28 + i] = static_cast<std::uint8_t>(i);
    return p;
}

inline ike::TrafficSelectorRange ts_range(const IpAddress& first, const IpAddress& last) {
    ike::TrafficSelectorRange t;
    t.range = AddressRange{first, last};
    return t;
}

inline ike::TrafficSelectorRange ts_prefix(std::string_view prefix, unsigned len) {
    ike::TrafficSelectorRange t;
    t.range = *AddressRange::from_prefix(ip(prefix), len);
    return t;
}

inline ike::TrafficSelectorRange ts_host(std::string_view address) {
    return ts_range(ip(address), ip(address));
}

// CHILD_SA 1 of IKE SA 1, "net", tunnel mode, UDP-encapsulated, between A
// (192.0.2.1:4500) and B (192.0.2.2:4500), as A installs it: A sends on
// `spi_ab` with key 0x11.., receives on `spi_ba` with key 0x22..
// (AES-GCM-128).
inline ike::InstallChildSa child_sa_of_a(std::vector<ike::TrafficSelectorRange> a_side,
                                         std::vector<ike::TrafficSelectorRange> b_side,
                                         std::uint32_t spi_ab = 0xa0b0,
                                         std::uint32_t spi_ba = 0xb0a0) {
    ike::InstallChildSa c;
    c.ike_sa_id = 1;
    c.child_id = 1;
    c.child_name = "net";
    c.udp_encap = true;
    c.spi_in = spi_ba, c.spi_out = spi_ab;
    c.local = {ip("192.0.2.1"), 4500}, c.remote = {ip("192.0.2.2"), 4500};
    c.inbound = {20, 128, 0, Bytes(20, 0x22), {}}, c.outbound = {20, 128, 0, Bytes(20, 0x11), {}};
    c.local_ts = std::move(a_side), c.remote_ts = std::move(b_side);
    return c;
}

// The same CHILD_SA as the other end installs it: SPIs, endpoints, keys and
// selectors swap sides.
inline ike::InstallChildSa mirrored(ike::InstallChildSa c) {
    std::swap(c.spi_in, c.spi_out);
    std::swap(c.local, c.remote);
    std::swap(c.inbound, c.outbound);
    std::swap(c.local_ts, c.remote_ts);
    return c;
}

// The tunnel-mode CHILD_SA between A's 10.1/16 and B's 10.2/16, as A
// (`for_a`) or B installs it.
inline ike::InstallChildSa tunnel_child_sa(bool for_a, std::uint32_t spi_ab = 0xa0b0,
                                           std::uint32_t spi_ba = 0xb0a0) {
    ike::InstallChildSa c =
        child_sa_of_a({ts_prefix("10.1.0.0", 16)}, {ts_prefix("10.2.0.0", 16)}, spi_ab, spi_ba);
    return for_a ? c : mirrored(std::move(c));
}

struct Datagram {
    Endpoint local, remote;
    Bytes data;
};

// One end of a test link: a DataPlane over a FakeTun; what it sends over UDP
// waits in `sent`, its ACQUIREs in `acquires`. The hooks point at this
// object, which therefore stays where it is.
struct Peer {
    FakeTun* tun = nullptr;
    std::unique_ptr<DataPlane> dp;
    std::deque<Datagram> sent;
    std::vector<AcquireRequest> acquires;

    Peer() = default;
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    void start(crypto::Random* rng, const DataPlaneOptions& options = {}) {
        auto t = std::make_unique<FakeTun>();
        tun = t.get();
        DataPlaneHooks h;
        h.send_udp = [this](const Endpoint& l, const Endpoint& r, ByteView d) {
            sent.push_back(Datagram{l, r, Bytes(d.begin(), d.end())});
            return true;
        };
        h.acquire = [this](const AcquireRequest& r) { acquires.push_back(r); };
        dp = std::make_unique<DataPlane>(options, std::move(h), rng, std::move(t));
    }
};

// Hands everything `from` sent to `to`, as the network would deliver it.
inline void deliver(Peer& from, Peer& to, Time now) {
    while (!from.sent.empty()) {
        Datagram d = std::move(from.sent.front());
        from.sent.pop_front();
        to.dp->on_udp_esp(d.remote, d.local, d.data, now);
    }
}

}  // namespace mobiked::dataplane::test
