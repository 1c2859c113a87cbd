#include <gtest/gtest.h>

#include <vector>

#include "daemon/esp_export.hpp"
#include "daemon/sa_table.hpp"
#include "daemon/udp_io.hpp"
#include "wire/constants.hpp"

using namespace mobiked;
using namespace mobiked::daemon;

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

}  // namespace

TEST(SaTable, InstallDeleteUpdate) {
    SaTable t;
    EXPECT_TRUE(t.apply(child(1, 1, 0x100, 0x200), Time{}));
    EXPECT_TRUE(t.apply(child(1, 2, 0x101, 0x201), Time{}));
    EXPECT_TRUE(t.apply(child(2, 1, 0x102, 0x202), Time{}));
    EXPECT_EQ(t.size(), 3u);
    EXPECT_TRUE(t.apply(child(1, 1, 0x100, 0x299), Time{}));  // same inbound SPI replaces
    EXPECT_EQ(t.size(), 3u);
    Endpoint moved{*IpAddress::parse("192.0.2.9"), 4500};
    EXPECT_TRUE(t.apply(ike::UpdateSaAddresses{1, moved, t.entries().front().sa.remote, true}, Time{}));
    for (const auto& e : t.entries()) EXPECT_EQ(e.sa.local == moved, e.sa.ike_sa_id == 1);
    EXPECT_TRUE(t.apply(ike::DeleteChildSa{1, 2, 0x101, 0x201}, Time{}));
    EXPECT_FALSE(t.apply(ike::DeleteChildSa{1, 2, 0x101, 0x201}, Time{}));
    EXPECT_FALSE(t.apply(ike::UpdateSaAddresses{9, moved, moved, false}, Time{}));
    EXPECT_EQ(t.remove_ike_sa(1), 1u);
    EXPECT_EQ(t.size(), 1u);
}

// find() and for_each_child() are what EspKeyArchive uses to see a command's
// SAs before the table acts: they must agree with apply().
TEST(SaTable, FindAndChildrenAgreeWithApply) {
    SaTable t;
    t.apply(child(2, 1, 0x10, 0x20), Time{});
    t.apply(child(1, 1, 0x11, 0x21), Time{});
    t.apply(child(1, 2, 0x12, 0x22), Time{});
    t.apply(child(2, 2, 0x13, 0x23), Time{});
    EXPECT_EQ(t.find(ike::DeleteChildSa{1, 9, 0x12, 0, false})->sa.child_id, 2u);
    EXPECT_EQ(t.find(ike::DeleteChildSa{1, 9, 0x12, 0x21, false})->sa.spi_in, 0x11u);  // first in install order
    EXPECT_EQ(t.find(ike::DeleteChildSa{1, 2, 0, 0, false})->sa.spi_in, 0x12u);
    EXPECT_EQ(t.find(ike::DeleteChildSa{1, 1, 0x10, 0, false}), nullptr);  // IKE SA 2's
    EXPECT_EQ(t.find(ike::DeleteChildSa{3, 1, 0, 0, false}), nullptr);
    auto spis = [&](std::uint64_t ike) {
        std::vector<std::uint32_t> v;
        t.for_each_child(ike, [&](const InstalledSa& e) { v.push_back(e.sa.spi_in); });
        return v;
    };
    EXPECT_EQ(spis(1), (std::vector<std::uint32_t>{0x11, 0x12}));
    EXPECT_TRUE(spis(3).empty());
    t.move_ike_sa(1, 2);
    EXPECT_EQ(spis(2), (std::vector<std::uint32_t>{0x10, 0x11, 0x12, 0x13}));
    EXPECT_TRUE(spis(1).empty());
    t.apply(child(3, 1, 0x11, 0x31), Time{});  // the SPI changes IKE SA
    EXPECT_EQ(spis(2), (std::vector<std::uint32_t>{0x10, 0x12, 0x13}));
    EXPECT_EQ(spis(3), (std::vector<std::uint32_t>{0x11}));
    EXPECT_EQ(t.find(ike::DeleteChildSa{3, 1, 0, 0, false})->sa.spi_out, 0x31u);
    EXPECT_EQ(t.remove_ike_sa(2), 3u);
    EXPECT_TRUE(spis(2).empty());
}

TEST(EspExport, WiresharkRecords) {
    SaTable t;
    t.apply(child(1, 1, 0xc0ffee01, 0xdeadbeef), Time{});
    auto e = wireshark_esp_sa(t.entries());
    EXPECT_EQ(e.records, 2u);
    EXPECT_TRUE(e.skipped.empty());
    EXPECT_NE(e.text.find("\"IPv4\",\"192.0.2.2\",\"192.0.2.1\",\"0xc0ffee01\",\"AES-GCM with 16 octet ICV [RFC4106]\","
                          "\"0x00112233445566778899aabbccddeeff01020304\",\"NULL\",\"\"\n"),
              std::string::npos)
        << e.text;
    EXPECT_NE(e.text.find("\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0xdeadbeef\""), std::string::npos) << e.text;
}

TEST(EspExport, CbcWithHmacAndUnsupported) {
    SaTable t;
    auto c = child(1, 1, 1, 2);
    c.inbound = {wire::encr::aes_cbc, 128, wire::integ::hmac_sha2_256_128, Bytes(16, 1), Bytes(32, 2)};
    c.outbound = c.inbound;
    t.apply(c, Time{});
    auto d = child(1, 2, 3, 4);
    d.inbound.encr_id = d.outbound.encr_id = wire::encr::chacha20_poly1305;
    t.apply(d, Time{});
    auto e = wireshark_esp_sa(t.entries());
    EXPECT_EQ(e.records, 2u);
    EXPECT_EQ(e.skipped.size(), 1u);
    EXPECT_NE(e.text.find("\"AES-CBC [RFC3602]\""), std::string::npos);
    EXPECT_NE(e.text.find("\"HMAC-SHA-256-128 [RFC4868]\",\"0x0202"), std::string::npos);
}

TEST(NattFraming, Classify) {
    Bytes keepalive{0xff};
    EXPECT_EQ(classify_natt(keepalive), NattPayload::keepalive);
    EXPECT_EQ(classify_natt(Bytes{0, 0, 0}), NattPayload::invalid);
    EXPECT_EQ(classify_natt(Bytes{0, 0, 0, 0, 1}), NattPayload::ike);
    EXPECT_EQ(classify_natt(Bytes{1, 2, 3, 4, 0, 0, 0, 1}), NattPayload::esp);
    EXPECT_EQ(classify_natt(Bytes{1, 2, 3, 4}), NattPayload::invalid);
    Endpoint a{*IpAddress::parse("192.0.2.1"), 500}, b{*IpAddress::parse("192.0.2.2"), 500};
    Endpoint n{*IpAddress::parse("192.0.2.2"), 4500};
    EXPECT_FALSE(needs_marker(a, b, 4500));
    EXPECT_TRUE(needs_marker(a, n, 4500));
    EXPECT_TRUE(needs_marker(Endpoint{a.address, 4501}, b, 4501));
}
