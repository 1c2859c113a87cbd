// EspKeyArchive: one Wireshark export covers rekeyed (deleted) CHILD_SAs and
// the addresses a CHILD_SA used before a MOBIKE move; bounded in count and time.
#include <gtest/gtest.h>

#include "daemon/esp_export.hpp"
#include "daemon/sa_table.hpp"
#include "wire/constants.hpp"

using namespace mobiked;
using namespace mobiked::daemon;
using namespace std::chrono_literals;

namespace {

ike::InstallChildSa child(std::uint64_t ike, std::uint32_t id, std::uint32_t in, std::uint32_t out) {
    ike::InstallChildSa c;
    c.ike_sa_id = ike;
    c.child_id = id;
    c.child_name = "net";
    c.spi_in = in;
    c.spi_out = out;
    c.local = Endpoint{*IpAddress::parse("192.0.2.1"), 4500};
    c.remote = Endpoint{*IpAddress::parse("192.0.2.2"), 4500};
    c.inbound = {wire::encr::aes_gcm_16, 128, 0, from_hex("00112233445566778899aabbccddeeff01020304"), {}};
    c.outbound = {wire::encr::aes_gcm_16, 128, 0, from_hex("ffeeddccbbaa99887766554433221100a0b0c0d0"), {}};
    return c;
}

// Feeds the command to the archive and then the table, as the daemon does.
void apply(EspKeyArchive& a, SaTable& t, const ike::SaCommand& c, Time now) {
    a.before_apply(c, t, now);
    t.apply(c, now);
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
}

}  // namespace

TEST(EspKeyArchive, RekeyedSaStaysInTheExport) {
    SaTable t;
    EspKeyArchive a;
    apply(a, t, child(1, 1, 0xc0000001, 0xd0000001), Time{});
    apply(a, t, child(1, 1, 0xc0000002, 0xd0000002), Time{1s});  // rekey: new SA first
    apply(a, t, ike::DeleteChildSa{1, 1, 0xc0000001, 0xd0000001, true}, Time{2s});
    EXPECT_EQ(t.size(), 1u);
    auto e = a.wireshark(t.entries(), Time{3s});
    EXPECT_EQ(e.records, 4u);
    EXPECT_EQ(e.retired, 1u);
    EXPECT_EQ(count(e.text, "\"0xc0000001\""), 1u) << e.text;
    EXPECT_EQ(count(e.text, "\"0xd0000002\""), 1u) << e.text;
    // the plain export of the table alone has only the new SA
    EXPECT_EQ(wireshark_esp_sa(t.entries()).records, 2u);
}

TEST(EspKeyArchive, MovedSaHasEveryAddressPair) {
    SaTable t;
    EspKeyArchive a;
    apply(a, t, child(1, 1, 0xc0000001, 0xd0000001), Time{});
    Endpoint moved{*IpAddress::parse("198.51.100.1"), 4500};
    Endpoint peer{*IpAddress::parse("192.0.2.2"), 4500};
    apply(a, t, ike::UpdateSaAddresses{1, moved, peer, true}, Time{1s});
    apply(a, t, ike::UpdateSaAddresses{1, moved, peer, true}, Time{2s});  // no change: nothing added
    auto e = a.wireshark(t.entries(), Time{3s});
    EXPECT_EQ(e.records, 4u) << e.text;
    EXPECT_NE(e.text.find("\"IPv4\",\"198.51.100.1\",\"192.0.2.2\",\"0xd0000001\""), std::string::npos) << e.text;
    EXPECT_NE(e.text.find("\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0xd0000001\""), std::string::npos) << e.text;
    EXPECT_NE(e.text.find("\"IPv4\",\"192.0.2.2\",\"192.0.2.1\",\"0xc0000001\""), std::string::npos) << e.text;
    // moving back adds nothing new; the pairs survive the delete of the IKE SA
    apply(a, t, ike::UpdateSaAddresses{1, Endpoint{*IpAddress::parse("192.0.2.1"), 4500}, peer, true}, Time{4s});
    a.before_remove_ike_sa(1, t, Time{5s});
    t.remove_ike_sa(1);
    e = a.wireshark(t.entries(), Time{6s});
    EXPECT_EQ(e.retired, 1u);
    EXPECT_EQ(e.records, 4u) << e.text;
}

TEST(EspKeyArchive, BoundedInCountAndTime) {
    SaTable t;
    EspKeyArchive a(EspKeyArchive::Limits{2, std::chrono::seconds(60), 8});
    for (std::uint32_t i = 1; i <= 4; ++i) {
        apply(a, t, child(1, i, 0xc0000000 + i, 0xd0000000 + i), Time{});
        apply(a, t, ike::DeleteChildSa{1, i, 0xc0000000 + i, 0xd0000000 + i, false}, Time{std::chrono::seconds(i)});
    }
    EXPECT_EQ(a.retired(), 2u);
    auto e = a.wireshark(t.entries(), Time{10s});
    EXPECT_EQ(count(e.text, "\"0xc0000004\""), 1u);
    EXPECT_EQ(count(e.text, "\"0xc0000001\""), 0u);
    EXPECT_EQ(a.wireshark(t.entries(), Time{64s}).retired, 1u);   // SA 3 deleted at 3 s: more than 60 s ago
    EXPECT_EQ(a.wireshark(t.entries(), Time{65s}).records, 0u);
}

TEST(EspKeyArchive, UnsupportedAlgorithmIsSkipped) {
    SaTable t;
    EspKeyArchive a;
    auto c = child(1, 1, 1, 2);
    c.inbound.encr_id = c.outbound.encr_id = wire::encr::chacha20_poly1305;
    apply(a, t, c, Time{});
    apply(a, t, ike::DeleteChildSa{1, 1, 1, 2, false}, Time{1s});
    auto e = a.wireshark(t.entries(), Time{2s});
    EXPECT_EQ(e.records, 0u);
    ASSERT_EQ(e.skipped.size(), 1u);
    EXPECT_NE(e.skipped[0].find("(deleted)"), std::string::npos);
}

TEST(EspKeyArchive, AhNeedsNoRecord) {
    SaTable t;
    EspKeyArchive a;
    auto c = child(1, 1, 1, 2);
    c.protocol = wire::ProtocolId::ah;
    c.inbound = c.outbound = {0, 0, wire::integ::hmac_sha2_256_128, {}, Bytes(32, 7)};
    apply(a, t, c, Time{});
    auto e = a.wireshark(t.entries(), Time{1s});
    EXPECT_EQ(e.records, 0u);
    ASSERT_EQ(e.skipped.size(), 1u);
    EXPECT_NE(e.skipped[0].find("AH"), std::string::npos);
}
