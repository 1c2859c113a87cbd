// AES-GCM-16 (RFC 4106 / RFC 5282) through Intel ipsec-mb's direct GCM API:
// the VAES/VPCLMULQDQ code that OpenSSL 3.0 does not have, hence the ESP fast
// path. Built only with HAVE_IPSEC_MB; without it every query reports
// not_built and make_aead() stays on OpenSSL.
//
// One IMB_MGR per process. It is only a dispatch table filled by
// init_mb_mgr_auto from the CPU features; the direct GCM functions take all
// per-operation state through their gcm_context_data argument and only read
// gcm_key_data, so calls on distinct contexts are reentrant. Each Aead copies
// the function pointers it needs, so it never touches the manager again.
// The one shared write is the library's global error status: SAFE_PARAM
// builds (Debian's) store 0 to it on every call. It is read only at start-up,
// when alloc_mb_mgr fails; per packet the arguments are checked before the
// call, so nothing depends on it. With several data-plane threads the stores
// would be a benign race, but that int's cache line would bounce between
// cores on every packet: measure before sharing this across workers.
#include "crypto/aead_internal.hpp"

#ifdef HAVE_IPSEC_MB

#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>

#include <cstring>
#include <string>

#include "wire/constants.hpp"

namespace mobiked::crypto::detail {
namespace {

constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;

struct MgrDeleter {
    void operator()(IMB_MGR* m) const { free_mb_mgr(m); }
};

const char* arch_name(IMB_ARCH arch) {
    switch (arch) {
        case IMB_ARCH_NOAESNI:
            return "noaesni";
        case IMB_ARCH_SSE:
            return "sse";
        case IMB_ARCH_AVX:
            return "avx";
        case IMB_ARCH_AVX2:
            return "avx2";
        case IMB_ARCH_AVX512:
            return "avx512";
        default:
            return "none";
    }
}

struct Manager {
    std::unique_ptr<IMB_MGR, MgrDeleter> mgr;
    IpsecMbProbe probe{IpsecMbState::init_failed, {}};
};

Manager init_manager(std::uint64_t flags) {
    Manager m;
    m.mgr.reset(alloc_mb_mgr(flags));
    if (!m.mgr) {
        // Distribution builds leave out the software AES emulation, so a CPU
        // without AES-NI shows up here rather than as IMB_ARCH_NOAESNI.
        const int err = imb_get_errno(nullptr);
        const bool no_aesni = err == IMB_ERR_NO_AESNI_EMU;
        m.probe = {no_aesni ? IpsecMbState::no_aesni : IpsecMbState::init_failed,
                   std::string(no_aesni ? "CPU without AES-NI" : "alloc_mb_mgr failed") +
                       " (ipsec-mb: " + imb_get_strerror(err) + ")"};
        return m;
    }
    IMB_ARCH arch = IMB_ARCH_NONE;
    init_mb_mgr_auto(m.mgr.get(), &arch);
    // NOAESNI is ipsec-mb's portable software AES: slower than OpenSSL's.
    if (arch == IMB_ARCH_NONE || arch == IMB_ARCH_NOAESNI) {
        m.probe = {IpsecMbState::no_aesni,
                   std::string("CPU without AES-NI (ipsec-mb arch ") + arch_name(arch) + ")"};
        m.mgr.reset();
        return m;
    }
    m.probe = {IpsecMbState::available,
               std::string("ipsec-mb ") + imb_get_version_str() + ", arch " + arch_name(arch)};
    return m;
}

const Manager& manager() {
    static const Manager m = init_manager(0);
    return m;
}

class IpsecMbGcm final : public Aead {
public:
    IpsecMbGcm(aes_gcm_pre_t pre, aes_gcm_enc_dec_t enc, aes_gcm_enc_dec_t dec, ByteView key)
        : enc_(enc), dec_(dec) {
        pre(key.data(), &key_);
    }
    ~IpsecMbGcm() override {
        OPENSSL_cleanse(&key_, sizeof key_);
        OPENSSL_cleanse(&ctx_, sizeof ctx_);
    }
    IpsecMbGcm(const IpsecMbGcm&) = delete;
    IpsecMbGcm& operator=(const IpsecMbGcm&) = delete;

    std::size_t tag_size() const override { return kTagSize; }

    bool seal(ByteView nonce, ByteView aad, ByteView plaintext, std::uint8_t* out) override {
        if (nonce.size() != kNonceSize || out == nullptr) return false;
        enc_(&key_, &ctx_, out, plaintext.data(), plaintext.size(), nonce.data(), aad.data(),
             aad.size(), out + plaintext.size(), kTagSize);
        return true;
    }

    bool open(ByteView nonce, ByteView aad, ByteView input, std::uint8_t* out) override {
        if (nonce.size() != kNonceSize || input.size() < kTagSize || out == nullptr) return false;
        const std::size_t n = input.size() - kTagSize;
        // Copied first: with out == input the tag bytes lie just past what is
        // written, but a caller's overlapping out must not be able to change it.
        std::uint8_t received[kTagSize];
        std::memcpy(received, input.data() + n, kTagSize);
        std::uint8_t computed[kTagSize];
        dec_(&key_, &ctx_, out, input.data(), n, nonce.data(), aad.data(), aad.size(), computed,
             kTagSize);
        const bool ok = CRYPTO_memcmp(computed, received, kTagSize) == 0;
        // GCM decrypts before the tag is known: never hand back unauthenticated plaintext.
        if (!ok && n != 0) OPENSSL_cleanse(out, n);
        return ok;
    }

private:
    // The header asks for 64-byte alignment only when LINUX (the library's
    // own build flag) is defined: give the key what the library's own builds
    // and tests give it rather than rely on every arch's code tolerating less.
    alignas(64) gcm_key_data key_{};
    alignas(16) gcm_context_data ctx_{};
    aes_gcm_enc_dec_t enc_;
    aes_gcm_enc_dec_t dec_;
};

}  // namespace

std::unique_ptr<Aead> make_ipsec_mb_aead(std::uint16_t encr_id, ByteView key) {
    const Manager& mm = manager();
    if (encr_id != wire::encr::aes_gcm_16 || mm.probe.state != IpsecMbState::available)
        return nullptr;
    const IMB_MGR* m = mm.mgr.get();
    // 192-bit keys exist in ipsec-mb but not in encr_info() or the OpenSSL
    // backend; accepting them here would make SA setup depend on the CPU.
    if (key.size() == 16)
        return std::make_unique<IpsecMbGcm>(m->gcm128_pre, m->gcm128_enc, m->gcm128_dec, key);
    if (key.size() == 32)
        return std::make_unique<IpsecMbGcm>(m->gcm256_pre, m->gcm256_enc, m->gcm256_dec, key);
    return nullptr;
}

IpsecMbState ipsec_mb_state() { return manager().probe.state; }

std::string_view ipsec_mb_description() { return manager().probe.description; }

IpsecMbProbe probe_ipsec_mb(bool hide_aesni) {
    return init_manager(hide_aesni ? IMB_FLAG_AESNI_OFF : 0).probe;
}

}  // namespace mobiked::crypto::detail

#else  // !HAVE_IPSEC_MB

namespace mobiked::crypto::detail {

std::unique_ptr<Aead> make_ipsec_mb_aead(std::uint16_t, ByteView) { return nullptr; }

IpsecMbState ipsec_mb_state() { return IpsecMbState::not_built; }

constexpr std::string_view kNotBuilt =
    "built without Intel ipsec-mb (MOBIKED_IPSEC_MB=OFF or library not found)";

std::string_view ipsec_mb_description() { return kNotBuilt; }

IpsecMbProbe probe_ipsec_mb(bool) { return {IpsecMbState::not_built, std::string(kNotBuilt)}; }

}  // namespace mobiked::crypto::detail

#endif
