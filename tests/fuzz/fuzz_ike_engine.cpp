// Feeds arbitrary datagrams to a responder engine and to an initiator waiting
// for its IKE_SA_INIT response. Input: a sequence of [u16 length][bytes]
// records; bytes 0-7 of each record may be overwritten with a live SPI so the
// fuzzer reaches the per-SA code paths, not only the "unknown SPI" drop.
#include <cstddef>
#include <cstdint>

#include "ike/engine.hpp"
#include "ike/proposals.hpp"

using namespace mobiked;
using namespace mobiked::ike;

namespace {

Config make_config(bool initiator) {
    Config c;
    ConnectionConfig conn;
    conn.name = "fuzz";
    conn.remote_hosts = {"%any"};
    conn.ike_proposals = *parse_proposals({"aes128gcm16-prfsha256-x25519"}, wire::ProtocolId::ike);
    conn.local.id = *Identity::parse(initiator ? "moon" : "sun");
    conn.remote.id = *Identity::parse("%any");
    ChildConfig child;
    child.name = "net";
    child.local_ts = {*TsSpec::parse("10.0.0.0/8")};
    child.remote_ts = {*TsSpec::parse("10.0.0.0/8")};
    conn.children.push_back(child);
    c.connections.push_back(conn);
    c.secrets.push_back({{*Identity::parse("%any")}, to_bytes(std::string_view("fuzz"))});
    c.cookie_threshold = 1000;
    return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static auto random = crypto::make_seeded_random(7);
    Engine responder(make_config(false), {random.get(), nullptr});
    Engine initiator(make_config(true), {random.get(), nullptr});
    const Endpoint a{*IpAddress::parse("192.0.2.1"), 500}, b{*IpAddress::parse("192.0.2.2"), 500};
    Output out;
    Time now{};
    auto id = initiator.initiate("fuzz", "", a, b, now, out);
    std::uint64_t spi_i = 0;
    if (id.ok()) spi_i = initiator.list_sas().front().spi_i;

    std::size_t pos = 0;
    for (int n = 0; n < 16 && pos + 3 <= size; ++n) {
        const std::size_t len = std::min<std::size_t>(load_be16(data + pos) & 0x0fff, size - pos - 3);
        const bool to_initiator = data[pos + 2] & 1;
        pos += 3;
        Bytes dg(data + pos, data + pos + len);
        pos += len;
        if (to_initiator && dg.size() >= 8) store_be64(dg.data(), spi_i);
        now += std::chrono::milliseconds(100);
        Output o;
        if (to_initiator) initiator.on_datagram({a, b, dg}, now, o);
        else responder.on_datagram({b, a, dg}, now, o);
        initiator.on_timer(now, o);
        responder.on_timer(now, o);
    }
    return 0;
}
