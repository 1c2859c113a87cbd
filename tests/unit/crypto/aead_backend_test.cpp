// AES-GCM through both backends: the same known answers, and each one opening
// what the other sealed. Bytes must be identical, or peers running different
// backends (or one daemon after MOBIKED_AEAD changes) could not talk.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "crypto/aead_internal.hpp"
#include "crypto/cipher.hpp"
#include "hex.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

using test::h;

constexpr AeadBackend kBackends[] = {AeadBackend::openssl, AeadBackend::ipsec_mb};

// Skips only where ipsec-mb cannot run at all (built without it, CPU without
// AES-NI); any other failure to initialise is a test failure.
class BothBackends : public ::testing::Test {
protected:
    void SetUp() override {
        const detail::IpsecMbState st = detail::ipsec_mb_state();
        std::printf("[ ipsec-mb ] %s\n", std::string(detail::ipsec_mb_description()).c_str());
        if (st == detail::IpsecMbState::not_built || st == detail::IpsecMbState::no_aesni)
            GTEST_SKIP() << "ipsec-mb unavailable: " << detail::ipsec_mb_description();
        ASSERT_EQ(st, detail::IpsecMbState::available) << detail::ipsec_mb_description();
    }
};

struct Vector {
    const char* name;
    Bytes key, nonce, aad, plaintext, sealed;  // sealed = ciphertext || tag
};

// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 1-4 and
// 13-16; draft-mcgrew-gcm-test-01 (GCM in ESP, RFC 4106 layout: nonce = salt ||
// IV, AAD = SPI || 64-bit ESN seq, and SPI || 32-bit seq).
std::vector<Vector> vectors() {
    const Bytes k128 = h("feffe9928665731c6d6a8f9467308308");
    const Bytes k256 = h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    const Bytes iv = h("cafebabefacedbaddecaf888");
    const Bytes aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const Bytes p64 =
        h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
    const Bytes p60(p64.begin(), p64.begin() + 60);
    return {
        {"gcm-tc1", Bytes(16, 0), Bytes(12, 0), {}, {}, h("58e2fccefa7e3061367f1d57a4e7455a")},
        {"gcm-tc2",
         Bytes(16, 0),
         Bytes(12, 0),
         {},
         Bytes(16, 0),
         h("0388dace60b6a392f328c2b971b2fe78 ab6e47d42cec13bdf53a67b21257bddf")},
        {"gcm-tc3",
         k128,
         iv,
         {},
         p64,
         h("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
           "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
           "4d5c2af327cd64a62cf35abd2ba6fab4")},
        {"gcm-tc4", k128, iv, aad, p60,
         h("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
           "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
           "5bc94fbc3221a5db94fae95ae7121a47")},
        {"gcm-tc13", Bytes(32, 0), Bytes(12, 0), {}, {}, h("530f8afbc74536b9a963b4f1c4cb738b")},
        {"gcm-tc14",
         Bytes(32, 0),
         Bytes(12, 0),
         {},
         Bytes(16, 0),
         h("cea7403d4d606b6e074ec5d3baf39d18 d0d1c8a799996bf0265b98b5d48ab919")},
        {"gcm-tc15",
         k256,
         iv,
         {},
         p64,
         h("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
           "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
           "b094dac5d93471bdec1a502270e3cc6c")},
        {"gcm-tc16", k256, iv, aad, p60,
         h("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
           "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
           "76fc6ece0f4e1768cddf8853bb2d551b")},
        {"esp-aes128-esn", h("4c80cdefbb5d10da906ac73c3613a634"), h("2e443b68 4956ed7e3b244cfe"),
         h("00004321 8765432100000000"),
         h("45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000"
           "00000000045f736970045f756470037369700963796265726369747902646b00"
           "0021000101020201"),
         h("fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34"
           "cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce"
           "61bc17d768fd9732459018148f6cbe722fd04796562dfdb4")},
        {"esp-aes256", h("abbccddef00112233445566778899aababbccddef00112233445566778899aab"),
         h("11223344 0102030405060708"), h("4a2cbfe3 00000002"),
         h("4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000"
           "7002400020bf0000020405b40101040201020201"),
         h("ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763"
           "748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c49"
           "15956c96")},
    };
}

std::unique_ptr<Aead> gcm(ByteView key, AeadBackend b) {
    return make_aead(wire::encr::aes_gcm_16, key, b);
}

TEST_F(BothBackends, KnownAnswers) {
    for (const Vector& v : vectors()) {
        for (AeadBackend b : kBackends) {
            SCOPED_TRACE(std::string(v.name) + " via " + std::string(to_string(b)));
            auto aead = gcm(v.key, b);
            ASSERT_NE(aead, nullptr);
            Bytes out(v.sealed.size());
            ASSERT_TRUE(aead->seal(v.nonce, v.aad, v.plaintext, out.data()));
            EXPECT_EQ(to_hex(out), to_hex(v.sealed));
            Bytes back(v.plaintext.size() + 1);  // never null, even for empty plaintext
            ASSERT_TRUE(aead->open(v.nonce, v.aad, v.sealed, back.data()));
            back.pop_back();
            EXPECT_EQ(back, v.plaintext);

            Bytes buf = v.plaintext;  // in place, both ways
            buf.resize(v.sealed.size());
            ASSERT_TRUE(
                aead->seal(v.nonce, v.aad, ByteView(buf.data(), v.plaintext.size()), buf.data()));
            EXPECT_EQ(buf, v.sealed);
            ASSERT_TRUE(aead->open(v.nonce, v.aad, buf, buf.data()));
            buf.resize(v.plaintext.size());
            EXPECT_EQ(buf, v.plaintext);

            Bytes bad = v.sealed;
            bad.back() ^= 0x80;
            EXPECT_FALSE(aead->open(v.nonce, v.aad, bad, back.data()));
        }
    }
}

// Random keys, nonces, AAD and every size class up to 2000 bytes: one backend
// seals, both must produce the same bytes, the other opens (in place, too),
// and a flipped tag or ciphertext bit fails on both with the output wiped.
TEST_F(BothBackends, CrossCheckRandom) {
    const unsigned seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    auto random_bytes = [&](std::size_t n) {
        Bytes b(n);
        for (auto& x : b) x = static_cast<std::uint8_t>(rng());
        return b;
    };
    for (int i = 0; i < 600; ++i) {
        const Bytes key = random_bytes(i % 2 == 0 ? 16 : 32);
        const Bytes nonce = random_bytes(12);
        const std::size_t aad_sizes[] = {8, 12, rng() % 64};
        const Bytes aad = random_bytes(aad_sizes[rng() % 3]);
        const std::size_t n = i < 2 ? (i == 0 ? 0 : 2000) : rng() % 2001;
        const Bytes pt = random_bytes(n);
        auto ossl = gcm(key, AeadBackend::openssl);
        auto mb = gcm(key, AeadBackend::ipsec_mb);
        ASSERT_TRUE(ossl && mb);

        Bytes a(n + 16), b(n + 16);
        ASSERT_TRUE(ossl->seal(nonce, aad, pt, a.data()));
        ASSERT_TRUE(mb->seal(nonce, aad, pt, b.data()));
        ASSERT_EQ(to_hex(a), to_hex(b)) << "size " << n << " aad " << aad.size();

        const bool mb_seals = i % 3 == 0;  // then OpenSSL opens, else the reverse
        Aead& opener = mb_seals ? *ossl : *mb;
        Bytes buf = mb_seals ? b : a;
        ASSERT_TRUE(opener.open(nonce, aad, buf, buf.data())) << "size " << n;
        ASSERT_TRUE(std::equal(pt.begin(), pt.end(), buf.begin())) << "size " << n;

        Bytes wiped(n, 0);
        wiped.push_back(0xaa);  // and nothing written past the plaintext
        for (Aead* x : {ossl.get(), mb.get()}) {
            Bytes tampered = a;
            tampered[n + rng() % 16] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
            Bytes sink(n + 1, 0xaa);
            EXPECT_FALSE(x->open(nonce, aad, tampered, sink.data())) << "tag, size " << n;
            EXPECT_EQ(sink, wiped) << "unauthenticated plaintext must be wiped";
            if (n == 0) continue;
            tampered = a;
            tampered[rng() % n] ^= 0x01;
            EXPECT_FALSE(x->open(nonce, aad, tampered, sink.data())) << "ciphertext, size " << n;
        }
    }
}

TEST_F(BothBackends, IpsecMbRejectsWhatOpensslRejects) {
    EXPECT_EQ(gcm(Bytes(24, 1), AeadBackend::ipsec_mb), nullptr);  // see make_ipsec_mb_aead
    EXPECT_EQ(gcm(Bytes(24, 1), AeadBackend::openssl), nullptr);
    EXPECT_EQ(gcm(Bytes(20, 1), AeadBackend::ipsec_mb), nullptr);
    EXPECT_EQ(make_aead(wire::encr::chacha20_poly1305, Bytes(32, 1), AeadBackend::ipsec_mb),
              nullptr);
    EXPECT_EQ(make_aead(wire::encr::aes_cbc, Bytes(16, 1), AeadBackend::ipsec_mb), nullptr);

    auto aead = gcm(Bytes(16, 3), AeadBackend::ipsec_mb);
    ASSERT_NE(aead, nullptr);
    EXPECT_EQ(aead->tag_size(), 16u);
    const Bytes nonce(12, 1), aad = h("0102");
    Bytes tag(16);
    std::uint8_t dummy = 0;
    EXPECT_FALSE(aead->seal(Bytes(8, 0), aad, {}, tag.data()));  // nonce must include the salt
    EXPECT_FALSE(aead->open(nonce, aad, Bytes(15, 0), &dummy));  // shorter than a tag
    ASSERT_TRUE(aead->seal(nonce, {}, {}, tag.data()));          // no AAD, no plaintext: GMAC
    EXPECT_TRUE(aead->open(nonce, {}, tag, &dummy));
}

// The skip above and the OpenSSL fallback rest on this: hiding AES-NI from
// ipsec-mb must read as no_aesni, not as a failure, on every machine.
TEST(AeadChoice, CpuWithoutAesNiIsRecognised) {
    const detail::IpsecMbProbe hidden = detail::probe_ipsec_mb(true);
    std::printf("[ ipsec-mb ] without AES-NI: %s\n", hidden.description.c_str());
    if (hidden.state == detail::IpsecMbState::not_built) GTEST_SKIP() << hidden.description;
    EXPECT_EQ(hidden.state, detail::IpsecMbState::no_aesni);
    EXPECT_NE(hidden.description.find("AES-NI"), std::string::npos);
    EXPECT_EQ(detail::probe_ipsec_mb(false).state, detail::ipsec_mb_state());
}

TEST(AeadChoice, DefaultsToIpsecMbWhenAvailable) {
    const auto s = detail::select_aes_gcm_backend(nullptr, detail::IpsecMbState::available,
                                                  "ipsec-mb 1.3.0, arch avx512");
    EXPECT_EQ(s.aes_gcm, AeadBackend::ipsec_mb);
    EXPECT_EQ(s.reason, "ipsec-mb 1.3.0, arch avx512 (default)");
    const auto none = detail::select_aes_gcm_backend(nullptr, detail::IpsecMbState::no_aesni,
                                                     "CPU without AES-NI (ipsec-mb arch noaesni)");
    EXPECT_EQ(none.aes_gcm, AeadBackend::openssl);
    EXPECT_EQ(none.reason, "ipsec-mb unavailable: CPU without AES-NI (ipsec-mb arch noaesni)");
    EXPECT_EQ(detail::select_aes_gcm_backend(nullptr, detail::IpsecMbState::not_built, "x").aes_gcm,
              AeadBackend::openssl);
    EXPECT_EQ(
        detail::select_aes_gcm_backend(nullptr, detail::IpsecMbState::init_failed, "x").aes_gcm,
        AeadBackend::openssl);
}

TEST(AeadChoice, EnvironmentOverrides) {
    using detail::IpsecMbState;
    const auto forced_ossl =
        detail::select_aes_gcm_backend("openssl", IpsecMbState::available, "mb");
    EXPECT_EQ(forced_ossl.aes_gcm, AeadBackend::openssl);
    EXPECT_EQ(forced_ossl.reason, "MOBIKED_AEAD=openssl");
    const auto forced_mb =
        detail::select_aes_gcm_backend("ipsec-mb", IpsecMbState::available, "mb");
    EXPECT_EQ(forced_mb.aes_gcm, AeadBackend::ipsec_mb);
    EXPECT_EQ(forced_mb.reason, "mb (MOBIKED_AEAD=ipsec-mb)");
    const auto fallback =
        detail::select_aes_gcm_backend("ipsec-mb", IpsecMbState::no_aesni, "CPU without AES-NI");
    EXPECT_EQ(fallback.aes_gcm, AeadBackend::openssl);
    EXPECT_EQ(fallback.reason,
              "MOBIKED_AEAD=ipsec-mb, but ipsec-mb is unavailable: CPU without AES-NI");
    const auto typo = detail::select_aes_gcm_backend("ipsecmb", IpsecMbState::available, "mb");
    EXPECT_EQ(typo.aes_gcm, AeadBackend::ipsec_mb);
    EXPECT_EQ(typo.reason, "mb (default); MOBIKED_AEAD=ipsecmb ignored (openssl or ipsec-mb)");
}

TEST(AeadChoice, ProcessChoice) {
    const AeadSelection& s = aead_selection();
    std::printf("[ aead     ] AES-GCM via %s: %s\n", std::string(to_string(s.aes_gcm)).c_str(),
                s.reason.c_str());
    EXPECT_FALSE(s.reason.empty());
    EXPECT_EQ(aead_backend(wire::encr::aes_gcm_16), s.aes_gcm);
    EXPECT_EQ(aead_backend(wire::encr::chacha20_poly1305), AeadBackend::openssl);
    EXPECT_EQ(to_string(AeadBackend::ipsec_mb), "ipsec-mb");
    EXPECT_EQ(to_string(AeadBackend::openssl), "openssl");
    if (s.aes_gcm == AeadBackend::ipsec_mb) {
        EXPECT_EQ(detail::ipsec_mb_state(), detail::IpsecMbState::available);
    }
    EXPECT_NE(make_aead(wire::encr::aes_gcm_16, Bytes(16, 1)), nullptr);
}

}  // namespace
}  // namespace mobiked::crypto
