// FlatMap against std::unordered_map under random inserts, replacements and
// erasures, with hashes chosen to stress what the control bytes and the
// backward-shift deletion must get right: long probe runs that wrap around
// the end of the table, many keys sharing the same seven tag bits, growth.
#include "ipsec/flat_map.hpp"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace mobiked::ipsec {
namespace {

struct GoodHash {
    std::size_t operator()(std::uint64_t k) const { return static_cast<std::size_t>(mix64(k)); }
};
// Every key homes to slot 13 (runs wrap past the end); tags still differ.
struct OneHomeHash {
    std::size_t operator()(std::uint64_t k) const {
        return static_cast<std::size_t>(mix64(k) & ~0xffULL) | 13;
    }
};
// Every key has the same tag: each probe compares keys at every full slot.
struct OneTagHash {
    std::size_t operator()(std::uint64_t k) const {
        return static_cast<std::size_t>(mix64(k) >> 7);
    }
};

template <typename Hash>
void agrees_with_unordered_map(std::uint32_t key_space, int ops) {
    std::mt19937 rng(7);
    FlatMap<std::uint64_t, std::uint64_t, Hash> map;
    std::unordered_map<std::uint64_t, std::uint64_t> ref;
    for (int i = 0; i < ops; ++i) {
        const std::uint64_t k = rng() % key_space;
        switch (rng() % 3) {
            case 0:
                map.insert(k, i);
                ref[k] = i;
                break;
            case 1:
                ASSERT_EQ(map.erase(k), ref.erase(k) == 1) << "op " << i;
                break;
            default: {
                const std::uint64_t* v = map.find(k);
                auto it = ref.find(k);
                ASSERT_EQ(v != nullptr, it != ref.end()) << "op " << i;
                if (v != nullptr) {
                    ASSERT_EQ(*v, it->second);
                }
            }
        }
        ASSERT_EQ(map.size(), ref.size());
    }
    for (const auto& [k, v] : ref) ASSERT_EQ(*map.find(k), v);
    std::size_t seen = 0;
    map.for_each([&](std::uint64_t k, std::uint64_t v) {
        ++seen;
        ASSERT_EQ(ref.at(k), v);
    });
    EXPECT_EQ(seen, ref.size());
    const std::size_t odd = map.erase_if([](std::uint64_t k, std::uint64_t) { return k % 2 == 1; });
    std::size_t ref_odd = 0;
    for (const auto& [k, v] : ref) ref_odd += k % 2;
    EXPECT_EQ(odd, ref_odd);
    EXPECT_EQ(map.size(), ref.size() - ref_odd);
    map.clear();
    EXPECT_TRUE(map.empty());
    EXPECT_EQ(map.find(0), nullptr);
}

TEST(FlatMap, AgreesWithUnorderedMap) { agrees_with_unordered_map<GoodHash>(5000, 200000); }
TEST(FlatMap, AgreesWithOneHomeForAllKeys) { agrees_with_unordered_map<OneHomeHash>(300, 20000); }
TEST(FlatMap, AgreesWithOneTagForAllKeys) { agrees_with_unordered_map<OneTagHash>(2000, 50000); }

TEST(FlatMap, MoveOnlyValuesSurviveGrowthAndShifts) {
    FlatMap<std::uint64_t, std::unique_ptr<int>, OneHomeHash> map;
    for (int i = 0; i < 100; ++i) map.insert(i, std::make_unique<int>(i));
    for (int i = 0; i < 100; i += 3) ASSERT_TRUE(map.erase(i));
    for (int i = 0; i < 100; ++i) {
        auto* v = map.find(i);
        ASSERT_EQ(v != nullptr, i % 3 != 0);
        if (v != nullptr) {
            EXPECT_EQ(**v, i);
        }
    }
}

}  // namespace
}  // namespace mobiked::ipsec
