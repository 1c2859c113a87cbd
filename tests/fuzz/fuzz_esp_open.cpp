// libFuzzer target: arbitrary bytes into esp::open for fixed inbound SAs
// (AES-GCM tunnel, AES-CBC+HMAC transport with ESN) and into selector
// extraction. Nothing may crash or read outside the buffer; anything open
// accepts must be a well-formed IP packet inside the SA's selectors. To
// reach past the ICV, the first input byte picks whether the rest is
// sealed first with the matching outbound SA (as a valid peer would).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "crypto/random.hpp"
#include "ipsec/esp.hpp"
#include "ipsec/selectors.hpp"
#include "wire/constants.hpp"

using namespace mobiked;
using namespace mobiked::ipsec;

namespace {

SaParams params(Direction d, bool cbc) {
    SaParams p;
    p.spi = 0x0badcafe;
    p.direction = d;
    p.mode = cbc ? Mode::transport : Mode::tunnel;
    p.esn = cbc;
    p.encr_id = cbc ? wire::encr::aes_cbc : wire::encr::aes_gcm_16;
    p.encr_key_bits = 128;
    p.encr_key = Bytes(cbc ? 16 : 20, 0x5a);
    if (cbc) {
        p.integ_id = wire::integ::hmac_sha2_256_128;
        p.integ_key = Bytes(32, 0x3c);
    }
    p.local = {*IpAddress::parse("192.0.2.1"), 4500};
    p.remote = {*IpAddress::parse("192.0.2.2"), 4500};
    if (d == Direction::inbound) std::swap(p.local, p.remote);
    p.local_ts = {TrafficSelector{*AddressRange::from_prefix(*IpAddress::parse("10.0.0.0"), 8)},
                  TrafficSelector{*AddressRange::from_prefix(*IpAddress::parse("192.0.2.0"), 24)}};
    p.remote_ts = p.local_ts;
    return p;
}

struct World {
    std::unique_ptr<crypto::Random> rng = crypto::make_seeded_random(1);
    std::unique_ptr<Sa> out[2], in[2];
    World() {
        for (int i = 0; i < 2; ++i) {
            out[i] = std::move(*Sa::create(params(Direction::outbound, i == 1), Time{0}, rng.get()));
            in[i] = std::move(*Sa::create(params(Direction::inbound, i == 1), Time{0}));
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static World w;
    (void)extract_selector(ByteView(data, size));
    if (size < 1 || size > 4096) return 0;
    const int which = data[0] & 1;
    const bool seal_first = (data[0] & 2) != 0;
    static std::uint8_t storage[4096 + 512];
    PacketBuffer pkt(storage, 256, size - 1);
    std::memcpy(storage + 256, data + 1, size - 1);
    if (seal_first) {
        const PacketResult s = esp::seal(*w.out[which], pkt, Time{0});
        if (!s.ok()) return 0;
        pkt.pull_front(s.esp_offset);
    }
    const PacketResult r = esp::open(*w.in[which], pkt, Time{0});
    if (r.ok()) {
        if (pkt.headroom() + pkt.size() + pkt.tailroom() != sizeof(storage)) __builtin_trap();
        auto sel = extract_selector(pkt.view());
        if (!sel) __builtin_trap();
        if (!selectors_match(w.in[which]->params().local_ts, w.in[which]->params().remote_ts,
                             orient(*sel, Direction::inbound)))
            __builtin_trap();
    }
    return 0;
}
