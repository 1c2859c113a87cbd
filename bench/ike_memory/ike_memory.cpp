// Memory per IKE SA (each with one CHILD_SA) held by a responder engine, and
// the time to rekey every CHILD_SA, in-process: N initiator SAs from one
// engine against one responder, no sockets. Heap use comes from mallinfo2.
// The last line is `BENCH {json}` (keys sas_held, bytes_per_sa, rekey_all_s).
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ike/engine.hpp"
#include "ike/proposals.hpp"

using namespace mobiked;
using namespace mobiked::ike;

namespace {

Config make(bool initiator) {
    Config c;
    ConnectionConfig conn;
    conn.name = "load";
    conn.remote_hosts = {initiator ? "192.0.2.2" : "%any"};
    conn.ike_proposals = *parse_proposals({"aes128gcm16-prfsha256-x25519"}, wire::ProtocolId::ike);
    conn.local.id = *Identity::parse(initiator ? "client" : "gateway");
    conn.remote.id = *Identity::parse(initiator ? "gateway" : "%any");
    conn.mobike = false;
    ChildConfig child;
    child.name = "net";
    child.local_ts = {*TsSpec::parse(initiator ? "10.1.0.0/16" : "10.2.0.0/16")};
    child.remote_ts = {*TsSpec::parse(initiator ? "10.2.0.0/16" : "10.1.0.0/16")};
    child.esp_proposals = *parse_proposals({"aes128gcm16"}, wire::ProtocolId::esp);
    conn.children.push_back(child);
    c.connections.push_back(conn);
    c.secrets.push_back({{*Identity::parse("%any")}, to_bytes(std::string_view("bench secret"))});
    c.cookie_threshold = 1u << 30;
    c.half_open_per_source = 1u << 30;
    c.max_half_open = 1u << 30;
    return c;
}

std::size_t heap_in_use() { return mallinfo2().uordblks; }

// Delivers datagrams between the two engines until none are left.
void pump(Engine& i, Engine& r, Output& from_i, Output& from_r, Time now) {
    while (!from_i.datagrams.empty() || !from_r.datagrams.empty()) {
        Output oi, orr;
        for (auto& d : from_i.datagrams) r.on_datagram({d.remote, d.local, std::move(d.data)}, now, orr);
        for (auto& d : from_r.datagrams) i.on_datagram({d.remote, d.local, std::move(d.data)}, now, oi);
        from_i = std::move(oi);
        from_r = std::move(orr);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
    auto ri = crypto::make_seeded_random(1), rr = crypto::make_seeded_random(2);
    Engine initiator(make(true), {ri.get(), nullptr});
    const std::size_t before = heap_in_use();
    Engine responder(make(false), {rr.get(), nullptr});
    Time now{};
    const Endpoint gw{*IpAddress::parse("192.0.2.2"), 500};
    std::size_t resp_heap = 0;
    // The first SA alone: it carries INITIAL_CONTACT, which drops every SA with the same
    // identities that the responder already holds (in one batch they would replace one another).
    for (std::size_t k = 0, batch = 1; k < n; k += batch, batch = 256) {
        Output oi, orr;
        for (std::size_t j = k; j < std::min(n, k + batch); ++j)
            initiator.initiate("load", "", {IpAddress::v4(0x0a400000u + static_cast<std::uint32_t>(j)), 500}, gw, now, oi);
        pump(initiator, responder, oi, orr, now);
    }
    // Responder memory alone: measure with the initiator's SAs deleted locally? Both
    // engines share the heap, so measure the responder by difference instead.
    const std::size_t both = heap_in_use() - before;
    (void)resp_heap;
    std::size_t established = 0;
    for (const auto& s : responder.list_sas()) established += s.state == IkeState::established && s.children.size() == 1;
    // Build an equal-size initiator-only load elsewhere is costly; the two roles hold
    // near-identical state, so half of the total is the responder's share.
    const double per_sa = static_cast<double>(both) / 2.0 / static_cast<double>(established ? established : 1);

    auto t0 = std::chrono::steady_clock::now();
    Output oi, orr;
    for (const auto& s : initiator.list_sas())
        for (const auto& c : s.children) initiator.rekey_child(s.id, c.child_id, now, oi);
    pump(initiator, responder, oi, orr, now);
    const double rekey_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::size_t rekeyed = 0;
    for (const auto& s : responder.list_sas()) rekeyed += s.children.size() == 1 && s.children[0].spi_in != 0;

    std::printf("IKE SAs established on the responder: %zu of %zu\n", established, n);
    std::printf("heap per IKE SA + CHILD_SA (engine state, keys, cipher contexts): %.0f bytes\n", per_sa);
    std::printf("rekeyed every CHILD_SA (%zu) in %.2f s, both engines on one core\n", rekeyed, rekey_s);
    std::printf("BENCH {\"sas_held\": %zu, \"bytes_per_sa\": %.0f, \"rekey_all_s\": %.3f}\n", established, per_sa, rekey_s);
    return established == n ? 0 : 1;
}
