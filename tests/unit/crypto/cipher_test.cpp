#include "crypto/cipher.hpp"

#include <gtest/gtest.h>

#include "hex.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

using test::h;

TEST(EncrInfo, Sizes) {
    auto cbc = encr_info(wire::encr::aes_cbc, 192);
    ASSERT_TRUE(cbc);
    EXPECT_FALSE(cbc->aead);
    EXPECT_EQ(cbc->key_size, 24u);
    EXPECT_EQ(cbc->iv_size, 16u);
    EXPECT_EQ(cbc->block_size, 16u);
    EXPECT_EQ(cbc->icv_size, 0u);
    auto gcm = encr_info(wire::encr::aes_gcm_16, 256);
    ASSERT_TRUE(gcm);
    EXPECT_TRUE(gcm->aead);
    EXPECT_EQ(gcm->key_size, 32u);
    EXPECT_EQ(gcm->salt_size, 4u);
    EXPECT_EQ(gcm->iv_size, 8u);
    EXPECT_EQ(gcm->icv_size, 16u);
    auto cc = encr_info(wire::encr::chacha20_poly1305, 0);
    ASSERT_TRUE(cc);
    EXPECT_EQ(cc->key_size, 32u);
    EXPECT_EQ(cc->salt_size, 4u);
    EXPECT_TRUE(encr_info(wire::encr::chacha20_poly1305, 256));
    EXPECT_FALSE(encr_info(wire::encr::chacha20_poly1305, 128));
    EXPECT_FALSE(encr_info(wire::encr::aes_cbc, 0));
    EXPECT_FALSE(encr_info(wire::encr::aes_gcm_16, 192));
    EXPECT_FALSE(encr_info(wire::encr::aes_ctr, 128));
}

TEST(IntegInfo, Sizes) {
    EXPECT_EQ(integ_info(wire::integ::hmac_sha2_256_128)->icv_size, 16u);
    EXPECT_EQ(integ_info(wire::integ::hmac_sha2_384_192)->key_size, 48u);
    EXPECT_EQ(integ_info(wire::integ::hmac_sha2_512_256)->icv_size, 32u);
    EXPECT_FALSE(integ_info(wire::integ::hmac_sha1_96));
}

struct AeadVector {
    std::uint16_t id;
    Bytes key, nonce, aad, plaintext, ciphertext, tag;
};

void check_vector(const AeadVector& v) {
    auto aead = make_aead(v.id, v.key);
    ASSERT_NE(aead, nullptr);
    Bytes out(v.plaintext.size() + aead->tag_size());
    ASSERT_TRUE(aead->seal(v.nonce, v.aad, v.plaintext, out.data()));
    Bytes expected = v.ciphertext;
    append(expected, v.tag);
    EXPECT_EQ(to_hex(out), to_hex(expected));

    Bytes back(v.plaintext.size());
    ASSERT_TRUE(aead->open(v.nonce, v.aad, out, back.data()));
    EXPECT_EQ(back, v.plaintext);

    // In place, both ways, and the context still works for a second packet.
    Bytes buf = v.plaintext;
    buf.resize(buf.size() + aead->tag_size());
    ASSERT_TRUE(aead->seal(v.nonce, v.aad, ByteView(buf.data(), v.plaintext.size()), buf.data()));
    EXPECT_EQ(buf, expected);
    ASSERT_TRUE(aead->open(v.nonce, v.aad, buf, buf.data()));
    EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(v.plaintext.size())),
              v.plaintext);

    for (std::size_t pos : {std::size_t{0}, out.size() - 1}) {  // ciphertext and tag bytes
        Bytes bad = out;
        bad[pos] ^= 0x01;
        Bytes sink(v.plaintext.size(), 0xaa);
        EXPECT_FALSE(aead->open(v.nonce, v.aad, bad, sink.data()));
        EXPECT_EQ(sink, Bytes(sink.size(), 0)) << "unauthenticated plaintext must be wiped";
    }
    Bytes bad_aad = v.aad;
    bad_aad.push_back(0);
    EXPECT_FALSE(aead->open(v.nonce, bad_aad, out, back.data()));
}

// RFC 8439 §2.8.2. In IKE/ESP terms (RFC 7634) the 12-byte nonce is salt (07000000) || IV.
TEST(Aead, ChaCha20Poly1305Rfc8439) {
    const std::string pt =
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
        "future, sunscreen "
        "would be it.";
    check_vector({wire::encr::chacha20_poly1305,
                  h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
                  h("07000000 4041424344454647"), h("50515253c0c1c2c3c4c5c6c7"),
                  to_bytes(std::string_view(pt)),
                  h("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
                    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
                    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                    "3ff4def08e4b7a9de576d26586cec64b6116"),
                  h("1ae10b594f09e26a7e902ecbd0600691")});
}

// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4 (AES-128, with AAD).
TEST(Aead, AesGcmTestCase4) {
    check_vector({wire::encr::aes_gcm_16, h("feffe9928665731c6d6a8f9467308308"),
                  h("cafebabefacedbaddecaf888"), h("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
                  h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"),
                  h("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"),
                  h("5bc94fbc3221a5db94fae95ae7121a47")});
}

TEST(Aead, EmptyPlaintextAndBadInputs) {
    auto aead = make_aead(wire::encr::aes_gcm_16, Bytes(32, 3));
    ASSERT_NE(aead, nullptr);
    const Bytes nonce(12, 1), aad = h("0102");
    Bytes tag(16);
    ASSERT_TRUE(aead->seal(nonce, aad, {}, tag.data()));
    std::uint8_t dummy = 0;
    EXPECT_TRUE(aead->open(nonce, aad, tag, &dummy));
    EXPECT_FALSE(aead->seal(Bytes(8, 0), aad, {}, tag.data()));  // nonce must include the salt
    EXPECT_FALSE(aead->open(nonce, aad, Bytes(15, 0), &dummy));  // shorter than a tag
    EXPECT_EQ(make_aead(wire::encr::aes_gcm_16, Bytes(20, 0)), nullptr);
    EXPECT_EQ(make_aead(wire::encr::chacha20_poly1305, Bytes(16, 0)), nullptr);
    EXPECT_EQ(make_aead(wire::encr::aes_cbc, Bytes(16, 0)), nullptr);
}

// RFC 3602 §4, cases 1 and 2 (AES-128-CBC).
TEST(BlockCipher, AesCbcRfc3602) {
    struct Case {
        Bytes key, iv, pt, ct;
    };
    const Case cases[] = {
        {h("06a9214036b8a15b512e03d534120006"), h("3dafba429d9eb430b422da802c9fac41"),
         to_bytes(std::string_view("Single block msg")), h("e353779c1079aeb82708942dbe77181a")},
        {h("c286696d887c9aa0611bbb3e2025a45a"), h("562e17996d093d28ddb3ba695a2e6f58"),
         h("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
         h("d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1")},
    };
    for (const auto& c : cases) {
        auto bc = make_block_cipher(wire::encr::aes_cbc, c.key);
        ASSERT_NE(bc, nullptr);
        EXPECT_EQ(bc->block_size(), 16u);
        Bytes out(c.pt.size());
        ASSERT_TRUE(bc->encrypt(c.iv, c.pt, out.data()));
        EXPECT_EQ(to_hex(out), to_hex(c.ct));
        ASSERT_TRUE(bc->decrypt(c.iv, out, out.data()));  // in place
        EXPECT_EQ(out, c.pt);
        ASSERT_TRUE(bc->encrypt(c.iv, c.pt, out.data()));  // IV reset per call
        EXPECT_EQ(out, c.ct);
    }
}

TEST(BlockCipher, RejectsPartialBlocksAndBadKeys) {
    auto bc = make_block_cipher(wire::encr::aes_cbc, Bytes(32, 1));
    ASSERT_NE(bc, nullptr);
    Bytes out(32);
    EXPECT_FALSE(bc->encrypt(Bytes(16, 0), Bytes(17, 0), out.data()));
    EXPECT_FALSE(bc->decrypt(Bytes(12, 0), Bytes(16, 0), out.data()));
    EXPECT_NE(make_block_cipher(wire::encr::aes_cbc, Bytes(24, 1)), nullptr);
    EXPECT_EQ(make_block_cipher(wire::encr::aes_cbc, Bytes(15, 1)), nullptr);
    EXPECT_EQ(make_block_cipher(wire::encr::aes_gcm_16, Bytes(16, 1)), nullptr);
}

// RFC 4868 §2.7.2.1 uses the RFC 4231 keys; the ICV is the truncated HMAC.
TEST(Mac, TruncatedIcv) {
    struct Case {
        std::uint16_t id;
        std::size_t key_size;
        std::string full;  // HMAC of "Hi There" under 0x0b * key_size (RFC 4868 §2.7.2.1 / §2.7.2.2
                           // / §2.7.2.3)
    };
    auto mac = make_mac(wire::integ::hmac_sha2_256_128, Bytes(32, 0x0b));
    ASSERT_NE(mac, nullptr);
    EXPECT_EQ(mac->icv_size(), 16u);
    const Bytes data = to_bytes(std::string_view("Hi There"));
    Bytes icv(16);
    mac->compute(data, icv.data());
    EXPECT_EQ(to_hex(icv), "198a607eb44bfbc69903a0f1cf2bbdc5");
    EXPECT_TRUE(mac->verify(data, icv));
    mac->compute(data, icv.data());  // keyed state reused across packets
    EXPECT_EQ(to_hex(icv), "198a607eb44bfbc69903a0f1cf2bbdc5");

    for (std::uint16_t id : {wire::integ::hmac_sha2_384_192, wire::integ::hmac_sha2_512_256}) {
        auto info = integ_info(id);
        auto m = make_mac(id, Bytes(info->key_size, 0x0b));
        ASSERT_NE(m, nullptr);
        Bytes out(m->icv_size());
        m->compute(data, out.data());
        EXPECT_EQ(out.size(), info->icv_size);
        EXPECT_TRUE(m->verify(data, out));
    }
}

TEST(Mac, TamperedRejected) {
    auto mac = make_mac(wire::integ::hmac_sha2_512_256, Bytes(64, 9));
    const Bytes data = h("00112233445566778899");
    Bytes icv(32);
    mac->compute(data, icv.data());
    Bytes bad = icv;
    bad[31] ^= 0x80;
    EXPECT_FALSE(mac->verify(data, bad));
    Bytes bad_data = data;
    bad_data[0] ^= 1;
    EXPECT_FALSE(mac->verify(bad_data, icv));
    EXPECT_FALSE(mac->verify(data, ByteView(icv.data(), 16)));  // wrong truncation
    EXPECT_TRUE(mac->verify(data, icv));
    EXPECT_EQ(make_mac(wire::integ::hmac_sha2_256_128, Bytes(16, 0)), nullptr);
    EXPECT_EQ(make_mac(wire::integ::hmac_sha1_96, Bytes(20, 0)), nullptr);
}

TEST(Digest, Sha1AndSha256) {
    EXPECT_EQ(to_hex(sha1(as_view("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(to_hex(sha256(as_view("abc"))),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace mobiked::crypto
