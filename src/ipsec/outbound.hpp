// Outbound policy decision (RFC 4301 §5.1): SPD cache first, then the SPD.
// PROTECT resolves to an installed outbound SA bound to the policy whose SA
// selectors contain the packet; when none is bound the decision is ACQUIRE
// with the PFP-derived SA selectors IKE must negotiate. Packets whose
// PFP-derived selectors are equal share one SA; distinct values get one each.
//
// Only BYPASS, DISCARD and PROTECT-with-SA decisions are cached (an ACQUIRE
// must be re-evaluated once IKE installs the SA). Not thread-safe: one per
// data-plane worker, or serialised by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "ipsec/spd.hpp"
#include "ipsec/spd_cache.hpp"

namespace mobiked::ipsec {

struct OutboundDecision {
    enum class Kind : std::uint8_t { bypass, discard, protect, acquire };
    Kind kind = Kind::discard;
    Policy::Id policy = 0;           // 0 when no policy matched (default DISCARD)
    std::uint32_t spi = 0;           // protect: the outbound SA's SPI and
    std::uint32_t ref = 0;           // its installer's ref (Sad::find)
    Protocol protocol = Protocol::esp;
    SaSelector acquire;              // acquire: selectors to negotiate
    bool from_cache = false;
};

class OutboundPolicy {
public:
    OutboundPolicy(const Spd& spd, SpdCache& cache) : spd_(spd), cache_(cache) {}

    // Decision for one outbound packet's selector. Never allocates on a
    // cache hit; a miss may add one cache entry.
    OutboundDecision decide(const FlowSelector& f);

    // An outbound SA now carries `selector` for the policy (called when the
    // daemon installs a CHILD_SA negotiated for it). (spi, ref) is the SA's
    // key in the Sad.
    void bind(Policy::Id policy, const SaSelector& selector, std::uint32_t spi,
              std::uint32_t ref = 0, Protocol protocol = Protocol::esp);
    // The SA is gone (deleted, expired, rekeyed): unbinds and purges the cache.
    void unbind(std::uint32_t spi, std::uint32_t ref = 0);
    std::size_t bound_sas() const;

private:
    struct Binding {
        SaSelector selector;
        std::uint32_t spi = 0;
        std::uint32_t ref = 0;
        Protocol protocol = Protocol::esp;
    };
    std::uint64_t generation() const { return spd_.generation() << 20 ^ bind_generation_; }

    const Spd& spd_;
    SpdCache& cache_;
    std::unordered_map<Policy::Id, std::vector<Binding>> bindings_;
    // (spi, ref) -> the policies it is bound to: unbind touches only those,
    // not every policy ever bound (a gateway's deletes were O(all policies)).
    static std::uint64_t sa_key(std::uint32_t spi, std::uint32_t ref) { return std::uint64_t{spi} << 32 | ref; }
    std::unordered_map<std::uint64_t, std::vector<Policy::Id>> by_sa_;
    std::uint64_t bind_generation_ = 0;
};

}  // namespace mobiked::ipsec
