#include "support/pki_fixture.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace mobiked::crypto::test {
namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

Key rsa_key() { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})); }
Key ec_key(const char* curve) { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)); }
Key ed_key() { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr && X509_add_ext(cert, ext, -1) == 1, "extension");
    X509_EXTENSION_free(ext);
}

struct CertSpec {
    std::string cn;
    bool ca = false;
    const char* san = nullptr;  // e.g. "DNS:a.example,IP:192.0.2.1"
    long not_before_days = -1;
    long not_after_days = 30;
};

// issuer == nullptr: self-signed.
Cert make_cert(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key) {
    static long serial = 1;
    Cert cert(X509_new());
    check(cert != nullptr, "X509_new");
    X509_set_version(cert.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_days * 86400);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_days * 86400);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("mobiked test"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
    X509* signer = issuer ? issuer : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
    X509_set_pubkey(cert.get(), subject_key);
    add_ext(cert.get(), signer, NID_basic_constraints,
            spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(cert.get(), signer, NID_key_usage,
            spec.ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add_ext(cert.get(), signer, NID_subject_key_identifier, "hash");
    add_ext(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    if (spec.san) add_ext(cert.get(), signer, NID_subject_alt_name, spec.san);
    EVP_PKEY* sign_key = issuer_key ? issuer_key : subject_key;
    const EVP_MD* md = EVP_PKEY_is_a(sign_key, "ED25519") ? nullptr : EVP_sha256();
    check(X509_sign(cert.get(), sign_key, md) > 0, "X509_sign");
    return cert;
}

std::string bio_string(BIO* bio) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    return s;
}

std::string key_pem(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    check(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
          "key PEM");
    return bio_string(bio);
}

std::string cert_pem(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    check(PEM_write_bio_X509(bio, cert) == 1, "cert PEM");
    return bio_string(bio);
}

Issued issued(EVP_PKEY* key, X509* cert) { return {key_pem(key), cert_pem(cert)}; }

TestPki build() {
    TestPki pki;
    Key root_key = rsa_key(), inter_key = ec_key("P-256"), rsa_leaf = rsa_key(),
        ec_leaf = ec_key("P-256"), ed_leaf = ed_key(), other_key = ec_key("P-256"),
        other_leaf_key = ec_key("P-256");
    check(root_key && inter_key && rsa_leaf && ec_leaf && ed_leaf && other_key && other_leaf_key,
          "keygen");

    Cert root = make_cert({.cn = "Test Root CA", .ca = true}, root_key.get(), nullptr, nullptr);
    Cert inter = make_cert({.cn = "Test Intermediate CA", .ca = true}, inter_key.get(), root.get(),
                           root_key.get());
    Cert l_rsa = make_cert(
        {.cn = "rsa.example.org", .san = "DNS:rsa.example.org,email:vpn@example.org,IP:192.0.2.10"},
        rsa_leaf.get(), inter.get(), inter_key.get());
    Cert l_ec =
        make_cert({.cn = "ecdsa.example.org", .san = "DNS:ecdsa.example.org,IP:2001:db8::1"},
                  ec_leaf.get(), inter.get(), inter_key.get());
    Cert l_ed = make_cert({.cn = "ed25519.example.org", .san = "DNS:ed25519.example.org"},
                          ed_leaf.get(), inter.get(), inter_key.get());
    Cert expired = make_cert({.cn = "old.example.org",
                              .san = "DNS:old.example.org",
                              .not_before_days = -30,
                              .not_after_days = -1},
                             ec_leaf.get(), inter.get(), inter_key.get());
    Cert other = make_cert({.cn = "Other Root CA", .ca = true}, other_key.get(), nullptr, nullptr);
    Cert other_leaf = make_cert({.cn = "rsa.example.org", .san = "DNS:rsa.example.org"},
                                other_leaf_key.get(), other.get(), other_key.get());

    pki.root = issued(root_key.get(), root.get());
    pki.intermediate = issued(inter_key.get(), inter.get());
    pki.leaf_rsa = issued(rsa_leaf.get(), l_rsa.get());
    pki.leaf_ecdsa = issued(ec_leaf.get(), l_ec.get());
    pki.leaf_ed25519 = issued(ed_leaf.get(), l_ed.get());
    pki.expired_leaf = issued(ec_leaf.get(), expired.get());
    pki.other_root = issued(other_key.get(), other.get());
    pki.other_leaf = issued(other_leaf_key.get(), other_leaf.get());

    BIO* bio = BIO_new(BIO_s_mem());
    check(PEM_write_bio_PrivateKey_traditional(bio, rsa_leaf.get(), nullptr, nullptr, 0, nullptr,
                                               nullptr) == 1,
          "traditional PEM");
    pki.leaf_rsa_traditional_key_pem = bio_string(bio);
    bio = BIO_new(BIO_s_mem());
    char pass[] = "secret";
    check(PEM_write_bio_PKCS8PrivateKey(bio, ec_leaf.get(), EVP_aes_128_cbc(), pass, 6, nullptr,
                                        nullptr) == 1,
          "encrypted PEM");
    pki.encrypted_key_pem = bio_string(bio);
    return pki;
}

}  // namespace

const TestPki& test_pki() {
    static const TestPki pki = build();
    return pki;
}

}  // namespace mobiked::crypto::test
