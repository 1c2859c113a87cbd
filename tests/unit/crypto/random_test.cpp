#include "crypto/random.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

namespace mobiked::crypto {
namespace {

TEST(SeededRandom, SameSeedSameStream) {
    auto a = make_seeded_random(42), b = make_seeded_random(42), c = make_seeded_random(43);
    EXPECT_EQ(a->bytes(100), b->bytes(100));
    EXPECT_NE(a->bytes(32), c->bytes(32));
}

TEST(SeededRandom, ChunkingDoesNotChangeTheStream) {
    auto a = make_seeded_random(7), b = make_seeded_random(7);
    Bytes whole = a->bytes(70);
    Bytes parts = b->bytes(5);
    append(parts, b->bytes(40));
    append(parts, b->bytes(25));
    EXPECT_EQ(whole, parts);
}

TEST(SeededRandom, FirstBlockIsSha256OfSeedAndCounter) {
    std::uint8_t input[16] = {};
    store_be64(input, 1234);
    store_be64(input + 8, 0);
    Bytes expected(32);
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(input, sizeof input, expected.data(), &len, EVP_sha256(), nullptr), 1);
    EXPECT_EQ(make_seeded_random(1234)->bytes(32), expected);
}

TEST(SeededRandom, IntegersAreBigEndianPrefixes) {
    auto a = make_seeded_random(9), b = make_seeded_random(9);
    Bytes raw = a->bytes(12);
    EXPECT_EQ(b->u32(), load_be32(raw.data()));
    EXPECT_EQ(b->u64(), load_be64(raw.data() + 4));
}

TEST(SystemRandom, ProducesDistinctOutput) {
    auto r = make_system_random();
    Bytes a = r->bytes(32), b = r->bytes(32);
    EXPECT_EQ(a.size(), 32u);
    EXPECT_NE(a, b);
    EXPECT_TRUE(r->bytes(0).empty());
}

}  // namespace
}  // namespace mobiked::crypto
