// Anti-replay window edges (RFC 4303 §3.4.3, Appendix A): window slide,
// duplicates, too old, ESN high-half reconstruction across the 2^32 wrap.
#include <gtest/gtest.h>

#include "ipsec/replay_window.hpp"

namespace mobiked::ipsec {
namespace {

using V = ReplayWindow::Verdict;

TEST(ReplayWindow, SizeIsAtLeastRequestedAndDefaultIs1024) {
    EXPECT_EQ(ReplayWindow().size(), 1024u);
    EXPECT_EQ(ReplayWindow(4096).size(), 4096u);
    EXPECT_EQ(ReplayWindow(1000).size(), 1024u);  // rounded up to whole 64-bit blocks
    EXPECT_EQ(ReplayWindow(1).size(), 64u);
}

TEST(ReplayWindow, ZeroIsNeverAccepted) {
    ReplayWindow w;
    EXPECT_EQ(w.check(0), V::zero);
    EXPECT_FALSE(w.update(0));
}

TEST(ReplayWindow, DuplicatesRejectedAndOutOfOrderAccepted) {
    ReplayWindow w(1024);
    EXPECT_TRUE(w.update(5));
    EXPECT_EQ(w.check(5), V::duplicate);
    EXPECT_FALSE(w.update(5));
    EXPECT_EQ(w.check(3), V::ok);  // late but inside the window
    EXPECT_TRUE(w.update(3));
    EXPECT_EQ(w.check(3), V::duplicate);
    EXPECT_EQ(w.check(4), V::ok);
    EXPECT_EQ(w.top(), 5u);
}

TEST(ReplayWindow, WindowEdgeExactly) {
    ReplayWindow w(1024);
    ASSERT_TRUE(w.update(2000));
    // top - seq < size is inside: 2000 - 977 = 1023.
    EXPECT_EQ(w.check(977), V::ok);
    EXPECT_EQ(w.check(976), V::too_old);  // 2000 - 976 = 1024
    EXPECT_TRUE(w.update(977));
    EXPECT_EQ(w.check(977), V::duplicate);
}

TEST(ReplayWindow, SlideClearsStaleBitsOfReusedBlocks) {
    ReplayWindow w(1024);
    for (std::uint64_t s = 1; s <= 1024; ++s) ASSERT_TRUE(w.update(s));
    // Jump far ahead: every old bit must be forgotten, not reported duplicate
    // at the aliased ring position.
    ASSERT_TRUE(w.update(1024 + 5000));
    for (std::uint64_t s = 5000 + 1; s < 5000 + 1024; ++s) ASSERT_EQ(w.check(s), V::ok) << s;
    EXPECT_EQ(w.check(1024), V::too_old);
    // Slide by less than the window: bits still inside stay set.
    ReplayWindow x(1024);
    ASSERT_TRUE(x.update(100));
    ASSERT_TRUE(x.update(700));
    EXPECT_EQ(x.check(100), V::duplicate);
    ASSERT_TRUE(x.update(1123));  // 100 is now exactly 1023 below the top
    EXPECT_EQ(x.check(100), V::duplicate);
    ASSERT_TRUE(x.update(1124));
    EXPECT_EQ(x.check(100), V::too_old);
    EXPECT_EQ(x.check(700), V::duplicate);
    EXPECT_EQ(x.check(701), V::ok);
}

TEST(ReplayWindow, LargeWindowTracksEveryPacket) {
    ReplayWindow w(8192);
    for (std::uint64_t s = 8192; s >= 1; --s) ASSERT_TRUE(w.update(s)) << s;
    for (std::uint64_t s = 1; s <= 8192; ++s) ASSERT_EQ(w.check(s), V::duplicate) << s;
}

TEST(ReplayWindow, CheckDoesNotChangeState) {
    ReplayWindow w;
    EXPECT_EQ(w.check(10), V::ok);
    EXPECT_EQ(w.top(), 0u);
    EXPECT_EQ(w.check(10), V::ok);
}

TEST(ReplayWindow, WithoutEsnHighHalfIsZero) {
    ReplayWindow w(1024, false);
    ASSERT_TRUE(w.update(0xfffffff0u));
    EXPECT_EQ(w.reconstruct(5), 5u);
    EXPECT_EQ(w.check(w.reconstruct(5)), V::too_old);
}

TEST(ReplayWindow, EsnCaseAWindowInsideOneSubspace) {
    ReplayWindow w(1024, true);
    const std::uint64_t top = (std::uint64_t{7} << 32) | 5000;
    ASSERT_TRUE(w.update(top));
    EXPECT_EQ(w.reconstruct(5000 - 100), (std::uint64_t{7} << 32) | 4900);  // inside: same Th
    EXPECT_EQ(w.reconstruct(6000), (std::uint64_t{7} << 32) | 6000);        // ahead: same Th
    // Below the window bottom: interpreted as the next subspace (Th + 1).
    EXPECT_EQ(w.reconstruct(100), (std::uint64_t{8} << 32) | 100);
}

TEST(ReplayWindow, EsnCaseBWindowSpansTheWrap) {
    ReplayWindow w(1024, true);
    const std::uint64_t top = (std::uint64_t{3} << 32) | 10;  // window reaches into subspace 2
    ASSERT_TRUE(w.update(top));
    EXPECT_EQ(w.reconstruct(0xfffffff0u), (std::uint64_t{2} << 32) | 0xfffffff0u);
    EXPECT_EQ(w.reconstruct(5), (std::uint64_t{3} << 32) | 5);
    EXPECT_EQ(w.reconstruct(20), (std::uint64_t{3} << 32) | 20);
}

TEST(ReplayWindow, EsnWrapAcrossTwoToThe32) {
    ReplayWindow w(1024, true);
    ASSERT_TRUE(w.update(0xfffffffeULL));
    // Next packets wrap the low half to 0, 1, ...: the high half becomes 1.
    const std::uint64_t a = w.reconstruct(0xffffffffu);
    EXPECT_EQ(a, 0xffffffffULL);
    ASSERT_TRUE(w.update(a));
    const std::uint64_t b = w.reconstruct(0);
    EXPECT_EQ(b, 0x100000000ULL);
    EXPECT_EQ(w.check(b), V::ok);  // low half 0 is a valid number once Th >= 1
    ASSERT_TRUE(w.update(b));
    const std::uint64_t c = w.reconstruct(1);
    EXPECT_EQ(c, 0x100000001ULL);
    ASSERT_TRUE(w.update(c));
    // A late packet from before the wrap is still placed in subspace 0.
    EXPECT_EQ(w.reconstruct(0xfffffff0u), 0xfffffff0ULL);
    EXPECT_EQ(w.check(0xfffffff0ULL), V::ok);
    EXPECT_EQ(w.check(0xfffffffeULL), V::duplicate);
    EXPECT_EQ(w.check(w.reconstruct(0)), V::duplicate);
}

TEST(ReplayWindow, EsnEarlyPacketsBeforeAnySubspaceWrap) {
    ReplayWindow w(1024, true);
    ASSERT_TRUE(w.update(3));
    EXPECT_EQ(w.reconstruct(1), 1u);
    EXPECT_EQ(w.reconstruct(0xffffff00u), 0xffffff00u);  // no subspace -1: take it as ahead
}

}  // namespace
}  // namespace mobiked::ipsec
