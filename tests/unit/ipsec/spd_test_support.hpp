// Helpers shared by the SPD tests: the reference answer for Spd::lookup (a
// linear first-match scan, RFC 4301 §4.4.1), and random policies and flows
// over a small address universe, so that they overlap often.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>

#include "ipsec/spd.hpp"
#include "test_util.hpp"

namespace mobiked::ipsec::test {

// Whether `p` is searched for traffic in direction `d`: PROTECT (SPD-S)
// applies to both directions, BYPASS and DISCARD to the ones they are
// marked for (SPD-I, SPD-O).
inline bool in_direction_db(const Policy& p, Direction d) {
    return p.action == Action::protect || (d == Direction::inbound ? p.inbound : p.outbound);
}

// The first policy of `policies` (in global order) searched for `d` that
// matches `f`; nullptr when there is none.
template <typename Policies>
const Policy* first_match_by_scan(const Policies& policies, Direction d, const FlowSelector& f) {
    for (const Policy& p : policies)
        if (in_direction_db(p, d) && p.matches(f)) return &p;
    return nullptr;
}

// What RandomSpd draws.
struct RandomSpdShape {
    std::uint32_t v6_one_in = 3;  // 1 in N policies and flows is IPv6
    // Remote selector: 4 draws ANY, a prefix, a range or one address alike;
    // 5 draws one address twice as often.
    std::uint32_t remote_kinds = 5;
    unsigned shortest_v4_prefix = 18;   // remote prefixes from here to /32 ...
    unsigned shortest_v6_prefix = 110;  // ... or to /128
    bool peer_names = true;             // 1 in 4 policies names a peer (for lookup_for_peer)
    bool flow_local_ports = true;       // flows get a random local port (else 0)
};

// Random policies and flows from a seeded generator, so a failure repeats.
// Addresses come from 10.0.{0..3}.x and 2001:db8:0:{0..3}::x.
class RandomSpd {
public:
    RandomSpd(std::uint32_t seed, const RandomSpdShape& shape) : shape_(shape), rng_(seed) {}

    std::uint32_t rnd(std::uint32_t n) { return static_cast<std::uint32_t>(rng_() % n); }

    IpAddress address(bool six) {
        if (!six) return IpAddress::v4(0x0a000000u | rnd(4) << 8 | rnd(256));
        Bytes b = to_bytes(ip("2001:db8::").bytes());
        b[7] = static_cast<std::uint8_t>(rnd(4));
        b[15] = static_cast<std::uint8_t>(rnd(256));
        return *IpAddress::from_bytes(b);
    }

    // A policy of random action, remote selector, optional local prefix,
    // protocol, remote ports and peer name, and random SPD-I/SPD-O flags.
    Policy policy(std::string label) {
        Policy p;
        p.action = static_cast<Action>(rnd(3));
        p.label = std::move(label);
        const bool six = rnd(shape_.v6_one_in) == 0;
        const unsigned v4_len = shape_.shortest_v4_prefix, v6_len = shape_.shortest_v6_prefix;
        switch (rnd(shape_.remote_kinds)) {
            case 0:
                p.remote = AddressSelector::any_address();
                break;
            case 1:
                p.remote = *AddressSelector::prefix(
                    address(six), six ? v6_len + rnd(129 - v6_len) : v4_len + rnd(33 - v4_len));
                break;
            case 2: {
                IpAddress a = address(six), b = address(six);
                if (b < a) std::swap(a, b);
                p.remote = AddressSelector::range_of(a, b);
                break;
            }
            default:
                p.remote = AddressSelector::single(address(six));
                break;
        }
        if (rnd(4) == 0) p.local = *AddressSelector::prefix(address(six), six ? 120 : 24);
        if (rnd(4) == 0) p.protocol = ProtocolSelector::of(rnd(2) ? ipproto::udp : ipproto::tcp);
        if (rnd(4) == 0)
            p.remote_port = PortSelector::ports(static_cast<std::uint16_t>(rnd(100)),
                                                static_cast<std::uint16_t>(100 + rnd(100)));
        if (shape_.peer_names && rnd(4) == 0) p.name = rnd(2) ? "*@a.example" : "peer.b.example";
        p.inbound = rnd(2) == 0;
        p.outbound = rnd(2) == 0;
        return p;
    }

    // A UDP or TCP flow between two addresses of one family, remote port
    // (and local port, if the shape says so) below 300.
    FlowSelector flow() {
        FlowSelector f;
        const bool six = rnd(shape_.v6_one_in) == 0;
        f.local = address(six);
        f.remote = address(six);
        f.protocol = rnd(2) ? ipproto::udp : ipproto::tcp;
        if (shape_.flow_local_ports) f.local_port = static_cast<std::uint16_t>(rnd(300));
        f.remote_port = static_cast<std::uint16_t>(rnd(300));
        return f;
    }

private:
    RandomSpdShape shape_;
    std::mt19937 rng_;
};

}  // namespace mobiked::ipsec::test
