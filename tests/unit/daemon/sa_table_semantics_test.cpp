// SaTable's observable behaviour, pinned before it was indexed (it was a
// vector scanned per command): which entry an install replaces, a delete
// removes, an update or IKE rekey moves, and the install order listings and
// exports see. The randomised test replays the same commands on a copy of that
// original linear implementation and compares after every step.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <type_traits>
#include <vector>

#include "daemon/esp_export.hpp"
#include "daemon/sa_table.hpp"
#include "wire/constants.hpp"

using namespace mobiked;
using namespace mobiked::daemon;
using namespace std::chrono_literals;

namespace {

const Endpoint kLocal{*IpAddress::parse("192.0.2.1"), 4500};
const Endpoint kRemote{*IpAddress::parse("192.0.2.2"), 4500};
const Endpoint kMoved{*IpAddress::parse("198.51.100.7"), 4500};

ike::InstallChildSa child(std::uint64_t ike, std::uint32_t id, std::uint32_t in, std::uint32_t out) {
    ike::InstallChildSa c;
    c.ike_sa_id = ike;
    c.child_id = id;
    c.child_name = "net";
    c.spi_in = in;
    c.spi_out = out;
    c.local = kLocal;
    c.remote = kRemote;
    c.inbound = {wire::encr::aes_gcm_16, 128, 0, Bytes(20, 0x11), {}};
    c.outbound = {wire::encr::aes_gcm_16, 128, 0, Bytes(20, 0x22), {}};
    return c;
}

struct Row {
    std::uint64_t ike;
    std::uint32_t child;
    std::uint32_t in;
    std::uint32_t out;
    auto operator<=>(const Row&) const = default;
};

std::vector<Row> rows(const SaTable& t) {
    std::vector<Row> v;
    for (const auto& e : t.entries()) v.push_back({e.sa.ike_sa_id, e.sa.child_id, e.sa.spi_in, e.sa.spi_out});
    return v;
}

// The table before indexing, kept verbatim in behaviour as the oracle.
class LinearTable {
public:
    bool apply(const ike::SaCommand& cmd, Time now) {
        return std::visit(
            [&](const auto& c) -> bool {
                using T = std::decay_t<decltype(c)>;
                if constexpr (std::is_same_v<T, ike::InstallChildSa>) return install(c, now);
                else if constexpr (std::is_same_v<T, ike::DeleteChildSa>) return remove(c);
                else return update(c);
            },
            cmd);
    }
    std::size_t remove_ike_sa(std::uint64_t id) {
        auto n = std::erase_if(entries, [&](const InstalledSa& e) { return e.sa.ike_sa_id == id; });
        return static_cast<std::size_t>(n);
    }
    void move_ike_sa(std::uint64_t from, std::uint64_t to) {
        for (auto& e : entries)
            if (e.sa.ike_sa_id == from) e.sa.ike_sa_id = to;
    }
    std::vector<InstalledSa> entries;

private:
    bool install(const ike::InstallChildSa& c, Time now) {
        auto it = std::find_if(entries.begin(), entries.end(), [&](const InstalledSa& e) { return e.sa.spi_in == c.spi_in; });
        if (it != entries.end()) *it = InstalledSa{c, now};
        else entries.push_back(InstalledSa{c, now});
        return true;
    }
    bool remove(const ike::DeleteChildSa& d) {
        auto it = std::find_if(entries.begin(), entries.end(), [&](const InstalledSa& e) {
            if (e.sa.ike_sa_id != d.ike_sa_id) return false;
            if (d.spi_in != 0 || d.spi_out != 0)
                return e.sa.spi_in == d.spi_in || (d.spi_out != 0 && e.sa.spi_out == d.spi_out);
            return e.sa.child_id == d.child_id;
        });
        if (it == entries.end()) return false;
        entries.erase(it);
        return true;
    }
    bool update(const ike::UpdateSaAddresses& u) {
        bool any = false;
        for (auto& e : entries) {
            if (e.sa.ike_sa_id != u.ike_sa_id) continue;
            e.sa.local = u.local;
            e.sa.remote = u.remote;
            e.sa.udp_encap = u.udp_encap;
            any = true;
        }
        return any;
    }
};

void expect_same(const SaTable& t, const LinearTable& ref, int step) {
    ASSERT_EQ(t.size(), ref.entries.size()) << "step " << step;
    std::size_t i = 0;
    for (const auto& e : t.entries()) {
        const auto& r = ref.entries[i++];
        ASSERT_EQ(e.sa.ike_sa_id, r.sa.ike_sa_id) << "step " << step << " entry " << i;
        ASSERT_EQ(e.sa.child_id, r.sa.child_id) << "step " << step << " entry " << i;
        ASSERT_EQ(e.sa.spi_in, r.sa.spi_in) << "step " << step << " entry " << i;
        ASSERT_EQ(e.sa.spi_out, r.sa.spi_out) << "step " << step << " entry " << i;
        ASSERT_EQ(e.sa.local, r.sa.local) << "step " << step << " entry " << i;
        ASSERT_EQ(e.sa.remote, r.sa.remote) << "step " << step << " entry " << i;
        ASSERT_EQ(e.sa.udp_encap, r.sa.udp_encap) << "step " << step << " entry " << i;
        ASSERT_EQ(e.installed_at, r.installed_at) << "step " << step << " entry " << i;
        ASSERT_EQ(e.sa.inbound.encr_key, r.sa.inbound.encr_key) << "step " << step << " entry " << i;
    }
}

}  // namespace

TEST(SaTableSemantics, InstallKeepsInstallOrder) {
    SaTable t;
    t.apply(child(2, 1, 0x30, 0x40), Time{1s});
    t.apply(child(1, 1, 0x10, 0x20), Time{2s});
    t.apply(child(2, 2, 0x31, 0x41), Time{3s});
    EXPECT_EQ(rows(t), (std::vector<Row>{{2, 1, 0x30, 0x40}, {1, 1, 0x10, 0x20}, {2, 2, 0x31, 0x41}}));
    EXPECT_EQ(t.entries().front().installed_at, Time{1s});
}

TEST(SaTableSemantics, ReplaceByInboundSpiKeepsThePosition) {
    SaTable t;
    t.apply(child(1, 1, 0x10, 0x20), Time{1s});
    t.apply(child(1, 2, 0x11, 0x21), Time{1s});
    t.apply(child(1, 3, 0x12, 0x22), Time{1s});
    auto c = child(1, 7, 0x11, 0x99);
    c.inbound.encr_key = Bytes(20, 0x77);
    EXPECT_TRUE(t.apply(c, Time{5s}));
    EXPECT_EQ(rows(t), (std::vector<Row>{{1, 1, 0x10, 0x20}, {1, 7, 0x11, 0x99}, {1, 3, 0x12, 0x22}}));
    const auto& e = *std::next(t.entries().begin());
    EXPECT_EQ(e.installed_at, Time{5s});
    EXPECT_EQ(e.sa.inbound.encr_key, Bytes(20, 0x77));
}

// The inbound SPI alone identifies an entry: an install under another IKE SA
// takes it over, and it then belongs to that IKE SA.
TEST(SaTableSemantics, ReplaceAcrossIkeSas) {
    SaTable t;
    t.apply(child(1, 1, 0x10, 0x20), Time{});
    t.apply(child(1, 2, 0x11, 0x21), Time{});
    t.apply(child(2, 1, 0x10, 0x30), Time{});
    EXPECT_EQ(rows(t), (std::vector<Row>{{2, 1, 0x10, 0x30}, {1, 2, 0x11, 0x21}}));
    EXPECT_FALSE(t.apply(ike::DeleteChildSa{1, 1, 0x10, 0, false}, Time{}));
    EXPECT_TRUE(t.apply(ike::UpdateSaAddresses{2, kMoved, kRemote, true}, Time{}));
    EXPECT_EQ(t.entries().front().sa.local, kMoved);
    EXPECT_EQ(std::next(t.entries().begin())->sa.local, kLocal);
    EXPECT_EQ(t.remove_ike_sa(1), 1u);
    EXPECT_EQ(rows(t), (std::vector<Row>{{2, 1, 0x10, 0x30}}));
}

TEST(SaTableSemantics, DeleteBySpiOrChildId) {
    SaTable t;
    t.apply(child(1, 1, 0x10, 0x20), Time{});
    t.apply(child(1, 2, 0x11, 0x21), Time{});
    t.apply(child(1, 3, 0x12, 0x22), Time{});
    t.apply(child(1, 4, 0x13, 0x23), Time{});
    t.apply(child(2, 5, 0x14, 0x24), Time{});
    EXPECT_FALSE(t.apply(ike::DeleteChildSa{2, 1, 0x10, 0x20, false}, Time{}));  // another IKE SA's
    EXPECT_TRUE(t.apply(ike::DeleteChildSa{1, 99, 0x11, 0, false}, Time{}));     // inbound SPI decides
    EXPECT_TRUE(t.apply(ike::DeleteChildSa{1, 99, 0x777, 0x22, false}, Time{}));  // ... or the outbound one
    EXPECT_FALSE(t.apply(ike::DeleteChildSa{1, 4, 0x777, 0, false}, Time{}));    // SPI given: child_id ignored
    EXPECT_TRUE(t.apply(ike::DeleteChildSa{1, 4, 0, 0, true}, Time{}));          // no SPI: child_id
    EXPECT_EQ(rows(t), (std::vector<Row>{{1, 1, 0x10, 0x20}, {2, 5, 0x14, 0x24}}));
    EXPECT_FALSE(t.apply(ike::DeleteChildSa{1, 4, 0, 0, true}, Time{}));
}

// When the inbound SPI names one entry and the outbound SPI an earlier one,
// the earlier goes: the first match in install order.
TEST(SaTableSemantics, DeleteTakesTheFirstMatchInInstallOrder) {
    SaTable t;
    t.apply(child(1, 1, 0x10, 0x20), Time{});
    t.apply(child(1, 2, 0x11, 0x21), Time{});
    EXPECT_TRUE(t.apply(ike::DeleteChildSa{1, 2, 0x11, 0x20, false}, Time{}));
    EXPECT_EQ(rows(t), (std::vector<Row>{{1, 2, 0x11, 0x21}}));
    // a rekey keeps the child_id: old and new are both installed until the delete
    t.apply(child(1, 2, 0x12, 0x22), Time{});
    EXPECT_TRUE(t.apply(ike::DeleteChildSa{1, 2, 0, 0, false}, Time{}));
    EXPECT_EQ(rows(t), (std::vector<Row>{{1, 2, 0x12, 0x22}}));
}

TEST(SaTableSemantics, UpdateTouchesOneIkeSa) {
    SaTable t;
    t.apply(child(1, 1, 0x10, 0x20), Time{});
    t.apply(child(2, 1, 0x11, 0x21), Time{});
    t.apply(child(1, 2, 0x12, 0x22), Time{});
    EXPECT_TRUE(t.apply(ike::UpdateSaAddresses{1, kMoved, kMoved, true}, Time{}));
    for (const auto& e : t.entries()) {
        EXPECT_EQ(e.sa.local == kMoved, e.sa.ike_sa_id == 1);
        EXPECT_EQ(e.sa.remote == kMoved, e.sa.ike_sa_id == 1);
        EXPECT_EQ(e.sa.udp_encap, e.sa.ike_sa_id == 1);
    }
    EXPECT_FALSE(t.apply(ike::UpdateSaAddresses{3, kMoved, kMoved, true}, Time{}));
}

TEST(SaTableSemantics, MoveIkeSaMergesInInstallOrder) {
    SaTable t;
    t.apply(child(2, 1, 0x10, 0x20), Time{});  // the successor already has a child
    t.apply(child(1, 1, 0x11, 0x21), Time{});
    t.apply(child(2, 1, 0x12, 0x22), Time{});
    t.apply(child(3, 1, 0x13, 0x23), Time{});
    t.move_ike_sa(1, 2);
    t.move_ike_sa(1, 2);  // nothing left to move
    t.move_ike_sa(9, 2);
    t.move_ike_sa(3, 3);
    EXPECT_EQ(rows(t), (std::vector<Row>{{2, 1, 0x10, 0x20}, {2, 1, 0x11, 0x21}, {2, 1, 0x12, 0x22}, {3, 1, 0x13, 0x23}}));
    EXPECT_FALSE(t.apply(ike::DeleteChildSa{1, 1, 0x11, 0x21, false}, Time{}));
    EXPECT_FALSE(t.apply(ike::UpdateSaAddresses{1, kMoved, kMoved, true}, Time{}));
    EXPECT_EQ(t.remove_ike_sa(1), 0u);
    // by child_id: oldest first across the merged children
    EXPECT_TRUE(t.apply(ike::DeleteChildSa{2, 1, 0, 0, false}, Time{}));
    EXPECT_EQ(t.entries().front().sa.spi_in, 0x11u);
    EXPECT_TRUE(t.apply(ike::DeleteChildSa{2, 1, 0, 0, false}, Time{}));
    EXPECT_EQ(t.entries().front().sa.spi_in, 0x12u);
    t.move_ike_sa(2, 3);
    EXPECT_EQ(t.remove_ike_sa(3), 2u);
    EXPECT_EQ(t.size(), 0u);
}

TEST(SaTableSemantics, RemoveIkeSaKeepsTheRestInOrder) {
    SaTable t;
    for (std::uint32_t i = 0; i < 9; ++i) t.apply(child(i % 3, i, 0x100 + i, 0x200 + i), Time{});
    EXPECT_EQ(t.remove_ike_sa(1), 3u);
    EXPECT_EQ(t.remove_ike_sa(1), 0u);
    EXPECT_EQ(rows(t), (std::vector<Row>{{0, 0, 0x100, 0x200}, {2, 2, 0x102, 0x202}, {0, 3, 0x103, 0x203},
                                         {2, 5, 0x105, 0x205}, {0, 6, 0x106, 0x206}, {2, 8, 0x108, 0x208}}));
    // a removed SPI can be installed again
    t.apply(child(1, 1, 0x101, 0x201), Time{});
    EXPECT_EQ(t.size(), 7u);
    EXPECT_EQ(t.entries().back().sa.spi_in, 0x101u);
}

// The archive retires what the table is about to drop, also in the corner
// cases of the table's matching.
TEST(SaTableSemantics, ArchiveRetiresWhatTheTableRemoves) {
    SaTable t;
    EspKeyArchive a;
    auto apply = [&](const ike::SaCommand& c, Time now) {
        a.before_apply(c, t, now);
        t.apply(c, now);
    };
    apply(child(1, 1, 0xc0000001, 0xd0000001), Time{});
    apply(child(1, 2, 0xc0000002, 0xd0000002), Time{});
    apply(ike::DeleteChildSa{1, 2, 0xc0000002, 0xd0000001, false}, Time{1s});  // removes child 1
    auto e = a.wireshark(t.entries(), Time{2s});
    EXPECT_EQ(e.retired, 1u);
    EXPECT_EQ(rows(t), (std::vector<Row>{{1, 2, 0xc0000002, 0xd0000002}}));
    // the retired record (after the installed ones) is child 1's
    auto deleted = e.text.find("\"0xc0000001\"");
    ASSERT_NE(deleted, std::string::npos) << e.text;
    EXPECT_GT(deleted, e.text.find("\"0xc0000002\""));
    // removal of an IKE SA retires its children oldest first: the export lists them newest first
    apply(child(1, 3, 0xc0000003, 0xd0000003), Time{3s});
    a.before_remove_ike_sa(1, t, Time{4s});
    EXPECT_EQ(t.remove_ike_sa(1), 2u);
    e = a.wireshark(t.entries(), Time{5s});
    EXPECT_EQ(e.retired, 3u);
    auto p3 = e.text.find("\"0xc0000003\""), p2 = e.text.find("\"0xc0000002\""), p1 = e.text.find("\"0xc0000001\"");
    EXPECT_LT(p3, p2);
    EXPECT_LT(p2, p1);
}

TEST(SaTableSemantics, RandomCommandsMatchTheLinearTable) {
    std::mt19937 rng(20240611);
    auto pick = [&](std::uint32_t lo, std::uint32_t hi) { return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng); };
    SaTable t;
    LinearTable ref;
    for (int step = 0; step < 20000; ++step) {
        Time now{std::chrono::milliseconds(step)};
        std::uint64_t ike = pick(1, 6);
        switch (pick(0, 9)) {
            case 0: case 1: case 2: case 3: {  // install or replace: few SPIs, many collisions
                auto c = child(ike, pick(1, 5), pick(1, 40), pick(1, 40));
                c.inbound.encr_key = Bytes(20, static_cast<std::uint8_t>(step));
                ASSERT_EQ(t.apply(c, now), ref.apply(c, now)) << "step " << step;
                break;
            }
            case 4: case 5: case 6: {  // delete, with each way of naming the SA
                std::uint32_t in = pick(0, 2) ? pick(0, 40) : 0, out = pick(0, 1) ? pick(0, 40) : 0;
                ike::DeleteChildSa d{ike, pick(1, 5), in, out, pick(0, 1) == 1};
                ASSERT_EQ(t.apply(d, now), ref.apply(d, now)) << "step " << step;
                break;
            }
            case 7: {
                ike::UpdateSaAddresses u{ike, pick(0, 1) ? kMoved : kLocal, kRemote, pick(0, 1) == 1};
                ASSERT_EQ(t.apply(u, now), ref.apply(u, now)) << "step " << step;
                break;
            }
            case 8: {
                std::uint64_t to = pick(1, 6);
                t.move_ike_sa(ike, to);
                ref.move_ike_sa(ike, to);
                break;
            }
            default:
                if (pick(0, 3) == 0) {
                    ASSERT_EQ(t.remove_ike_sa(ike), ref.remove_ike_sa(ike)) << "step " << step;
                }
                break;
        }
        expect_same(t, ref, step);
        if (HasFatalFailure()) return;
    }
}

// Correctness at gateway scale; run time is bench/handshake/many.sh's concern.
TEST(SaTableSemantics, HundredThousandSas) {
    constexpr std::uint32_t kN = 100'000;
    SaTable t;
    for (std::uint32_t i = 0; i < kN; ++i) ASSERT_TRUE(t.apply(child(i, 1, 0x10000000 + i, 0x20000000 + i), Time{1s}));
    ASSERT_EQ(t.size(), kN);
    // every CHILD_SA rekeyed in place (same inbound SPI, new outbound)
    for (std::uint32_t i = 0; i < kN; ++i) t.apply(child(i, 1, 0x10000000 + i, 0x30000000 + i), Time{2s});
    ASSERT_EQ(t.size(), kN);
    std::uint32_t i = 0;
    for (const auto& e : t.entries()) {
        ASSERT_EQ(e.sa.spi_in, 0x10000000 + i);
        ASSERT_EQ(e.sa.spi_out, 0x30000000 + i);
        ASSERT_EQ(e.installed_at, Time{2s});
        ++i;
    }
    // rekeyed the RFC way: new SA, then the old one deleted (by SPI, then by child_id)
    for (std::uint32_t j = 0; j < kN; ++j) ASSERT_TRUE(t.apply(child(j, 1, 0x40000000 + j, 0x50000000 + j), Time{3s}));
    ASSERT_EQ(t.size(), 2 * kN);
    for (std::uint32_t j = 0; j < kN; ++j)
        ASSERT_TRUE(t.apply(ike::DeleteChildSa{j, 1, 0x10000000 + j, 0x30000000 + j, true}, Time{4s}));
    ASSERT_EQ(t.size(), kN);
    EXPECT_EQ(t.entries().front().sa.spi_in, 0x40000000u);
    for (std::uint32_t j = 0; j < kN; j += 2) t.move_ike_sa(j, j + 1);  // IKE rekeys onto a neighbour's id
    for (std::uint32_t j = 1; j < kN; j += 2)
        ASSERT_TRUE(t.apply(ike::UpdateSaAddresses{j, kMoved, kRemote, true}, Time{5s}));
    for (const auto& e : t.entries()) ASSERT_EQ(e.sa.local, kMoved);
    for (std::uint32_t j = 1; j < kN / 2; j += 2) ASSERT_TRUE(t.apply(ike::DeleteChildSa{j, 1, 0, 0, false}, Time{6s}));
    ASSERT_EQ(t.size(), kN - kN / 4);
    std::size_t removed = 0;
    for (std::uint32_t j = 1; j < kN; j += 2) removed += t.remove_ike_sa(j);
    EXPECT_EQ(removed, kN - kN / 4);
    EXPECT_EQ(t.size(), 0u);
    EXPECT_TRUE(t.entries().empty());
}
