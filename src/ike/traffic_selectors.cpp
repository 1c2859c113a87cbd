#include "ike/traffic_selectors.hpp"

#include <algorithm>

namespace mobiked::ike {

wire::TrafficSelector to_wire(const TrafficSelectorRange& ts) {
    wire::TrafficSelector w;
    w.type = ts.range.first.is_v4() ? wire::ts_type::ipv4_addr_range : wire::ts_type::ipv6_addr_range;
    w.ip_protocol = ts.protocol;
    w.start_port = ts.port_first;
    w.end_port = ts.port_last;
    w.start_address = to_bytes(ts.range.first.bytes());
    w.end_address = to_bytes(ts.range.last.bytes());
    return w;
}

std::optional<TrafficSelectorRange> from_wire(const wire::TrafficSelector& ts) {
    auto a = IpAddress::from_bytes(ts.start_address), b = IpAddress::from_bytes(ts.end_address);
    if (!a || !b || a->family() != b->family()) return std::nullopt;
    return TrafficSelectorRange{{*a, *b}, ts.ip_protocol, ts.start_port, ts.end_port};
}

std::vector<TrafficSelectorRange> from_wire(const std::vector<wire::TrafficSelector>& list) {
    std::vector<TrafficSelectorRange> out;
    for (const auto& w : list)
        if (auto t = from_wire(w)) out.push_back(*t);
    return out;
}

wire::TsPayload to_payload(const std::vector<TrafficSelectorRange>& list) {
    wire::TsPayload p;
    for (const auto& t : list) p.selectors.push_back(to_wire(t));
    return p;
}

std::vector<TrafficSelectorRange> resolve(const std::vector<TsSpec>& specs, const IpAddress& host) {
    std::vector<TrafficSelectorRange> out;
    for (const auto& s : specs) {
        AddressRange r = s.dynamic ? AddressRange{host, host} : s.range;
        out.push_back({r, s.protocol, s.port_first, s.port_last});
    }
    return out;
}

std::optional<TrafficSelectorRange> intersect(const TrafficSelectorRange& a, const TrafficSelectorRange& b) {
    if (a.range.first.family() != b.range.first.family()) return std::nullopt;
    TrafficSelectorRange r;
    if (a.protocol && b.protocol && a.protocol != b.protocol) return std::nullopt;
    r.protocol = a.protocol ? a.protocol : b.protocol;
    r.port_first = std::max(a.port_first, b.port_first);
    r.port_last = std::min(a.port_last, b.port_last);
    if (r.port_first > r.port_last) return std::nullopt;
    r.range.first = std::max(a.range.first, b.range.first);
    r.range.last = std::min(a.range.last, b.range.last);
    if (r.range.last < r.range.first) return std::nullopt;
    return r;
}

namespace {
bool covers(const TrafficSelectorRange& outer, const TrafficSelectorRange& inner) {
    auto i = intersect(inner, outer);
    return i && *i == inner;
}
}  // namespace

std::vector<TrafficSelectorRange> narrow(const std::vector<TrafficSelectorRange>& proposed,
                                         const std::vector<TrafficSelectorRange>& configured) {
    std::vector<TrafficSelectorRange> all;
    for (const auto& p : proposed)
        for (const auto& c : configured)
            if (auto i = intersect(p, c)) all.push_back(*i);
    // A trigger packet's /32 inside a wider accepted range adds nothing:
    // keep only selectors no other result covers (the first of equal ones).
    std::vector<TrafficSelectorRange> out;
    for (std::size_t k = 0; k < all.size(); ++k) {
        bool redundant = false;
        for (std::size_t j = 0; j < all.size() && !redundant; ++j)
            redundant = j != k && covers(all[j], all[k]) && (!(all[j] == all[k]) || j < k);
        if (!redundant) out.push_back(all[k]);
    }
    return out;
}

bool is_subset(const std::vector<TrafficSelectorRange>& inner, const std::vector<TrafficSelectorRange>& outer) {
    return std::all_of(inner.begin(), inner.end(), [&](const TrafficSelectorRange& t) {
        return std::any_of(outer.begin(), outer.end(), [&](const TrafficSelectorRange& o) {
            auto i = intersect(t, o);
            return i && *i == t;
        });
    });
}

std::string TrafficSelectorRange::to_string() const {
    std::string s = range.to_string();
    if (protocol || port_first != 0 || port_last != 65535) {
        s += "[" + std::to_string(protocol);
        if (port_first != 0 || port_last != 65535) {
            s += "/" + std::to_string(port_first);
            if (port_last != port_first) s += "-" + std::to_string(port_last);
        }
        s += "]";
    }
    return s;
}

std::string to_string(const std::vector<TrafficSelectorRange>& list) {
    std::string s;
    for (const auto& t : list) s += (s.empty() ? "" : " ") + t.to_string();
    return s;
}

}  // namespace mobiked::ike
