// X.509 certificates: parsing, names and RFC 4945 identity matching.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "crypto/cipher.hpp"
#include "crypto/pki_internal.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {
namespace {

using Bio = ossl::Handle<BIO, BIO_free_all>;
using GeneralNames = ossl::Handle<GENERAL_NAMES, GENERAL_NAMES_free>;

Certificate wrap(X509* x) {
    auto impl = std::make_shared<Certificate::Impl>();
    impl->x509.reset(x);
    return Certificate(std::move(impl));
}

// encode(&buf) is an i2d_* call that allocates buf.
template <typename Encode>
Bytes i2d_bytes(Encode encode) {
    unsigned char* der = nullptr;
    int len = encode(&der);
    Bytes out;
    if (len > 0) out.assign(der, der + len);
    OPENSSL_free(der);
    return out;
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view as_string(const ASN1_STRING* s) {
    return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
            static_cast<std::size_t>(ASN1_STRING_length(s))};
}

// RFC 4945 §3.1: the ID must match a subjectAltName of the corresponding kind.
bool san_matches(const GENERAL_NAME* gn, std::uint8_t id_type, ByteView id) {
    std::string_view id_text(reinterpret_cast<const char*>(id.data()), id.size());
    switch (static_cast<wire::IdType>(id_type)) {
        case wire::IdType::fqdn:
            return gn->type == GEN_DNS && iequal(as_string(gn->d.dNSName), id_text);
        case wire::IdType::rfc822_addr:
            return gn->type == GEN_EMAIL && iequal(as_string(gn->d.rfc822Name), id_text);
        case wire::IdType::ipv4_addr:
        case wire::IdType::ipv6_addr: {
            if (gn->type != GEN_IPADD) return false;
            std::size_t want =
                id_type == static_cast<std::uint8_t>(wire::IdType::ipv4_addr) ? 4 : 16;
            std::string_view ip = as_string(gn->d.iPAddress);
            return id.size() == want && ip.size() == want &&
                   std::memcmp(ip.data(), id.data(), want) == 0;
        }
        default:
            return false;
    }
}

}  // namespace

Result<Certificate> Certificate::from_der(ByteView der) {
    const unsigned char* p = der.data();
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    if (x == nullptr) return Error{ossl::last_error("cannot parse certificate (DER)")};
    if (p != der.data() + der.size()) {
        X509_free(x);
        return Error{"trailing bytes after certificate"};
    }
    return wrap(x);
}

Result<std::vector<Certificate>> Certificate::from_pem(ByteView pem) {
    Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    std::vector<Certificate> certs;
    while (bio) {
        X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        if (x == nullptr) break;
        certs.push_back(wrap(x));
    }
    // Running out of PEM blocks is the normal end; anything else is a broken block.
    unsigned long err = ERR_peek_last_error();
    bool clean_end =
        err == 0 || (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE);
    if (!clean_end) return Error{ossl::last_error("cannot parse certificate (PEM)")};
    ERR_clear_error();
    if (certs.empty()) return Error{"no certificate in PEM data"};
    return certs;
}

Result<std::vector<Certificate>> Certificate::load_pem_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr)
        return Error{"cannot open certificate file " + path + ": " + std::strerror(errno)};
    Bytes data;
    std::uint8_t buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
        data.insert(data.end(), buf, buf + n);
    std::fclose(f);
    auto certs = from_pem(data);
    if (!certs) return Error{path + ": " + certs.error()};
    return certs;
}

Bytes Certificate::der() const {
    return i2d_bytes([&](unsigned char** der) { return i2d_X509(impl_->x509.get(), der); });
}

PublicKey Certificate::public_key() const {
    ossl::Pkey pkey(X509_get_pubkey(impl_->x509.get()));  // new reference
    auto type = pkey ? detail::key_type_of(pkey.get()) : std::nullopt;
    // An unusable key type still yields a PublicKey so callers can log the
    // certificate; verify_auth refuses it because its type matches no method.
    return detail::make_public_key(std::move(pkey), type.value_or(KeyType::rsa));
}

std::string Certificate::subject() const {
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(impl_->x509.get()), 0,
                                   XN_FLAG_RFC2253) < 0)
        return {};
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

Bytes Certificate::subject_der() const {
    return i2d_bytes([&](unsigned char** der) {
        return i2d_X509_NAME(X509_get_subject_name(impl_->x509.get()), der);
    });
}

bool Certificate::matches_identity(std::uint8_t id_type, ByteView id_data) const {
    X509* x = impl_->x509.get();
    if (id_type == static_cast<std::uint8_t>(wire::IdType::der_asn1_dn)) {
        const unsigned char* p = id_data.data();
        ossl::X509Name name(d2i_X509_NAME(nullptr, &p, static_cast<long>(id_data.size())));
        ERR_clear_error();
        // X509_NAME_cmp compares canonical encodings (case and spacing folded per RFC 5280 §7.1).
        return name && p == id_data.data() + id_data.size() &&
               X509_NAME_cmp(name.get(), X509_get_subject_name(x)) == 0;
    }
    GeneralNames sans(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
    if (!sans) return false;
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i)
        if (san_matches(sk_GENERAL_NAME_value(sans.get(), i), id_type, id_data)) return true;
    return false;
}

// RFC 7296 §3.7: the hash covers the whole SubjectPublicKeyInfo, not only the key bits.
Bytes Certificate::spki_sha1() const {
    Bytes spki = i2d_bytes([&](unsigned char** der) {
        return i2d_X509_PUBKEY(X509_get_X509_PUBKEY(impl_->x509.get()), der);
    });
    return sha1(spki);
}

}  // namespace mobiked::crypto
