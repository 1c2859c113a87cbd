#include "crypto/dn.hpp"

#include <openssl/x509.h>

#include <memory>
#include <sstream>

namespace mobiked::crypto {

namespace {
struct NameFree {
    void operator()(X509_NAME* n) const { X509_NAME_free(n); }
};
using NamePtr = std::unique_ptr<X509_NAME, NameFree>;

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}
}  // namespace

Result<Bytes> dn_from_string(const std::string& text) {
    NamePtr name(X509_NAME_new());
    if (!name) return Error{"out of memory"};
    std::stringstream ss(text);
    std::string rdn;
    while (std::getline(ss, rdn, ',')) {
        rdn = trim(rdn);
        auto eq = rdn.find('=');
        if (eq == std::string::npos || eq == 0)
            return Error{"RDN '" + rdn + "' has no attribute=value"};
        std::string attr = trim(rdn.substr(0, eq)), value = trim(rdn.substr(eq + 1));
        if (attr == "E") attr = "emailAddress";
        if (!X509_NAME_add_entry_by_txt(name.get(), attr.c_str(), MBSTRING_UTF8,
                                        reinterpret_cast<const unsigned char*>(value.c_str()),
                                        static_cast<int>(value.size()), -1, 0))
            return Error{"unknown DN attribute '" + attr + "'"};
    }
    if (X509_NAME_entry_count(name.get()) == 0) return Error{"empty distinguished name"};
    unsigned char* der = nullptr;
    int len = i2d_X509_NAME(name.get(), &der);
    if (len <= 0) return Error{"cannot encode distinguished name"};
    Bytes out(der, der + len);
    OPENSSL_free(der);
    return out;
}

std::string dn_to_string(ByteView der) {
    const unsigned char* p = der.data();
    NamePtr name(d2i_X509_NAME(nullptr, &p, static_cast<long>(der.size())));
    if (!name || p != der.data() + der.size()) return "<invalid DN>";
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, name.get(), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return s;
}

}  // namespace mobiked::crypto
