// Rough timings printed to the test log (never asserted: the machine is shared
// and the build may be sanitized). They back the design choices in crypto/.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>

#include "crypto/cipher.hpp"
#include "crypto/key_exchange.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

template <typename F>
double micros_per_op(int n, F&& f) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) f();
    std::chrono::duration<double, std::micro> d = std::chrono::steady_clock::now() - start;
    return d.count() / n;
}

void report(const char* what, double us) {
    std::printf("[ timing   ] %-52s %10.1f us/op\n", what, us);
    ::testing::Test::RecordProperty(what, std::to_string(us));
}

TEST(Timing, KeyExchange) {
    for (std::uint16_t g : {wire::ke::modp2048, wire::ke::ecp256, wire::ke::curve25519}) {
        auto peer = make_key_exchange(g);
        double us = micros_per_op(g == wire::ke::modp2048 ? 10 : 50, [&] {
            auto kx = make_key_exchange(g);
            ASSERT_TRUE(kx->shared_secret(peer->public_value()).ok());
        });
        report((std::string("keygen + derive, group ") + std::to_string(g)).c_str(), us);
    }
    // OpenSSL's default exponent length for the named group, for comparison
    // with our 256-bit OSSL_PKEY_PARAM_DH_PRIV_LEN.
    double us = micros_per_op(10, [] {
        EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr);
        char group[] = "modp_2048";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
            OSSL_PARAM_construct_end()};
        EVP_PKEY* key = nullptr;
        ASSERT_EQ(EVP_PKEY_keygen_init(ctx), 1);
        ASSERT_EQ(EVP_PKEY_CTX_set_params(ctx, params), 1);
        ASSERT_EQ(EVP_PKEY_generate(ctx, &key), 1);
        EVP_PKEY_free(key);
        EVP_PKEY_CTX_free(ctx);
    });
    report("modp2048 keygen, OpenSSL default (no cache, default len)", us);
    report("modp2048 keygen, make_key_exchange",
           micros_per_op(10, [] { make_key_exchange(wire::ke::modp2048); }));
}

// Why Mac re-initialises its keyed context instead of duplicating a template.
TEST(Timing, HmacReinitVersusDup) {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* tmpl = EVP_MAC_CTX_new(mac);
    char digest[] = "SHA2-256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    const Bytes key(32, 7), packet(1420, 1);
    ASSERT_EQ(EVP_MAC_init(tmpl, key.data(), key.size(), params), 1);
    std::uint8_t out[64];
    std::size_t len = 0;
    const int n = 5000;
    double dup = micros_per_op(n, [&] {
        EVP_MAC_CTX* c = EVP_MAC_CTX_dup(tmpl);
        EVP_MAC_update(c, packet.data(), packet.size());
        EVP_MAC_final(c, out, &len, sizeof out);
        EVP_MAC_CTX_free(c);
    });
    double reinit = micros_per_op(n, [&] {
        EVP_MAC_init(tmpl, nullptr, 0, nullptr);
        EVP_MAC_update(tmpl, packet.data(), packet.size());
        EVP_MAC_final(tmpl, out, &len, sizeof out);
    });
    EVP_MAC_CTX_free(tmpl);
    EVP_MAC_free(mac);
    report("HMAC-SHA256 1420 B, EVP_MAC_CTX_dup per packet", dup);
    report("HMAC-SHA256 1420 B, EVP_MAC_init(NULL key) per packet", reinit);
    auto m = make_mac(wire::integ::hmac_sha2_256_128, key);
    report("Mac::compute 1420 B (HMAC-SHA2-256-128)",
           micros_per_op(n, [&] { m->compute(packet, out); }));
}

TEST(Timing, AeadSeal) {
    auto gcm = make_aead(wire::encr::aes_gcm_16, Bytes(16, 1));
    auto chacha = make_aead(wire::encr::chacha20_poly1305, Bytes(32, 1));
    const Bytes nonce(12, 2), aad(8, 3);
    for (std::size_t size : {64u, 512u, 1420u}) {
        Bytes buf(size + 16);
        ByteView pt(buf.data(), size);
        report(("AES-128-GCM seal " + std::to_string(size) + " B").c_str(),
               micros_per_op(5000, [&] { gcm->seal(nonce, aad, pt, buf.data()); }));
        report(("ChaCha20-Poly1305 seal " + std::to_string(size) + " B").c_str(),
               micros_per_op(5000, [&] { chacha->seal(nonce, aad, pt, buf.data()); }));
    }
}

}  // namespace
}  // namespace mobiked::crypto
