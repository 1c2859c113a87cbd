#include "crypto/prf.hpp"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include "hex.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

using test::h;

struct HmacCase {
    std::uint16_t prf;
    Bytes key;
    std::string data;
    Bytes expected;
};

// RFC 4231 §4.2 (test case 1) and §4.3 (test case 2).
TEST(Prf, Rfc4231Vectors) {
    const Bytes k1(20, 0x0b), k2 = to_bytes(std::string_view("Jefe"));
    const std::string d1 = "Hi There", d2 = "what do ya want for nothing?";
    const HmacCase cases[] = {
        {wire::prf::hmac_sha2_256, k1, d1,
         h("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")},
        {wire::prf::hmac_sha2_384, k1, d1,
         h("afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
           "faea9ea9076ede7f4af152e8b2fa9cb6")},
        {wire::prf::hmac_sha2_512, k1, d1,
         h("87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
           "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854")},
        {wire::prf::hmac_sha2_256, k2, d2,
         h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")},
        {wire::prf::hmac_sha2_384, k2, d2,
         h("af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
           "8e2240ca5e69e2c78b3239ecfab21649")},
        {wire::prf::hmac_sha2_512, k2, d2,
         h("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
           "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")},
    };
    for (const auto& c : cases) {
        auto prf = make_prf(c.prf);
        ASSERT_NE(prf, nullptr);
        EXPECT_EQ(prf->output_size(), c.expected.size());
        EXPECT_EQ(to_hex(prf->compute(c.key, as_view(c.data))), to_hex(c.expected))
            << "prf " << c.prf;
    }
}

TEST(Prf, UnsupportedIds) {
    EXPECT_EQ(make_prf(wire::prf::hmac_sha1), nullptr);
    EXPECT_FALSE(prf_supported(0));
    EXPECT_TRUE(prf_supported(wire::prf::hmac_sha2_512));
}

// prf+ written out independently with OpenSSL's one-shot HMAC.
Bytes reference_prf_plus(const EVP_MD* md, ByteView key, ByteView seed, std::size_t length) {
    Bytes out, t;
    for (int i = 1; out.size() < length; ++i) {
        Bytes in = t;
        append(in, seed);
        in.push_back(static_cast<std::uint8_t>(i));
        t.assign(static_cast<std::size_t>(EVP_MD_get_size(md)), 0);
        unsigned int len = 0;
        HMAC(md, key.data(), static_cast<int>(key.size()), in.data(), in.size(), t.data(), &len);
        append(out, t);
    }
    out.resize(length);
    return out;
}

TEST(Prf, PlusMatchesReference) {
    auto prf = make_prf(wire::prf::hmac_sha2_256);
    const Bytes key = h("000102030405060708090a0b0c0d0e0f"),
                seed = to_bytes(std::string_view("seed material"));
    for (std::size_t len : {1u, 31u, 32u, 33u, 100u, 255u * 32u})
        EXPECT_EQ(prf->plus(key, seed, len), reference_prf_plus(EVP_sha256(), key, seed, len))
            << len;
    EXPECT_TRUE(prf->plus(key, seed, 255 * 32 + 1).empty());  // the counter octet would wrap
    auto prf512 = make_prf(wire::prf::hmac_sha2_512);
    EXPECT_EQ(prf512->plus(key, seed, 200), reference_prf_plus(EVP_sha512(), key, seed, 200));
}

TEST(Kdf, IkeKeysFollowSection214) {
    auto prf = make_prf(wire::prf::hmac_sha2_256);
    const Bytes ni = h("1111111111111111"), nr = h("2222222222222222222222222222222222222222");
    const Bytes gir = h("33333333333333333333333333333333");
    const IkeKeySizes sizes{.integ = 32, .encr = 36};
    IkeKeys k = derive_ike_keys(*prf, ni, nr, gir, 0x0102030405060708, 0x1112131415161718, sizes);

    Bytes nonces = ni;
    append(nonces, nr);
    Bytes skeyseed = prf->compute(nonces, gir);
    Bytes seed = nonces;
    append(seed, h("0102030405060708 1112131415161718"));
    Bytes keymat = reference_prf_plus(EVP_sha256(), skeyseed, seed, 3 * 32 + 2 * 32 + 2 * 36);
    Bytes joined;
    for (const Bytes* b : {&k.sk_d, &k.sk_ai, &k.sk_ar, &k.sk_ei, &k.sk_er, &k.sk_pi, &k.sk_pr})
        append(joined, *b);
    EXPECT_EQ(joined, keymat);
    EXPECT_EQ(k.sk_d.size(), 32u);
    EXPECT_EQ(k.sk_ai.size(), 32u);
    EXPECT_EQ(k.sk_er.size(), 36u);
    EXPECT_EQ(k.sk_pr.size(), 32u);
    k.wipe_all();
    EXPECT_TRUE(k.sk_d.empty() && k.sk_ei.empty() && k.sk_pr.empty());
}

TEST(Kdf, AeadHasNoIntegrityKeys) {
    auto prf = make_prf(wire::prf::hmac_sha2_384);
    IkeKeys k = derive_ike_keys(*prf, h("01"), h("02"), h("03"), 1, 2, {.integ = 0, .encr = 20});
    EXPECT_TRUE(k.sk_ai.empty());
    EXPECT_EQ(k.sk_ei.size(), 20u);
    EXPECT_EQ(k.sk_d.size(), 48u);
}

TEST(Kdf, RekeyUsesOldPrfForSkeyseed) {
    auto old_prf = make_prf(wire::prf::hmac_sha2_512), new_prf = make_prf(wire::prf::hmac_sha2_256);
    const Bytes sk_d_old(64, 0x5a), gir = h("abcdef"), ni = h("0101"), nr = h("0202");
    IkeKeys k = derive_rekeyed_ike_keys(*old_prf, sk_d_old, *new_prf, gir, ni, nr, 7, 8, {16, 16});

    Bytes input = gir;
    append(input, ni);
    append(input, nr);
    Bytes skeyseed = old_prf->compute(sk_d_old, input);
    Bytes seed = ni;
    append(seed, nr);
    append(seed, h("0000000000000007 0000000000000008"));
    Bytes keymat = reference_prf_plus(EVP_sha256(), skeyseed, seed, 3 * 32 + 4 * 16);
    EXPECT_EQ(k.sk_d, Bytes(keymat.begin(), keymat.begin() + 32));
    EXPECT_EQ(k.sk_pr, Bytes(keymat.end() - 32, keymat.end()));
}

TEST(Kdf, ChildKeymatWithAndWithoutPfs) {
    auto prf = make_prf(wire::prf::hmac_sha2_256);
    const Bytes sk_d(32, 0x77), ni = h("aaaa"), nr = h("bbbb"), gir = h("cccc");
    Bytes no_pfs_seed = ni;
    append(no_pfs_seed, nr);
    EXPECT_EQ(derive_child_keymat(*prf, sk_d, {}, ni, nr, 72),
              reference_prf_plus(EVP_sha256(), sk_d, no_pfs_seed, 72));
    Bytes pfs_seed = gir;
    append(pfs_seed, no_pfs_seed);
    EXPECT_EQ(derive_child_keymat(*prf, sk_d, gir, ni, nr, 72),
              reference_prf_plus(EVP_sha256(), sk_d, pfs_seed, 72));
}

}  // namespace
}  // namespace mobiked::crypto
