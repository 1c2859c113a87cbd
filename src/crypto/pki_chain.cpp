// Certificate path validation with OpenSSL's verifier.
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "crypto/pki_internal.hpp"

namespace mobiked::crypto {

Status verify_chain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                    const std::vector<Certificate>& anchors) {
    using Store = ossl::Handle<X509_STORE, X509_STORE_free>;
    using StoreCtx = ossl::Handle<X509_STORE_CTX, X509_STORE_CTX_free>;
    struct StackFree {
        void operator()(STACK_OF(X509) * s) const {
            sk_X509_free(s);
        }  // the certs stay owned by Certificate
    };
    if (anchors.empty()) return Error{"no trust anchors configured"};
    Store store(X509_STORE_new());
    std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
    StoreCtx ctx(X509_STORE_CTX_new());
    if (!store || !untrusted || !ctx)
        return Error{ossl::last_error("certificate verification setup")};
    for (const auto& a : anchors)
        if (X509_STORE_add_cert(store.get(), a.impl()->x509.get()) != 1)
            return Error{ossl::last_error("adding trust anchor")};
    for (const auto& c : intermediates)
        if (sk_X509_push(untrusted.get(), c.impl()->x509.get()) <= 0)
            return Error{ossl::last_error("intermediates")};
    // An operator may pin an intermediate CA as the anchor; trust what was
    // configured rather than insisting the path ends at a self-signed root.
    X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
    if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.impl()->x509.get(), untrusted.get()) != 1)
        return Error{ossl::last_error("certificate verification setup")};
    if (X509_verify_cert(ctx.get()) == 1) return Status::success();
    int err = X509_STORE_CTX_get_error(ctx.get());
    std::string msg = "certificate chain of '" + leaf.subject() +
                      "' rejected: " + X509_verify_cert_error_string(err);
    ERR_clear_error();
    return Error{msg};
}

}  // namespace mobiked::crypto
