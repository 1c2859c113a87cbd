#include "crypto/ossl.hpp"

#include <openssl/err.h>

#include <cstdlib>

namespace mobiked::crypto::ossl {

std::string last_error(const char* what) {
    std::string msg = what;
    unsigned long code = ERR_peek_last_error();
    if (code != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        msg += ": ";
        msg += buf;
    }
    ERR_clear_error();
    return msg;
}

namespace {
const EVP_MD* fetch_md(const char* name) {
    EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
    if (md == nullptr) abort();  // the default provider always has SHA-1/SHA-2
    return md;
}
}  // namespace

const EVP_MD* md_sha1() {
    static const EVP_MD* md = fetch_md("SHA1");
    return md;
}
const EVP_MD* md_sha256() {
    static const EVP_MD* md = fetch_md("SHA2-256");
    return md;
}
const EVP_MD* md_sha384() {
    static const EVP_MD* md = fetch_md("SHA2-384");
    return md;
}
const EVP_MD* md_sha512() {
    static const EVP_MD* md = fetch_md("SHA2-512");
    return md;
}
EVP_MAC* mac_hmac() {
    static EVP_MAC* mac = [] {
        EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        if (m == nullptr) abort();
        return m;
    }();
    return mac;
}

}  // namespace mobiked::crypto::ossl
