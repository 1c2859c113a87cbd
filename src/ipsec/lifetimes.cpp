#include "ipsec/lifetimes.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace mobiked::ipsec {

std::string EventSet::to_string() const {
    static constexpr std::array<std::string_view, 8> kNames = {
        "soft_bytes", "hard_bytes", "soft_packets", "hard_packets",
        "soft_time",  "hard_time",  "seq_soft",     "seq_hard"};
    std::string s;
    for (std::size_t i = 0; i < kNames.size(); ++i) {
        if ((bits >> i & 1) == 0) continue;
        if (!s.empty()) s += ',';
        s += kNames[i];
    }
    return s;
}

EventSet Lifetime::fire_if(bool cond, SaEvent e) {
    EventSet out;
    if (!cond || fired_.has(e)) return out;
    fired_.add(e);
    out.add(e);
    if (out.any_hard()) expired_ = true;
    return out;
}

EventSet Lifetime::account(std::uint64_t bytes, Time now) {
    bytes_ += bytes;
    ++packets_;
    EventSet out;
    out.add(fire_if(limits_.soft_bytes != 0 && bytes_ >= limits_.soft_bytes, SaEvent::soft_bytes));
    out.add(fire_if(limits_.hard_bytes != 0 && bytes_ >= limits_.hard_bytes, SaEvent::hard_bytes));
    out.add(fire_if(limits_.soft_packets != 0 && packets_ >= limits_.soft_packets, SaEvent::soft_packets));
    out.add(fire_if(limits_.hard_packets != 0 && packets_ >= limits_.hard_packets, SaEvent::hard_packets));
    out.add(poll(now));
    return out;
}

EventSet Lifetime::poll(Time now) {
    EventSet out;
    const Duration age = now - installed_;
    out.add(fire_if(limits_.soft_time != Duration{0} && age >= limits_.soft_time, SaEvent::soft_time));
    out.add(fire_if(limits_.hard_time != Duration{0} && age >= limits_.hard_time, SaEvent::hard_time));
    return out;
}

EventSet Lifetime::raise(SaEvent e) { return fire_if(true, e); }

std::optional<Time> Lifetime::next_deadline() const {
    std::optional<Time> t;
    auto consider = [&](Duration limit, SaEvent e) {
        if (limit == Duration{0} || fired_.has(e)) return;
        const Time at = installed_ + limit;
        t = t ? std::min(*t, at) : at;
    };
    consider(limits_.soft_time, SaEvent::soft_time);
    consider(limits_.hard_time, SaEvent::hard_time);
    return t;
}

}  // namespace mobiked::ipsec
