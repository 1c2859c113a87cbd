// The MOBIKE path manager: decides when an IKE SA we originally initiated
// moves to another local address, and keeps each SA's move history.
//
// Pure logic (no sockets, no engine): the daemon hands in the SAs, the usable
// local addresses (AddressMonitor) and a route lookup (connect() +
// getsockname() with the data plane's fwmark), and calls Engine::move() for
// each decision. Rules:
//  * the SA's local address is gone (removed, its link down, tentative...):
//    move to the source address the route to the peer now takes;
//  * the route to the peer now prefers another usable source: move there;
//  * a connection with local_addrs configured only uses those: its SA stays on
//    a configured address while it is usable (whatever the route prefers) and
//    moves only to another configured one;
//  * otherwise nothing moves - a new address alone changes nothing, the old
//    path keeps working until it breaks (make-before-break);
//  * the peer announced addresses (RFC 4555 §3.6) and the SA's remote is not
//    among them (the responder moved): move to the first announced one;
//  * on path_failed (liveness, no address event) failover_candidates() lists
//    the untried address pairs to probe at once, failover() only the next;
//    untried address pair, other local addresses first; the list of tried
//    pairs starts over once a move is confirmed or every pair was tried;
//  * a route lookup that is not settled yet (no route, or it names an address
//    that is not usable) is retried after kRecheck; after kSettle without a
//    usable route, any usable address of the peer's family is tried.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/time.hpp"
#include "daemon/address_monitor.hpp"
#include "ike/engine.hpp"

namespace mobiked::daemon {

struct MoveRecord {
    enum class Origin { address_change, explicit_request, peer, path_failure, peer_addresses };
    Origin origin = Origin::address_change;
    Time started{};
    std::string reason;
    Endpoint from_local, from_remote;
    Endpoint to_local, to_remote;
    std::optional<Duration> took;  // ours: until ike_moved
    bool confirmed = false;        // the engine committed it (ike_moved)
    bool superseded = false;       // another move started before this one was confirmed
};
std::string_view origin_name(MoveRecord::Origin o);

// An address pair an IKE SA could use, for `mobikectl list-sas`.
struct PathCandidate {
    enum class State { current, failed, available, probing };
    IpAddress local;
    IpAddress remote;
    State state = State::available;
};
std::string_view candidate_state_name(PathCandidate::State s);

struct MoveDecision {
    std::uint64_t ike_sa_id = 0;
    Endpoint local;
    Endpoint remote;
    std::string reason;
    // The local address is not the route's source towards the remote: it
    // must be pinned to its interface (SourcePins) to leave through it.
    bool pin = false;
    MoveRecord::Origin origin = MoveRecord::Origin::address_change;
};

class PathManager {
public:
    static constexpr Duration kRecheck = std::chrono::milliseconds(20);
    static constexpr Duration kSettle = std::chrono::seconds(1);
    static constexpr std::size_t kMaxHistory = 32;

    using RouteLookup = std::function<std::optional<IpAddress>(const IpAddress& remote)>;
    // Connection name -> its configured local_addrs (absent or empty: any address).
    using Pinned = std::map<std::string, std::vector<IpAddress>>;

    explicit PathManager(std::uint16_t natt_port = 4500) : natt_port_(natt_port) {}

    // What should move now, given the SAs and the usable local addresses.
    // Call after every address change and when recheck_at() is due.
    std::vector<MoveDecision> evaluate(const std::vector<ike::IkeSaInfo>& sas, const AddressSet& local,
                                       const RouteLookup& route, Time now, const Pinned& pinned = {});
    // The SA's current path failed silently: the next address pair to try.
    std::optional<MoveDecision> failover(const ike::IkeSaInfo& sa, const AddressSet& local, const RouteLookup& route,
                                         const Pinned& pinned = {});
    // The same, every pair not tried since the last confirmed move, best
    // first (other local addresses before other peer addresses); all of them
    // again once each was tried. None is marked tried: probe them, then
    // chose() the one that answered.
    std::vector<MoveDecision> failover_candidates(const ike::IkeSaInfo& sa, const AddressSet& local,
                                                  const RouteLookup& route, const Pinned& pinned = {});
    void chose(std::uint64_t id, const MoveDecision& d) {
        tried_[id].emplace(d.local.address, d.remote.address);
        probing_.erase(id);
    }
    // These pairs are being probed (shown as such by candidates()) until chose() or forget().
    void probing(std::uint64_t id, const std::vector<MoveDecision>& pairs);
    // Every (local, remote) pair of the SA's family: ours x the peer's
    // announced addresses (or its current one), with what we know of each.
    std::vector<PathCandidate> candidates(const ike::IkeSaInfo& sa, const AddressSet& local) const;
    // When evaluate() wants to run again (a route not settled yet).
    std::optional<Time> recheck_at() const { return recheck_at_; }

    // Bookkeeping: a move was handed to the engine / the engine confirmed one.
    void started(std::uint64_t id, MoveRecord::Origin origin, const std::string& reason, const Endpoint& from_local,
                 const Endpoint& from_remote, const Endpoint& to_local, const Endpoint& to_remote, Time now);
    // The path an SA was established on (so a later peer move has a "from").
    void established(std::uint64_t id, const Endpoint& local, const Endpoint& remote);
    // ike_moved: completes the pending record, or records a move the peer made.
    void moved(std::uint64_t id, const Endpoint& local, const Endpoint& remote, Time now);
    void forget(std::uint64_t id);
    // An IKE rekey: the successor inherits the history.
    void renamed(std::uint64_t old_id, std::uint64_t new_id);

    const std::vector<MoveRecord>& history(std::uint64_t id) const;
    const std::map<std::uint64_t, std::vector<MoveRecord>>& all() const { return history_; }
    bool pending(std::uint64_t id) const;

private:
    std::uint16_t natt_port_;
    std::map<std::uint64_t, std::vector<MoveRecord>> history_;
    std::map<std::uint64_t, std::pair<Endpoint, Endpoint>> confirmed_;  // last confirmed path per SA
    std::map<std::uint64_t, Time> unsettled_since_;
    std::map<std::uint64_t, std::set<std::pair<IpAddress, IpAddress>>> tried_;  // failover pairs since the last success
    std::map<std::uint64_t, std::set<std::pair<IpAddress, IpAddress>>> probing_;  // failover pairs probed now
    // SAs on a path failover chose: the route's preference is known to lead
    // into the silent link, so only a vanished address moves them again.
    std::set<std::uint64_t> failed_over_;
    std::optional<Time> recheck_at_;
};

}  // namespace mobiked::daemon
