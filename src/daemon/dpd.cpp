#include "daemon/dpd.hpp"

namespace mobiked::daemon {

std::optional<ike::DpdAction> dead_peer_action(const ike::Event& e, const ike::Config& config) {
    if (e.kind != ike::Event::Kind::ike_failed || !e.detail.ends_with(ike::kPeerDead)) return std::nullopt;
    const ike::ConnectionConfig* c = config.find_connection(e.connection);
    if (c == nullptr || c->dpd_action == ike::DpdAction::clear) return std::nullopt;
    const bool concrete_peer = !c->remote_hosts.empty() && c->remote_hosts.front() != "%any";
    if (!concrete_peer) return std::nullopt;  // nobody to initiate to, nothing to trap towards
    return c->dpd_action;
}

}  // namespace mobiked::daemon
