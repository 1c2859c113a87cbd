#include "crypto/key_exchange.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>

#include "hex.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

using test::h;

// RFC 7748 §6.1.
TEST(X25519, Rfc7748Section61) {
    auto alice = make_key_exchange_for_test(
        wire::ke::curve25519,
        h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    auto bob = make_key_exchange_for_test(
        wire::ke::curve25519,
        h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
    ASSERT_NE(alice, nullptr);
    ASSERT_NE(bob, nullptr);
    EXPECT_EQ(to_hex(alice->public_value()),
              "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    EXPECT_EQ(to_hex(bob->public_value()),
              "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const std::string k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    auto s1 = alice->shared_secret(bob->public_value());
    auto s2 = bob->shared_secret(alice->public_value());
    ASSERT_TRUE(s1.ok()) << s1.error();
    ASSERT_TRUE(s2.ok()) << s2.error();
    EXPECT_EQ(to_hex(*s1), k);
    EXPECT_EQ(to_hex(*s2), k);
}

// RFC 7748 §5.2, first X25519 vector: scalar × arbitrary u-coordinate.
TEST(X25519, Rfc7748Section52) {
    auto kx = make_key_exchange_for_test(
        wire::ke::curve25519,
        h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"));
    ASSERT_NE(kx, nullptr);
    auto s =
        kx->shared_secret(h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"));
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_EQ(to_hex(*s), "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
}

TEST(X25519, RejectsLowOrderPointsAndBadLength) {
    auto kx = make_key_exchange(wire::ke::curve25519);
    ASSERT_NE(kx, nullptr);
    EXPECT_FALSE(kx->shared_secret(Bytes(32, 0)).ok());  // u = 0: all-zero secret
    Bytes one(32, 0);
    one[0] = 1;
    EXPECT_FALSE(kx->shared_secret(one).ok());  // u = 1 has order 4
    EXPECT_FALSE(kx->shared_secret(Bytes(31, 9)).ok());
    EXPECT_FALSE(kx->shared_secret(Bytes(33, 9)).ok());
}

// RFC 5903 §8.1 (256-bit random ECP group).
TEST(Ecp, Rfc5903Section81) {
    auto i = make_key_exchange_for_test(
        wire::ke::ecp256, h("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"));
    auto r = make_key_exchange_for_test(
        wire::ke::ecp256, h("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53"));
    ASSERT_NE(i, nullptr);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(i->public_value(),
              h("DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
                "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"));
    EXPECT_EQ(r->public_value(),
              h("D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
                "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"));
    const Bytes girx = h("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");
    auto s1 = i->shared_secret(r->public_value());
    auto s2 = r->shared_secret(i->public_value());
    ASSERT_TRUE(s1.ok()) << s1.error();
    ASSERT_TRUE(s2.ok()) << s2.error();
    EXPECT_EQ(*s1, girx);
    EXPECT_EQ(*s2, girx);
}

class AllGroups : public ::testing::TestWithParam<std::uint16_t> {};

TEST_P(AllGroups, TwoPartiesAgree) {
    const std::uint16_t g = GetParam();
    auto a = make_key_exchange(g), b = make_key_exchange(g);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->group(), g);
    EXPECT_EQ(a->public_value().size(), key_exchange_public_size(g));
    EXPECT_NE(a->public_value(), b->public_value());
    auto s1 = a->shared_secret(b->public_value());
    auto s2 = b->shared_secret(a->public_value());
    ASSERT_TRUE(s1.ok()) << s1.error();
    ASSERT_TRUE(s2.ok()) << s2.error();
    EXPECT_EQ(*s1, *s2);
    // MODP: padded to the prime; ECP: x only; X25519: 32 bytes.
    std::size_t want = g == wire::ke::curve25519 ? 32
                       : (g == wire::ke::modp2048 || g == wire::ke::modp3072)
                           ? key_exchange_public_size(g)
                           : key_exchange_public_size(g) / 2;
    EXPECT_EQ(s1->size(), want);
}

TEST_P(AllGroups, RejectsWrongLength) {
    const std::uint16_t g = GetParam();
    auto a = make_key_exchange(g), b = make_key_exchange(g);
    Bytes v = b->public_value();
    v.push_back(0);
    auto r = a->shared_secret(v);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("bytes"), std::string::npos);
    v.resize(v.size() - 2);
    EXPECT_FALSE(a->shared_secret(v).ok());
    EXPECT_FALSE(a->shared_secret({}).ok());
}

INSTANTIATE_TEST_SUITE_P(Groups, AllGroups,
                         ::testing::Values(wire::ke::modp2048, wire::ke::modp3072, wire::ke::ecp256,
                                           wire::ke::ecp384, wire::ke::ecp521,
                                           wire::ke::curve25519));

Bytes big_endian(std::size_t size, std::uint8_t last) {
    Bytes b(size, 0);
    b.back() = last;
    return b;
}

TEST(Modp, RejectsOutOfRangeValues) {
    for (std::uint16_t g : {wire::ke::modp2048, wire::ke::modp3072}) {
        auto kx = make_key_exchange(g);
        const std::size_t n = key_exchange_public_size(g);
        EXPECT_FALSE(kx->shared_secret(big_endian(n, 0)).ok());
        EXPECT_FALSE(kx->shared_secret(big_endian(n, 1)).ok());
        EXPECT_FALSE(kx->shared_secret(Bytes(n, 0xff)).ok());   // > p
        EXPECT_TRUE(kx->shared_secret(big_endian(n, 2)).ok());  // the generator itself is fine
    }
}

TEST(Modp, RejectsPMinusOne) {
    // The RFC 3526 prime, from OpenSSL's table rather than our own group setup.
    BIGNUM* bn = BN_get_rfc3526_prime_2048(nullptr);
    ASSERT_NE(bn, nullptr);
    Bytes p(256);
    BN_bn2binpad(bn, p.data(), 256);
    BN_free(bn);
    ASSERT_EQ(p.size(), 256u);
    Bytes p_minus_1 = p;
    p_minus_1.back() -= 1;
    Bytes p_minus_2 = p;
    p_minus_2.back() -= 2;
    auto kx = make_key_exchange(wire::ke::modp2048);
    EXPECT_FALSE(kx->shared_secret(p_minus_1).ok());
    EXPECT_FALSE(kx->shared_secret(p).ok());
    EXPECT_TRUE(kx->shared_secret(p_minus_2).ok());
}

TEST(Ecp, RejectsOffCurveAndInfinity) {
    for (std::uint16_t g : {wire::ke::ecp256, wire::ke::ecp384, wire::ke::ecp521}) {
        auto a = make_key_exchange(g), b = make_key_exchange(g);
        Bytes v = b->public_value();
        v.back() ^= 1;  // y changed: off the curve
        EXPECT_FALSE(a->shared_secret(v).ok()) << g;
        EXPECT_FALSE(a->shared_secret(Bytes(v.size(), 0)).ok())
            << g;  // (0,0) stands for infinity in x||y
    }
}

TEST(KeyExchange, UnsupportedGroups) {
    EXPECT_EQ(make_key_exchange(wire::ke::curve448), nullptr);
    EXPECT_EQ(make_key_exchange(1), nullptr);
    EXPECT_FALSE(key_exchange_supported(wire::ke::none));
    EXPECT_EQ(key_exchange_public_size(99), 0u);
    EXPECT_EQ(make_key_exchange_for_test(wire::ke::modp2048, Bytes(32, 1)), nullptr);
    EXPECT_EQ(make_key_exchange_for_test(wire::ke::curve25519, Bytes(31, 1)), nullptr);
}

}  // namespace
}  // namespace mobiked::crypto
