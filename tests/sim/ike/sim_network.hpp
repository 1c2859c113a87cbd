// A discrete-event simulation of IKE engines on a virtual network: virtual
// clock, latency, seeded loss, and hooks to drop, duplicate or rewrite
// datagrams. Engines run exactly as in the daemon, minus sockets and clocks.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ike/engine.hpp"

namespace mobiked::sim {

using namespace mobiked::ike;

struct Node {
    std::string name;
    std::unique_ptr<crypto::Random> random;
    std::unique_ptr<Engine> engine;
    std::vector<IpAddress> addresses;
    std::vector<InstallChildSa> installed;  // live CHILD_SAs after commands applied
    std::vector<Event> events;
    std::vector<std::string> log;  // the engine's log lines, e.g. every message it sent
    std::size_t sent = 0;
    std::size_t received = 0;

    bool has_event(Event::Kind k) const;
    bool logged(const std::string& needle) const;
    std::size_t count_events(Event::Kind k) const;
    const InstallChildSa* child_by_spi_in(std::uint32_t spi) const;
};

// What a filter decides for one datagram in flight.
enum class Verdict { deliver, drop, duplicate };

class Network {
public:
    explicit Network(std::uint64_t seed = 1) : rng_(seed) {}

    Node& add_node(const std::string& name, const std::vector<std::string>& addresses, Config config,
                   std::uint64_t seed);
    Node& node(std::size_t i) { return *nodes_[i]; }

    Time now() const { return now_; }
    void set_loss(double p) { loss_ = p; }
    void set_latency(Duration d) { latency_ = d; }
    // Latency of datagrams to node `i` (asymmetric paths); others keep set_latency's.
    void set_latency_to(std::size_t i, Duration d) { latency_to_[i] = d; }
    // Called for every datagram before loss; may rewrite it.
    void set_filter(std::function<Verdict(Datagram&)> f) { filter_ = std::move(f); }

    // Hands a node's output to the network and the node's tables.
    void apply(Node& from, Output& out);

    // Runs events until `done()` holds or virtual time passes `limit`.
    // Returns whether done() held. Bounded by an event count as well.
    bool run_until(const std::function<bool()>& done, Duration limit);
    // Runs until nothing is in flight and no timer is due within `limit`.
    void run_for(Duration limit);

    std::size_t delivered() const { return delivered_; }
    std::size_t dropped() const { return dropped_; }

private:
    struct InFlight {
        std::size_t to;
        Datagram dg;
    };
    bool step(Time limit);
    Node* owner_of(const IpAddress& a);

    std::vector<std::unique_ptr<Node>> nodes_;
    std::multimap<Time, InFlight> in_flight_;
    std::mt19937_64 rng_;
    Time now_{};
    double loss_ = 0.0;
    Duration latency_ = std::chrono::milliseconds(5);
    std::map<std::size_t, Duration> latency_to_;
    std::function<Verdict(Datagram&)> filter_;
    std::size_t delivered_ = 0;
    std::size_t dropped_ = 0;
};

// A PSK site-to-site pair: 192.0.2.1 (initiator, id "moon") and 192.0.2.2
// (responder, id "sun"), child "net" 10.1.0.0/16 === 10.2.0.0/16.
struct PairOptions {
    std::string initiator_ike = "aes128gcm16-prfsha256-x25519";
    std::string responder_ike = "aes128gcm16-prfsha256-x25519";
    std::string initiator_esp = "aes128gcm16";
    std::string responder_esp = "aes128gcm16";
    std::string initiator_psk = "correct horse battery staple";
    std::string responder_psk = "correct horse battery staple";
    std::size_t cookie_threshold = 1000;
    bool mobike = true;
};
Config initiator_config(const PairOptions& o);
Config responder_config(const PairOptions& o);

}  // namespace mobiked::sim
