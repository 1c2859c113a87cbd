#include "ipsec/outbound.hpp"

#include <algorithm>

namespace mobiked::ipsec {

OutboundDecision OutboundPolicy::decide(const FlowSelector& f) {
    const FlowKey key = FlowKey::of(f);
    const std::uint64_t gen = generation();
    if (const CacheEntry* e = cache_.find(key, gen)) {
        OutboundDecision d;
        d.kind = e->action == Action::bypass    ? OutboundDecision::Kind::bypass
                 : e->action == Action::discard ? OutboundDecision::Kind::discard
                                                : OutboundDecision::Kind::protect;
        d.policy = e->policy;
        d.spi = e->spi;
        d.ref = e->ref;
        d.protocol = e->protocol;
        d.from_cache = true;
        return d;
    }
    OutboundDecision d;
    const Policy* p = spd_.lookup(Direction::outbound, f);
    if (p == nullptr) {
        cache_.insert(key, CacheEntry{.action = Action::discard, .generation = gen});
        return d;
    }
    d.policy = p->id;
    if (p->action != Action::protect) {
        d.kind = p->action == Action::bypass ? OutboundDecision::Kind::bypass
                                             : OutboundDecision::Kind::discard;
        cache_.insert(key, CacheEntry{.action = p->action, .policy = p->id, .generation = gen});
        return d;
    }
    d.protocol = p->protect.protocol;
    if (auto it = bindings_.find(p->id); it != bindings_.end()) {
        for (const Binding& b : it->second) {
            if (!b.selector.contains(f)) continue;
            d.kind = OutboundDecision::Kind::protect;
            d.spi = b.spi;
            d.ref = b.ref;
            d.protocol = b.protocol;
            cache_.insert(key, CacheEntry{.action = Action::protect,
                                          .protocol = b.protocol,
                                          .policy = p->id,
                                          .spi = b.spi,
                                          .ref = b.ref,
                                          .generation = gen});
            return d;
        }
    }
    d.kind = OutboundDecision::Kind::acquire;
    d.acquire = derive_sa_selector(*p, f);
    return d;
}

void OutboundPolicy::bind(Policy::Id policy, const SaSelector& selector, std::uint32_t spi,
                          std::uint32_t ref, Protocol protocol) {
    // Newest first: after a rekey the new SA wins while the old one drains.
    auto& v = bindings_[policy];
    v.insert(v.begin(), Binding{selector, spi, ref, protocol});
    auto& ids = by_sa_[sa_key(spi, ref)];
    if (std::find(ids.begin(), ids.end(), policy) == ids.end()) ids.push_back(policy);
    ++bind_generation_;
}

void OutboundPolicy::unbind(std::uint32_t spi, std::uint32_t ref) {
    if (auto sa = by_sa_.find(sa_key(spi, ref)); sa != by_sa_.end()) {
        for (Policy::Id id : sa->second) {
            auto it = bindings_.find(id);
            if (it == bindings_.end()) continue;
            auto& v = it->second;
            v.erase(std::remove_if(v.begin(), v.end(),
                                   [&](const Binding& b) { return b.spi == spi && b.ref == ref; }),
                    v.end());
            if (v.empty()) bindings_.erase(it);
        }
        by_sa_.erase(sa);
    }
    cache_.erase_sa(spi, ref);
}

std::size_t OutboundPolicy::bound_sas() const {
    std::size_t n = 0;
    for (const auto& [id, v] : bindings_) n += v.size();
    return n;
}

}  // namespace mobiked::ipsec
