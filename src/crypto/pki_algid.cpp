// RFC 7427 AlgorithmIdentifiers: built and parsed with OpenSSL's ASN.1 codec
// so the DER is canonical (Appendix A lists the same encodings).
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "crypto/pki_internal.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto::detail {
namespace {

using PssParams = ossl::Handle<RSA_PSS_PARAMS, RSA_PSS_PARAMS_free>;
using AsnType = ossl::Handle<ASN1_TYPE, ASN1_TYPE_free>;

Bytes algor_der(const X509_ALGOR* a) {
    unsigned char* der = nullptr;
    int len = i2d_X509_ALGOR(a, &der);
    Bytes out;
    if (len > 0) out.assign(der, der + len);
    OPENSSL_free(der);
    return out;
}

Bytes simple(int nid, int param_type) {
    ossl::Algor a(X509_ALGOR_new());
    if (!a || X509_ALGOR_set0(a.get(), OBJ_nid2obj(nid), param_type, nullptr) != 1) return {};
    return algor_der(a.get());
}

int rsa_pkcs1_nid(const EVP_MD* md) {
    switch (EVP_MD_get_type(md)) {
        case NID_sha256:
            return NID_sha256WithRSAEncryption;
        case NID_sha384:
            return NID_sha384WithRSAEncryption;
        case NID_sha512:
            return NID_sha512WithRSAEncryption;
        default:
            return NID_undef;
    }
}

int ecdsa_nid(const EVP_MD* md) {
    switch (EVP_MD_get_type(md)) {
        case NID_sha256:
            return NID_ecdsa_with_SHA256;
        case NID_sha384:
            return NID_ecdsa_with_SHA384;
        case NID_sha512:
            return NID_ecdsa_with_SHA512;
        default:
            return NID_undef;
    }
}

const EVP_MD* md_for_nid(int nid) {
    switch (nid) {
        case NID_sha256:
            return ossl::md_sha256();
        case NID_sha384:
            return ossl::md_sha384();
        case NID_sha512:
            return ossl::md_sha512();
        default:
            return nullptr;
    }
}

// RSASSA-PSS-params (RFC 4055 §3.1) with hash, MGF1(hash) and an explicit salt length.
Bytes pss(const SigAlgorithm& alg) {
    PssParams params(RSA_PSS_PARAMS_new());
    ossl::Algor mgf_hash(X509_ALGOR_new());
    if (!params || !mgf_hash) return {};
    params->hashAlgorithm = X509_ALGOR_new();
    params->maskGenAlgorithm = X509_ALGOR_new();
    params->saltLength = ASN1_INTEGER_new();
    if (!params->hashAlgorithm || !params->maskGenAlgorithm || !params->saltLength) return {};
    // Explicit NULL parameters as in RFC 7427 Appendix A.4 (X509_ALGOR_set_md
    // would omit them for provider digests, and peers may compare bytes).
    if (X509_ALGOR_set0(params->hashAlgorithm, OBJ_nid2obj(EVP_MD_get_type(alg.md)), V_ASN1_NULL,
                        nullptr) != 1 ||
        X509_ALGOR_set0(mgf_hash.get(), OBJ_nid2obj(EVP_MD_get_type(alg.mgf1_md)), V_ASN1_NULL,
                        nullptr) != 1)
        return {};
    ASN1_TYPE* mgf_param =
        ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(X509_ALGOR), mgf_hash.get(), nullptr);
    if (mgf_param == nullptr) return {};
    params->maskGenAlgorithm->algorithm = OBJ_nid2obj(NID_mgf1);
    params->maskGenAlgorithm->parameter = mgf_param;
    if (ASN1_INTEGER_set(params->saltLength, alg.salt_length) != 1) return {};
    ossl::Algor a(X509_ALGOR_new());
    if (!a) return {};
    a->algorithm = OBJ_nid2obj(NID_rsassaPss);
    a->parameter = ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), params.get(), nullptr);
    if (a->parameter == nullptr) return {};
    return algor_der(a.get());
}

// Defaults per RFC 4055 §3.1 when a field is absent: SHA-1, MGF1-SHA-1, salt 20.
std::optional<SigAlgorithm> parse_pss(const ASN1_TYPE* param) {
    if (param == nullptr || param->type != V_ASN1_SEQUENCE) return std::nullopt;
    PssParams p(static_cast<RSA_PSS_PARAMS*>(
        ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), param)));
    if (!p || !p->hashAlgorithm || !p->maskGenAlgorithm)
        return std::nullopt;  // SHA-1 defaults: refused
    SigAlgorithm alg{SigAlgorithm::Kind::rsa_pss};
    alg.md = md_for_nid(OBJ_obj2nid(p->hashAlgorithm->algorithm));
    if (OBJ_obj2nid(p->maskGenAlgorithm->algorithm) != NID_mgf1) return std::nullopt;
    const ASN1_TYPE* mgf_param = p->maskGenAlgorithm->parameter;
    if (mgf_param == nullptr || mgf_param->type != V_ASN1_SEQUENCE) return std::nullopt;
    ossl::Algor mgf_hash(
        static_cast<X509_ALGOR*>(ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR), mgf_param)));
    if (!mgf_hash) return std::nullopt;
    alg.mgf1_md = md_for_nid(OBJ_obj2nid(mgf_hash->algorithm));
    long salt = p->saltLength ? ASN1_INTEGER_get(p->saltLength) : 20;
    if (p->trailerField && ASN1_INTEGER_get(p->trailerField) != 1) return std::nullopt;
    if (!alg.md || !alg.mgf1_md || salt < 0 || salt > 1024) return std::nullopt;
    alg.salt_length = static_cast<int>(salt);
    return alg;
}

}  // namespace

const EVP_MD* md_for_hash(std::uint16_t hash_id) {
    switch (hash_id) {
        case wire::hash_alg::sha2_256:
            return ossl::md_sha256();
        case wire::hash_alg::sha2_384:
            return ossl::md_sha384();
        case wire::hash_alg::sha2_512:
            return ossl::md_sha512();
        default:
            return nullptr;
    }
}

std::uint16_t hash_for_md(const EVP_MD* md) {
    if (md == nullptr) return wire::hash_alg::identity;
    switch (EVP_MD_get_type(md)) {
        case NID_sha256:
            return wire::hash_alg::sha2_256;
        case NID_sha384:
            return wire::hash_alg::sha2_384;
        case NID_sha512:
            return wire::hash_alg::sha2_512;
        default:
            return 0;
    }
}

Bytes encode_algorithm_identifier(const SigAlgorithm& alg) {
    switch (alg.kind) {
        // RFC 4055 §5: NULL parameters for sha*WithRSAEncryption.
        case SigAlgorithm::Kind::rsa_pkcs1:
            return simple(rsa_pkcs1_nid(alg.md), V_ASN1_NULL);
        // RFC 5758 §3.2 and RFC 8410 §3: parameters absent.
        case SigAlgorithm::Kind::ecdsa:
            return simple(ecdsa_nid(alg.md), V_ASN1_UNDEF);
        case SigAlgorithm::Kind::ed25519:
            return simple(NID_ED25519, V_ASN1_UNDEF);
        case SigAlgorithm::Kind::rsa_pss:
            return pss(alg);
    }
    return {};
}

std::optional<SigAlgorithm> decode_algorithm_identifier(ByteView der) {
    const unsigned char* p = der.data();
    ossl::Algor a(d2i_X509_ALGOR(nullptr, &p, static_cast<long>(der.size())));
    if (!a || p != der.data() + der.size()) return std::nullopt;
    using Kind = SigAlgorithm::Kind;
    switch (OBJ_obj2nid(a->algorithm)) {
        case NID_sha256WithRSAEncryption:
            return SigAlgorithm{Kind::rsa_pkcs1, ossl::md_sha256()};
        case NID_sha384WithRSAEncryption:
            return SigAlgorithm{Kind::rsa_pkcs1, ossl::md_sha384()};
        case NID_sha512WithRSAEncryption:
            return SigAlgorithm{Kind::rsa_pkcs1, ossl::md_sha512()};
        case NID_ecdsa_with_SHA256:
            return SigAlgorithm{Kind::ecdsa, ossl::md_sha256()};
        case NID_ecdsa_with_SHA384:
            return SigAlgorithm{Kind::ecdsa, ossl::md_sha384()};
        case NID_ecdsa_with_SHA512:
            return SigAlgorithm{Kind::ecdsa, ossl::md_sha512()};
        case NID_ED25519:
            return SigAlgorithm{Kind::ed25519, nullptr};
        case NID_rsassaPss:
            return parse_pss(a->parameter);
        default:
            return std::nullopt;
    }
}

}  // namespace mobiked::crypto::detail
