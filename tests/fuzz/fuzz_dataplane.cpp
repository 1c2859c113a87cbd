// libFuzzer target: the data plane's packet paths with fake TUN devices.
// The first input byte picks the path:
//   0: bytes read from the TUN (outbound: selectors, SPD cache/SPD, trap
//      ACQUIRE queue, ESP seal)
//   1: bytes received as ESP-in-UDP (inbound: SAD, replay, ICV, ...)
//   2: bytes sealed by peer A first, then opened by B (reaches past the ICV)
// Nothing may crash; whatever B delivers to its TUN must be a well-formed IP
// packet inside the SA's selectors, and all A may write into its TUN is an
// ICMP Fragmentation Needed / Packet Too Big for a packet it refused to seal.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>

#include "crypto/random.hpp"
#include "dataplane/dataplane.hpp"
#include "ipsec/selectors.hpp"

using namespace mobiked;
using namespace mobiked::dataplane;

namespace {

class FakeTun final : public TunDevice {
public:
    int fd() const override { return -1; }
    const std::string& name() const override { return name_; }
    int ifindex() const override { return 0; }
    std::optional<std::size_t> read(std::span<std::uint8_t>) override { return std::nullopt; }
    bool write(ByteView p) override {
        auto sel = ipsec::extract_selector(p);
        if (!sel) std::abort();  // delivered something that is not an IP packet
        if (sender) {
            if (!is_too_big(p)) std::abort();
            return true;
        }
        const auto f = ipsec::orient(*sel, ipsec::Direction::inbound);
        if (!ipsec::selectors_match(local_ts, remote_ts, f)) std::abort();
        return true;
    }
    std::vector<ipsec::TrafficSelector> local_ts, remote_ts;
    bool sender = false;  // A: outbound only

private:
    static bool is_too_big(ByteView p) {
        if ((p[0] >> 4) == 4) {
            const std::size_t ihl = (p[0] & 0x0fu) * 4u;
            return p.size() >= ihl + 8 && p[9] == 1 && p[ihl] == 3 && p[ihl + 1] == 4;
        }
        return p.size() >= 48 && p[6] == 58 && p[40] == 2;
    }

    std::string name_ = "fuzz0";
};

ike::TrafficSelectorRange ts(const char* prefix, unsigned len) {
    ike::TrafficSelectorRange t;
    t.range = *AddressRange::from_prefix(*IpAddress::parse(prefix), len);
    return t;
}

ike::InstallChildSa child(bool a, bool cbc) {
    ike::InstallChildSa c;
    c.ike_sa_id = 1;
    c.child_id = 1;
    c.child_name = "net";
    c.udp_encap = true;
    c.esn = cbc;
    c.mode = cbc ? ike::IpsecMode::transport : ike::IpsecMode::tunnel;
    Endpoint ea{*IpAddress::parse("192.0.2.1"), 4500}, eb{*IpAddress::parse("192.0.2.2"), 4500};
    ike::ChildSaKeys k = cbc ? ike::ChildSaKeys{12, 128, 12, Bytes(16, 0x11), Bytes(32, 0x22)}
                             : ike::ChildSaKeys{20, 128, 0, Bytes(20, 0x11), {}};
    auto ta = cbc ? ts("192.0.2.1", 32) : ts("10.1.0.0", 16);
    auto tb = cbc ? ts("192.0.2.2", 32) : ts("10.2.0.0", 16);
    c.spi_in = a ? 0xb0a0 : 0xa0b0;
    c.spi_out = a ? 0xa0b0 : 0xb0a0;
    c.local = a ? ea : eb;
    c.remote = a ? eb : ea;
    c.inbound = k;
    c.outbound = k;
    c.local_ts = {a ? ta : tb};
    c.remote_ts = {a ? tb : ta};
    return c;
}

struct World {
    std::unique_ptr<crypto::Random> rng = crypto::make_system_random();
    std::deque<Bytes> wire;
    std::unique_ptr<DataPlane> a, b;

    explicit World(bool cbc) {
        DataPlaneHooks ha;
        ha.send_udp = [this](const Endpoint&, const Endpoint&, ByteView d) {
            if (wire.size() < 64) wire.emplace_back(d.begin(), d.end());
            return true;
        };
        ha.acquire = [](const AcquireRequest&) {};
        auto ta = std::make_unique<FakeTun>();
        ta->sender = true;
        a = std::make_unique<DataPlane>(DataPlaneOptions{}, ha, rng.get(), std::move(ta));
        auto tb = std::make_unique<FakeTun>();
        FakeTun* t = tb.get();
        DataPlaneHooks hb;
        hb.send_udp = [](const Endpoint&, const Endpoint&, ByteView) { return true; };
        b = std::make_unique<DataPlane>(DataPlaneOptions{}, hb, rng.get(), std::move(tb));
        a->set_traps({Trap{"c", "t", ike::IpsecMode::tunnel, {ts("10.1.0.0", 16)}, {ts("10.3.0.0", 16)}}});
        auto cb = child(false, cbc);
        for (const auto& r : cb.local_ts) t->local_ts.push_back({r.range, r.protocol, r.port_first, r.port_last});
        for (const auto& r : cb.remote_ts) t->remote_ts.push_back({r.range, r.protocol, r.port_first, r.port_last});
        if (!a->install(child(true, cbc), Time{}) || !b->install(cb, Time{})) std::abort();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static World gcm(false), cbc(true);
    if (size < 1) return 0;
    World& w = data[0] & 0x10 ? cbc : gcm;
    const ByteView rest{data + 1, size - 1};
    static std::uint64_t clock = 0;
    const Time now{std::chrono::milliseconds(++clock)};
    switch (data[0] & 0x3) {
        case 0: w.a->on_tun_packet(rest, now); break;
        case 1: w.b->on_udp_esp({}, {}, rest, now); break;
        default:
            w.a->on_tun_packet(rest, now);
            while (!w.wire.empty()) {
                w.b->on_udp_esp({}, {}, w.wire.front(), now);
                w.wire.pop_front();
            }
    }
    w.wire.clear();
    return 0;
}
