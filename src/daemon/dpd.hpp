// What the daemon does when a peer is found dead (connection key dpd_action,
// docs/config.md): pure, so it is unit-tested without sockets.
#pragma once

#include <optional>

#include "ike/config.hpp"
#include "ike/engine.hpp"

namespace mobiked::daemon {

// The action for an engine event: set only for the ike_failed event of an
// established IKE SA whose exchange gave up after its retransmissions (the
// peer is dead), of a connection still configured, whose dpd_action is
// restart or trap (clear: the engine has already deleted the SA locally).
// restart needs a concrete remote address; without one the answer is nullopt.
std::optional<ike::DpdAction> dead_peer_action(const ike::Event& e, const ike::Config& config);

}  // namespace mobiked::daemon
