#include "sim/ike/sim_network.hpp"

#include <algorithm>

#include "ike/proposals.hpp"

namespace mobiked::sim {

bool Node::has_event(Event::Kind k) const { return count_events(k) > 0; }

bool Node::logged(const std::string& needle) const {
    return std::any_of(log.begin(), log.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

std::size_t Node::count_events(Event::Kind k) const {
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(), [k](const Event& e) { return e.kind == k; }));
}

const InstallChildSa* Node::child_by_spi_in(std::uint32_t spi) const {
    for (const auto& c : installed)
        if (c.spi_in == spi) return &c;
    return nullptr;
}

Node& Network::add_node(const std::string& name, const std::vector<std::string>& addresses, Config config,
                        std::uint64_t seed) {
    auto n = std::make_unique<Node>();
    n->name = name;
    n->random = crypto::make_seeded_random(seed);
    for (const auto& a : addresses) n->addresses.push_back(*IpAddress::parse(a));
    Node* raw = n.get();
    LogSink sink = [raw](LogLevel, std::string_view, const std::string& msg) {
        if (raw->log.size() < 10000) raw->log.push_back(msg);
    };
    n->engine = std::make_unique<Engine>(std::move(config), EngineEnvironment{n->random.get(), sink});
    nodes_.push_back(std::move(n));
    return *nodes_.back();
}

Node* Network::owner_of(const IpAddress& a) {
    for (auto& n : nodes_)
        if (std::find(n->addresses.begin(), n->addresses.end(), a) != n->addresses.end()) return n.get();
    return nullptr;
}

void Network::apply(Node& from, Output& out) {
    for (auto& cmd : out.commands) {
        if (auto* ins = std::get_if<InstallChildSa>(&cmd)) from.installed.push_back(*ins);
        if (auto* del = std::get_if<DeleteChildSa>(&cmd))
            std::erase_if(from.installed, [&](const InstallChildSa& c) { return c.spi_in == del->spi_in; });
        if (auto* up = std::get_if<UpdateSaAddresses>(&cmd))
            for (auto& c : from.installed)
                if (c.ike_sa_id == up->ike_sa_id) {
                    c.local = up->local;
                    c.remote = up->remote;
                    c.udp_encap = up->udp_encap;
                    for (const auto& t : up->transport)  // MOBIKEv2: transport selectors move too
                        if (t.spi_in == c.spi_in) {
                            c.local_ts = t.local_ts;
                            c.remote_ts = t.remote_ts;
                        }
                }
    }
    for (auto& e : out.events) from.events.push_back(e);
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    for (auto& dg : out.datagrams) {
        ++from.sent;
        Verdict v = filter_ ? filter_(dg) : Verdict::deliver;
        Node* to = owner_of(dg.remote.address);
        if (v == Verdict::drop || !to || coin(rng_) < loss_) {
            ++dropped_;
            continue;
        }
        const std::size_t idx = static_cast<std::size_t>(
            std::find_if(nodes_.begin(), nodes_.end(), [to](const auto& p) { return p.get() == to; }) - nodes_.begin());
        Datagram rx{dg.remote, dg.local, dg.data};
        const auto lt = latency_to_.find(idx);
        const Duration latency = lt != latency_to_.end() ? lt->second : latency_;
        in_flight_.emplace(now_ + latency, InFlight{idx, rx});
        if (v == Verdict::duplicate) in_flight_.emplace(now_ + latency + std::chrono::milliseconds(1), InFlight{idx, rx});
    }
    out = Output{};
}

bool Network::step(Time limit) {
    std::optional<Time> next;
    if (!in_flight_.empty()) next = in_flight_.begin()->first;
    for (auto& n : nodes_)
        if (auto d = n->engine->next_deadline(); d && (!next || *d < *next)) next = *d;
    if (!next || *next > limit) return false;
    now_ = std::max(now_, *next);
    if (!in_flight_.empty() && in_flight_.begin()->first <= now_) {
        auto it = in_flight_.begin();
        InFlight f = std::move(it->second);
        in_flight_.erase(it);
        Node& n = *nodes_[f.to];
        ++n.received;
        ++delivered_;
        Output out;
        n.engine->on_datagram(f.dg, now_, out);
        apply(n, out);
        return true;
    }
    for (auto& n : nodes_) {
        if (auto d = n->engine->next_deadline(); d && *d <= now_) {
            Output out;
            n->engine->on_timer(now_, out);
            apply(*n, out);
        }
    }
    return true;
}

bool Network::run_until(const std::function<bool()>& done, Duration limit) {
    const Time end = now_ + limit;
    for (int events = 0; events < 1'000'000; ++events) {
        if (done()) return true;
        if (!step(end)) break;
    }
    return done();
}

void Network::run_for(Duration limit) {
    const Time end = now_ + limit;
    for (int events = 0; events < 1'000'000 && step(end); ++events) {
    }
    now_ = std::max(now_, end);
}

namespace {

Config make(const std::string& name, const std::string& local, const std::string& remote, const std::string& lid,
            const std::string& rid, const std::string& ike, const std::string& esp, const std::string& psk,
            const std::string& lts, const std::string& rts, const PairOptions& o) {
    Config c;
    ConnectionConfig conn;
    conn.name = name;
    conn.local_addrs = {*IpAddress::parse(local)};
    conn.remote_hosts = {remote};
    conn.ike_proposals = *parse_proposals({ike}, wire::ProtocolId::ike);
    conn.local.id = *Identity::parse(lid);
    conn.remote.id = *Identity::parse(rid);
    conn.mobike = o.mobike;
    ChildConfig child;
    child.name = "net";
    child.local_ts = {*TsSpec::parse(lts)};
    child.remote_ts = {*TsSpec::parse(rts)};
    child.esp_proposals = *parse_proposals({esp}, wire::ProtocolId::esp);
    conn.children.push_back(child);
    c.connections.push_back(conn);
    c.secrets.push_back({{*Identity::parse(lid), *Identity::parse(rid)}, to_bytes(psk)});
    c.cookie_threshold = o.cookie_threshold;
    return c;
}

}  // namespace

Config initiator_config(const PairOptions& o) {
    return make("s2s", "192.0.2.1", "192.0.2.2", "moon", "sun", o.initiator_ike, o.initiator_esp, o.initiator_psk,
                "10.1.0.0/16", "10.2.0.0/16", o);
}

Config responder_config(const PairOptions& o) {
    return make("s2s", "192.0.2.2", "%any", "sun", "moon", o.responder_ike, o.responder_esp, o.responder_psk,
                "10.2.0.0/16", "10.1.0.0/16", o);
}

}  // namespace mobiked::sim
