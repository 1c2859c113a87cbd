// Routes and the policy-routing rule that steer protected traffic into the
// TUN device, written with rtnetlink (no `ip` processes).
//
// Protected destinations go into a dedicated table (kDefaultRouteTable);
// one rule "not fwmark M lookup TABLE" sends every packet there first,
// except the daemon's own sockets, which carry mark M (SO_MARK) so IKE and
// ESP datagrams to a peer inside a remote selector still take the main
// table instead of looping into the TUN (strongSwan's table 220 does the
// same with its own bypass policies).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"

namespace mobiked::dataplane {

inline constexpr std::uint32_t kDefaultRouteTable = 4500;
inline constexpr std::uint32_t kDefaultFwmark = 0x4500;
inline constexpr std::uint32_t kDefaultRulePriority = 4500;
// A selector range that is no prefix is cut into at most this many routes.
inline constexpr std::size_t kMaxPrefixesPerRange = 64;

struct Prefix {
    IpAddress base;
    unsigned length = 0;
    std::string to_string() const { return base.to_string() + "/" + std::to_string(length); }
    auto operator<=>(const Prefix&) const = default;
};
// The minimal list of prefixes covering [first, last] (empty when the range
// needs more than kMaxPrefixesPerRange).
std::vector<Prefix> range_to_prefixes(const AddressRange& r);

// One rtnetlink socket; each call waits for the kernel's acknowledgement.
class Rtnetlink {
public:
    Rtnetlink();
    ~Rtnetlink();
    Rtnetlink(const Rtnetlink&) = delete;
    Rtnetlink& operator=(const Rtnetlink&) = delete;

    // `src` (unspecified = none) becomes the route's preferred source; `mtu`
    // (0 = the device's) the route's MTU metric, so TCP picks its MSS from it.
    Status route(bool add, const Prefix& dst, int ifindex, std::uint32_t table, const IpAddress& src,
                 unsigned mtu = 0);
    // An address on a device (a virtual IP on the TUN): /32 or /128, IPv6 without DAD.
    Status address(bool add, int ifindex, const IpAddress& a);
    // "not fwmark `mark` lookup `table`" at `priority`, for one family.
    Status rule(bool add, IpAddress::Family family, std::uint32_t mark, std::uint32_t table, std::uint32_t priority);
    // The most segments the kernel puts in one GSO packet for the device.
    Status set_gso_max_segs(int ifindex, std::uint32_t segments);

private:
    Status request(void* msg, std::size_t len);
    int fd_ = -1;
    std::uint32_t seq_ = 0;
};

// Reference-counted routes into one device: each SA or trap adds its remote
// selectors; a route goes when its last user does.
class RouteSet {
public:
    RouteSet(Rtnetlink& nl, int ifindex, std::uint32_t table) : nl_(nl), ifindex_(ifindex), table_(table) {}
    ~RouteSet();
    // Errors are reported, and the reference is kept (removal stays balanced).
    // The first user's `mtu` sticks until the route goes.
    Status acquire(const Prefix& p, const IpAddress& src, unsigned mtu = 0);
    void release(const Prefix& p, const IpAddress& src);
    std::size_t size() const { return refs_.size(); }

private:
    Rtnetlink& nl_;
    int ifindex_;
    std::uint32_t table_;
    std::map<std::pair<Prefix, IpAddress>, unsigned> refs_;
};

// An address of this host inside `r` (getifaddrs), to be the preferred
// source of routes into the TUN; nullopt when there is none.
std::optional<IpAddress> local_address_in(const AddressRange& r);

}  // namespace mobiked::dataplane
