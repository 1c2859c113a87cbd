#include "crypto/pki.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>

#include "crypto/cipher.hpp"
#include "hex.hpp"
#include "support/pki_fixture.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

using test::h;
using test::test_pki;
namespace am = wire::auth_method;
namespace ha = wire::hash_alg;

PrivateKey key(const std::string& pem) {
    auto k = PrivateKey::from_pem(as_view(pem));
    if (!k) throw std::runtime_error(k.error());
    return *k;
}

Certificate cert(const std::string& pem) {
    auto c = Certificate::from_pem(as_view(pem));
    if (!c || c->size() != 1) throw std::runtime_error("test certificate");
    return c->front();
}

PrivateKey generated(const char* type, const char* curve) {
    EVP_PKEY* k = curve ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve)
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    EVP_PKEY_free(k);
    return key(pem);
}

Bytes octets(std::string_view s) { return to_bytes(s); }

// ---- keys ----------------------------------------------------------------

TEST(PrivateKey, LoadsEachTypeAndFormat) {
    const auto& pki = test_pki();
    EXPECT_EQ(key(pki.leaf_rsa.key_pem).type(), KeyType::rsa);
    EXPECT_EQ(key(pki.leaf_rsa_traditional_key_pem).type(), KeyType::rsa);
    EXPECT_EQ(key(pki.leaf_ecdsa.key_pem).type(), KeyType::ecdsa_p256);
    EXPECT_EQ(key(pki.leaf_ed25519.key_pem).type(), KeyType::ed25519);
    EXPECT_EQ(generated("EC", "P-384").type(), KeyType::ecdsa_p384);
    EXPECT_EQ(generated("EC", "P-521").public_key().type(), KeyType::ecdsa_p521);
    EXPECT_EQ(key_type_name(KeyType::ed25519), "Ed25519");
}

TEST(PrivateKey, RejectsGarbageEncryptedAndMissing) {
    EXPECT_FALSE(PrivateKey::from_pem(
        as_view("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")));
    EXPECT_FALSE(PrivateKey::from_pem(as_view(test_pki().encrypted_key_pem)));  // never prompts
    EXPECT_FALSE(PrivateKey::from_pem(as_view(test_pki().leaf_rsa.cert_pem)));
    auto missing = PrivateKey::load_file("/nonexistent/mobiked.key");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().find("/nonexistent/mobiked.key"), std::string::npos);
}

// ---- certificates --------------------------------------------------------

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        path =
            std::filesystem::temp_directory_path() /
            ("mobiked-crypto-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)));
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& content) {
        auto p = path / name;
        std::ofstream(p) << content;
        return p.string();
    }
};

TEST(Certificate, FilesAndDer) {
    const auto& pki = test_pki();
    TempDir dir;
    auto chain = Certificate::load_pem_file(
        dir.write("chain.pem", pki.leaf_rsa.cert_pem + pki.intermediate.cert_pem));
    ASSERT_TRUE(chain) << chain.error();
    ASSERT_EQ(chain->size(), 2u);
    auto k = PrivateKey::load_file(dir.write("leaf.key", pki.leaf_rsa.key_pem));
    ASSERT_TRUE(k) << k.error();

    const Certificate& leaf = chain->front();
    auto again = Certificate::from_der(leaf.der());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->der(), leaf.der());
    Bytes trailing = leaf.der();
    trailing.push_back(0);
    EXPECT_FALSE(Certificate::from_der(trailing));
    EXPECT_FALSE(Certificate::from_der(h("3003020101")));
    EXPECT_FALSE(Certificate::from_pem(as_view("no pem here")));
    EXPECT_FALSE(Certificate::load_pem_file("/nonexistent/ca.pem"));
}

TEST(Certificate, NamesAndSpkiHash) {
    Certificate leaf = cert(test_pki().leaf_ecdsa.cert_pem);
    EXPECT_EQ(leaf.subject(), "CN=ecdsa.example.org,O=mobiked test");
    EXPECT_EQ(leaf.public_key().type(), KeyType::ecdsa_p256);

    Bytes der = leaf.der();
    const unsigned char* p = der.data();
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    ASSERT_NE(x, nullptr);
    unsigned char* name_der = nullptr;
    int name_len = i2d_X509_NAME(X509_get_subject_name(x), &name_der);
    EXPECT_EQ(leaf.subject_der(), Bytes(name_der, name_der + name_len));
    unsigned char* spki = nullptr;
    int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
    EXPECT_EQ(leaf.spki_sha1(), sha1(ByteView(spki, static_cast<std::size_t>(spki_len))));
    EXPECT_EQ(leaf.spki_sha1().size(), 20u);
    OPENSSL_free(name_der);
    OPENSSL_free(spki);
    X509_free(x);
}

TEST(Certificate, IdentityMatchingRfc4945) {
    const auto& pki = test_pki();
    Certificate rsa = cert(pki.leaf_rsa.cert_pem), ec = cert(pki.leaf_ecdsa.cert_pem);
    const auto fqdn = static_cast<std::uint8_t>(wire::IdType::fqdn);
    const auto email = static_cast<std::uint8_t>(wire::IdType::rfc822_addr);
    const auto ipv4 = static_cast<std::uint8_t>(wire::IdType::ipv4_addr);
    const auto ipv6 = static_cast<std::uint8_t>(wire::IdType::ipv6_addr);
    const auto dn = static_cast<std::uint8_t>(wire::IdType::der_asn1_dn);
    const auto key_id = static_cast<std::uint8_t>(wire::IdType::key_id);

    EXPECT_TRUE(rsa.matches_identity(fqdn, octets("rsa.example.org")));
    EXPECT_TRUE(rsa.matches_identity(fqdn, octets("RSA.Example.ORG")));
    EXPECT_FALSE(rsa.matches_identity(fqdn, octets("ecdsa.example.org")));
    EXPECT_FALSE(rsa.matches_identity(fqdn, octets("rsa.example.org.evil")));
    EXPECT_TRUE(rsa.matches_identity(email, octets("vpn@example.org")));
    EXPECT_FALSE(rsa.matches_identity(email, octets("other@example.org")));
    EXPECT_FALSE(rsa.matches_identity(fqdn, octets("vpn@example.org")));  // kinds must match
    EXPECT_TRUE(rsa.matches_identity(ipv4, h("c000020a")));
    EXPECT_FALSE(rsa.matches_identity(ipv4, h("c000020b")));
    EXPECT_FALSE(rsa.matches_identity(ipv4, h("c00002")));
    EXPECT_TRUE(ec.matches_identity(ipv6, h("20010db8000000000000000000000001")));
    EXPECT_FALSE(ec.matches_identity(ipv6, h("20010db8000000000000000000000002")));
    EXPECT_FALSE(ec.matches_identity(ipv4, h("c000020a")));

    EXPECT_TRUE(rsa.matches_identity(dn, rsa.subject_der()));
    EXPECT_FALSE(rsa.matches_identity(dn, ec.subject_der()));
    Bytes broken = rsa.subject_der();
    broken.pop_back();
    EXPECT_FALSE(rsa.matches_identity(dn, broken));
    EXPECT_FALSE(rsa.matches_identity(key_id, octets("rsa.example.org")));
    // The root has no subjectAltName at all.
    EXPECT_FALSE(cert(pki.root.cert_pem).matches_identity(fqdn, octets("Test Root CA")));
}

// ---- chains --------------------------------------------------------------

TEST(Chain, ValidPathsVerify) {
    const auto& pki = test_pki();
    Certificate root = cert(pki.root.cert_pem), inter = cert(pki.intermediate.cert_pem);
    for (const auto* leaf : {&pki.leaf_rsa, &pki.leaf_ecdsa, &pki.leaf_ed25519}) {
        Status s = verify_chain(cert(leaf->cert_pem), {inter}, {root});
        EXPECT_TRUE(s.ok()) << s.error();
    }
    // A configured intermediate may serve as the anchor itself.
    EXPECT_TRUE(verify_chain(cert(pki.leaf_ecdsa.cert_pem), {}, {inter}).ok());
}

TEST(Chain, FailuresAreReported) {
    const auto& pki = test_pki();
    Certificate root = cert(pki.root.cert_pem), inter = cert(pki.intermediate.cert_pem);
    Certificate leaf = cert(pki.leaf_rsa.cert_pem), other_root = cert(pki.other_root.cert_pem);

    EXPECT_FALSE(verify_chain(leaf, {}, {root}).ok());             // intermediate missing
    EXPECT_FALSE(verify_chain(leaf, {inter}, {other_root}).ok());  // untrusted CA
    EXPECT_FALSE(verify_chain(leaf, {inter}, {}).ok());            // no anchors
    EXPECT_FALSE(verify_chain(cert(pki.other_leaf.cert_pem), {inter}, {root}).ok());
    Status expired = verify_chain(cert(pki.expired_leaf.cert_pem), {inter}, {root});
    ASSERT_FALSE(expired.ok());
    EXPECT_NE(expired.error().find("expired"), std::string::npos) << expired.error();
    // The leaf is not a CA: it cannot issue for anyone.
    EXPECT_FALSE(verify_chain(cert(pki.intermediate.cert_pem), {}, {leaf}).ok());
}

// ---- AUTH signatures -----------------------------------------------------

const Bytes kSigned = to_bytes(std::string_view("IKE_SA_INIT message | Nr | prf(SK_pi, IDi')"));

void expect_round_trip(const PrivateKey& k, SignatureScheme scheme) {
    SCOPED_TRACE(std::string(key_type_name(k.type())) + " method " +
                 std::to_string(scheme.auth_method) + " hash " +
                 std::to_string(scheme.hash_algorithm) + (scheme.rsa_pss ? " pss" : ""));
    auto auth = sign_auth(k, scheme, kSigned);
    ASSERT_TRUE(auth) << auth.error();
    const auto accepted = supported_signature_hashes();
    PublicKey pub = k.public_key();
    Status ok = verify_auth(pub, scheme.auth_method, *auth, kSigned, accepted);
    EXPECT_TRUE(ok.ok()) << ok.error();

    Bytes data = kSigned;
    data[3] ^= 1;
    EXPECT_FALSE(verify_auth(pub, scheme.auth_method, *auth, data, accepted).ok());
    Bytes bad_sig = *auth;
    bad_sig.back() ^= 1;
    EXPECT_FALSE(verify_auth(pub, scheme.auth_method, bad_sig, kSigned, accepted).ok());
    Bytes truncated(auth->begin(), auth->end() - 1);
    EXPECT_FALSE(verify_auth(pub, scheme.auth_method, truncated, kSigned, accepted).ok());
    if (scheme.auth_method == am::digital_signature && scheme.hash_algorithm != ha::identity) {
        EXPECT_FALSE(verify_auth(pub, scheme.auth_method, *auth, kSigned, {ha::identity}).ok());
    }
}

TEST(Auth, RsaMethods) {
    PrivateKey k = key(test_pki().leaf_rsa.key_pem);
    expect_round_trip(k, {am::rsa_signature, 0});
    for (std::uint16_t hash : {ha::sha2_256, ha::sha2_384, ha::sha2_512}) {
        expect_round_trip(k, {am::digital_signature, hash});
        expect_round_trip(k, {am::digital_signature, hash, true});
    }
}

TEST(Auth, EcdsaMethods) {
    struct Case {
        const char* curve;
        std::uint8_t method;
        std::size_t size;
    };
    for (const Case& c :
         {Case{"P-256", am::ecdsa_sha256_p256, 64}, Case{"P-384", am::ecdsa_sha384_p384, 96},
          Case{"P-521", am::ecdsa_sha512_p521, 132}}) {
        PrivateKey k = generated("EC", c.curve);
        expect_round_trip(k, {c.method, 0});
        auto auth = sign_auth(k, {c.method, 0}, kSigned);
        ASSERT_TRUE(auth);
        EXPECT_EQ(auth->size(), c.size) << "RFC 4754: r || s, fixed size";
        for (std::uint16_t hash : {ha::sha2_256, ha::sha2_384, ha::sha2_512})
            expect_round_trip(k, {am::digital_signature, hash});
    }
    PrivateKey p256 = key(test_pki().leaf_ecdsa.key_pem);
    EXPECT_FALSE(sign_auth(p256, {am::ecdsa_sha384_p384, 0}, kSigned));  // curve/method mismatch
    auto auth = sign_auth(p256, {am::ecdsa_sha256_p256, 0}, kSigned);
    EXPECT_FALSE(verify_auth(p256.public_key(), am::ecdsa_sha384_p384, *auth, kSigned, {}).ok());
}

TEST(Auth, Ed25519) {
    PrivateKey k = key(test_pki().leaf_ed25519.key_pem);
    expect_round_trip(k, {am::digital_signature, ha::identity});
    auto auth = sign_auth(k, {am::digital_signature, ha::identity}, kSigned);
    ASSERT_TRUE(auth);
    // Identity is always acceptable for Ed25519, whatever else was announced.
    EXPECT_TRUE(verify_auth(k.public_key(), am::digital_signature, *auth, kSigned, {}).ok());
    EXPECT_FALSE(sign_auth(k, {am::rsa_signature, 0}, kSigned));
    EXPECT_FALSE(sign_auth(k, {am::ecdsa_sha256_p256, 0}, kSigned));
}

TEST(Auth, CertificateKeyVerifiesLeafSignature) {
    const auto& pki = test_pki();
    auto auth =
        sign_auth(key(pki.leaf_rsa.key_pem), {am::digital_signature, ha::sha2_256}, kSigned);
    ASSERT_TRUE(auth);
    EXPECT_TRUE(verify_auth(cert(pki.leaf_rsa.cert_pem).public_key(), am::digital_signature, *auth,
                            kSigned, supported_signature_hashes())
                    .ok());
    // Same bytes, wrong key (a different certificate).
    EXPECT_FALSE(verify_auth(cert(pki.leaf_ecdsa.cert_pem).public_key(), am::digital_signature,
                             *auth, kSigned, supported_signature_hashes())
                     .ok());
}

// RFC 7427 Appendix A encodings.
Bytes algorithm_identifier(const PrivateKey& k, SignatureScheme s) {
    auto auth = sign_auth(k, s, kSigned);
    if (!auth || auth->empty()) return {};
    return Bytes(auth->begin() + 1, auth->begin() + 1 + (*auth)[0]);
}

TEST(Auth, AlgorithmIdentifiersMatchRfc7427) {
    const auto& pki = test_pki();
    PrivateKey rsa = key(pki.leaf_rsa.key_pem), ec = key(pki.leaf_ecdsa.key_pem),
               ed = key(pki.leaf_ed25519.key_pem);
    EXPECT_EQ(to_hex(algorithm_identifier(rsa, {am::digital_signature, ha::sha2_256})),
              "300d06092a864886f70d01010b0500");  // A.1.2 sha256WithRSAEncryption
    EXPECT_EQ(to_hex(algorithm_identifier(ec, {am::digital_signature, ha::sha2_256})),
              "300a06082a8648ce3d040302");  // A.3.1 ecdsa-with-SHA256
    EXPECT_EQ(to_hex(algorithm_identifier(ed, {am::digital_signature, ha::identity})),
              "300506032b6570");
    // A.4.3: RSASSA-PSS, SHA-256, MGF1-SHA-256, salt length 32.
    EXPECT_EQ(to_hex(algorithm_identifier(rsa, {am::digital_signature, ha::sha2_256, true})),
              "3041"
              "06092a864886f70d01010a"
              "3034"
              "a00f300d06096086480165030402010500"
              "a11c301a06092a864886f70d010108300d06096086480165030402010500"
              "a203020120");
}

TEST(Auth, PssParametersWithAbsentHashParamsAccepted) {
    PrivateKey rsa = key(test_pki().leaf_rsa.key_pem);
    auto auth = sign_auth(rsa, {am::digital_signature, ha::sha2_256, true}, kSigned);
    ASSERT_TRUE(auth);
    // The same parameters with the digests' NULL omitted (RFC 4055 allows both).
    Bytes variant =
        h("3f 303d06092a864886f70d01010a3030a00d300b0609608648016503040201"
          "a11a301806092a864886f70d010108300b0609608648016503040201a203020120");
    append(variant, ByteView(*auth).subspan(1 + (*auth)[0]));
    Status s = verify_auth(rsa.public_key(), am::digital_signature, variant, kSigned,
                           supported_signature_hashes());
    EXPECT_TRUE(s.ok()) << s.error();
}

TEST(Auth, MalformedMethod14Rejected) {
    PrivateKey k = key(test_pki().leaf_ecdsa.key_pem);
    PublicKey pub = k.public_key();
    auto accepted = supported_signature_hashes();
    auto auth = sign_auth(k, {am::digital_signature, ha::sha2_256}, kSigned);
    ASSERT_TRUE(auth);
    EXPECT_FALSE(verify_auth(pub, am::digital_signature, {}, kSigned, accepted).ok());
    Bytes too_long_len = *auth;
    too_long_len[0] = 0xff;
    EXPECT_FALSE(verify_auth(pub, am::digital_signature, too_long_len, kSigned, accepted).ok());
    // An RSA AlgorithmIdentifier on an ECDSA signature: key type mismatch.
    Bytes wrong_alg = h("0f 300d06092a864886f70d01010b0500");
    append(wrong_alg, ByteView(*auth).subspan(1 + (*auth)[0]));
    EXPECT_FALSE(verify_auth(pub, am::digital_signature, wrong_alg, kSigned, accepted).ok());
    EXPECT_FALSE(verify_auth(pub, am::shared_key_mic, *auth, kSigned, accepted).ok());
}

TEST(Auth, ChooseSignatureScheme) {
    auto s = choose_signature_scheme(KeyType::rsa, {});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->auth_method, am::rsa_signature);
    s = choose_signature_scheme(KeyType::rsa, {ha::sha2_512, ha::sha2_256});
    EXPECT_EQ(s->auth_method, am::digital_signature);
    EXPECT_EQ(s->hash_algorithm, ha::sha2_256);
    s = choose_signature_scheme(KeyType::rsa, {ha::identity});
    EXPECT_EQ(s->auth_method, am::rsa_signature);  // nothing usable for RSA announced
    s = choose_signature_scheme(KeyType::ecdsa_p384, {});
    EXPECT_EQ(s->auth_method, am::ecdsa_sha384_p384);
    s = choose_signature_scheme(KeyType::ecdsa_p384, {ha::sha2_256, ha::sha2_384});
    EXPECT_EQ(s->auth_method, am::digital_signature);
    EXPECT_EQ(s->hash_algorithm, ha::sha2_384);
    s = choose_signature_scheme(KeyType::ecdsa_p521, {});
    EXPECT_EQ(s->auth_method, am::ecdsa_sha512_p521);
    EXPECT_FALSE(choose_signature_scheme(KeyType::ed25519, {}));
    EXPECT_FALSE(choose_signature_scheme(KeyType::ed25519, {ha::sha2_256}));
    s = choose_signature_scheme(KeyType::ed25519, {ha::sha2_256, ha::identity});
    EXPECT_EQ(s->auth_method, am::digital_signature);
    EXPECT_EQ(s->hash_algorithm, ha::identity);
    EXPECT_EQ(supported_signature_hashes(),
              (std::vector<std::uint16_t>{ha::sha2_256, ha::sha2_384, ha::sha2_512, ha::identity}));
}

}  // namespace
}  // namespace mobiked::crypto
