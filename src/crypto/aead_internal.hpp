// Internal to crypto/: the two AEAD backends behind make_aead() and the pure
// rule that picks one, kept apart from the environment and the CPU so tests
// can drive every branch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/cipher.hpp"

namespace mobiked::crypto::detail {

// OpenSSL EVP (aead.cpp): AES-GCM-16 with 128/256-bit keys, ChaCha20-Poly1305.
// nullptr if the transform or key size is unsupported.
std::unique_ptr<Aead> make_evp_aead(std::uint16_t encr_id, ByteView key);

// Intel ipsec-mb (aead_ipsec_mb.cpp): AES-GCM-16 with 128/256-bit keys.
// nullptr if the transform or key size is unsupported or ipsec-mb is unavailable.
std::unique_ptr<Aead> make_ipsec_mb_aead(std::uint16_t encr_id, ByteView key);

enum class IpsecMbState : std::uint8_t {
    available,
    not_built,    // configured without the library (MOBIKED_IPSEC_MB=OFF or not found)
    no_aesni,     // no AES-NI: alloc_mb_mgr refuses (no emulation built in) or
                  // init_mb_mgr_auto picks IMB_ARCH_NOAESNI, software AES, no fast path
    init_failed,  // alloc_mb_mgr returned NULL for another reason
};
// Probes once per process (thread-safe static init); later calls are a load.
IpsecMbState ipsec_mb_state();
// "ipsec-mb 1.3.0, arch avx512" when available; otherwise why not, e.g.
// "CPU without AES-NI (ipsec-mb: No AESNI emulation support)".
std::string_view ipsec_mb_description();

struct IpsecMbProbe {
    IpsecMbState state;
    std::string description;
};
// A fresh probe, not the process's; hide_aesni passes IMB_FLAG_AESNI_OFF so a
// test sees what a CPU without AES-NI reports, on any machine.
IpsecMbProbe probe_ipsec_mb(bool hide_aesni);

// MOBIKED_AEAD as read from the environment (nullptr when unset) and what
// ipsec-mb reported decide the AES-GCM backend: ipsec-mb when available
// unless "openssl" is asked for; an unknown value is ignored (and said so).
AeadSelection select_aes_gcm_backend(const char* env_value, IpsecMbState state,
                                     std::string_view ipsec_mb_description);

}  // namespace mobiked::crypto::detail
