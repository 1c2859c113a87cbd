// Configuration Payload (RFC 7296 §2.19, §3.15): a client asks for an inner
// address in IKE_AUTH; the gateway leases one from a pool and narrows the
// client's CHILD_SA selectors to it.
#include <algorithm>

#include "ike/engine_impl.hpp"

namespace mobiked::ike {

namespace {

std::uint16_t address_attr(IpAddress::Family f) {
    return f == IpAddress::Family::v4 ? wire::cfg_attr::internal_ip4_address : wire::cfg_attr::internal_ip6_address;
}

std::uint16_t dns_attr(IpAddress::Family f) {
    return f == IpAddress::Family::v4 ? wire::cfg_attr::internal_ip4_dns : wire::cfg_attr::internal_ip6_dns;
}

const wire::CpPayload* cp_of(const std::vector<wire::Payload>& p, std::uint8_t type) {
    const auto* pl = wire::find_payload(p, wire::PayloadType::cp);
    const auto* cp = pl ? std::get_if<wire::CpPayload>(&pl->body) : nullptr;
    return cp && cp->cfg_type == type ? cp : nullptr;
}

}  // namespace

IpAddress Engine::Impl::peer_host(const IkeSa& sa) const {
    // Whether we leased the addresses, not our role: an IKE rekey started by
    // the gateway makes it the new SA's initiator, and the lease still holds.
    return sa.leased_from.empty() ? sa.remote.address : sa.virtual_ips.front();
}

void Engine::Impl::append_cp_request(const IkeSa& sa, std::vector<wire::Payload>& p) const {
    if (sa.conn->request_virtual_ips.empty()) return;
    wire::CpPayload cp;
    cp.cfg_type = wire::cfg_type::request;
    for (auto f : sa.conn->request_virtual_ips) {
        cp.attributes.push_back({address_attr(f), {}});
        cp.attributes.push_back({dns_attr(f), {}});
    }
    p.push_back({wire::PayloadType::cp, false, std::move(cp)});
}

bool Engine::Impl::answer_cp_request(IkeSa& sa, const std::vector<wire::Payload>& request,
                                     std::vector<wire::Payload>& reply) {
    const auto* cp = cp_of(request, wire::cfg_type::request);
    if (!cp || sa.conn->pools.empty()) return true;  // nothing asked, or nothing to give
    wire::CpPayload answer;
    answer.cfg_type = wire::cfg_type::reply;
    const std::string who = sa.remote_id.to_string();
    for (auto family : {IpAddress::Family::v4, IpAddress::Family::v6}) {
        const bool asked = std::any_of(cp->attributes.begin(), cp->attributes.end(),
                                       [&](const wire::CpAttribute& a) { return a.type == address_attr(family); });
        if (!asked) continue;
        // A client naming an address gets its own lease all the same: the
        // pool, not the client, decides (seed 001: no user takes another's).
        for (const auto& name : sa.conn->pools) {
            auto it = pools.find(name);
            if (it == pools.end() || it->second->family() != family) continue;
            auto addr = it->second->acquire(who);
            if (!addr) continue;
            sa.virtual_ips.push_back(*addr);
            sa.leased_from.push_back(name);
            Bytes value = to_bytes(addr->bytes());
            if (family == IpAddress::Family::v6) value.push_back(128);  // prefix length (§3.15.1)
            answer.attributes.push_back({address_attr(family), value});
            for (const auto& pc : config.pools)
                if (pc.name == name)
                    for (const auto& dns : pc.dns)
                        if (dns.family() == family) answer.attributes.push_back({dns_attr(family), to_bytes(dns.bytes())});
            break;
        }
    }
    if (answer.attributes.empty()) return false;
    reply.push_back({wire::PayloadType::cp, false, std::move(answer)});
    return true;
}

void Engine::Impl::accept_cp_reply(IkeSa& sa, const std::vector<wire::Payload>& response, Time now, Output& out) {
    const auto* cp = cp_of(response, wire::cfg_type::reply);
    if (!cp) return;
    for (const auto& a : cp->attributes) {
        if (a.type != wire::cfg_attr::internal_ip4_address && a.type != wire::cfg_attr::internal_ip6_address) continue;
        const std::size_t len = a.type == wire::cfg_attr::internal_ip4_address ? 4 : 16;
        if (a.value.size() < len || sa.virtual_ips.size() >= 4) continue;
        auto addr = IpAddress::from_bytes(ByteView(a.value).first(len));
        if (!addr) continue;
        sa.virtual_ips.push_back(*addr);
        emit(out, Event::Kind::virtual_ip, sa, addr->to_string(), now);
        log_sa(LogLevel::info, sa, "assigned inner address " + addr->to_string());
    }
}

void Engine::Impl::release_leases(IkeSa& sa) {
    const std::string who = sa.remote_id.to_string();
    for (const auto& name : sa.leased_from)
        if (auto it = pools.find(name); it != pools.end()) it->second->release(who);
    sa.leased_from.clear();
}

}  // namespace mobiked::ike
