// Which backend make_aead() uses. Chosen once per process: the data plane
// must not switch implementations between the SAs of one run, and reading
// the environment per SA would be pointless work.
#include <cstdlib>
#include <string>

#include "crypto/aead_internal.hpp"
#include "crypto/cipher.hpp"
#include "wire/constants.hpp"

namespace mobiked::crypto {

std::string_view to_string(AeadBackend backend) {
    return backend == AeadBackend::ipsec_mb ? "ipsec-mb" : "openssl";
}

AeadSelection detail::select_aes_gcm_backend(const char* env_value, IpsecMbState state,
                                             std::string_view ipsec_mb_description) {
    const std::string mb(ipsec_mb_description);
    const bool available = state == IpsecMbState::available;
    const std::string_view env = env_value != nullptr ? env_value : "";
    if (env == "openssl") return {AeadBackend::openssl, "MOBIKED_AEAD=openssl"};
    if (env == "ipsec-mb") {
        if (available) return {AeadBackend::ipsec_mb, mb + " (MOBIKED_AEAD=ipsec-mb)"};
        return {AeadBackend::openssl, "MOBIKED_AEAD=ipsec-mb, but ipsec-mb is unavailable: " + mb};
    }
    std::string note;
    if (!env.empty())
        note = "; MOBIKED_AEAD=" + std::string(env) + " ignored (openssl or ipsec-mb)";
    if (available) return {AeadBackend::ipsec_mb, mb + " (default)" + note};
    return {AeadBackend::openssl, "ipsec-mb unavailable: " + mb + note};
}

const AeadSelection& aead_selection() {
    static const AeadSelection s = detail::select_aes_gcm_backend(
        std::getenv("MOBIKED_AEAD"), detail::ipsec_mb_state(), detail::ipsec_mb_description());
    return s;
}

AeadBackend aead_backend(std::uint16_t encr_id) {
    return encr_id == wire::encr::aes_gcm_16 ? aead_selection().aes_gcm : AeadBackend::openssl;
}

std::unique_ptr<Aead> make_aead(std::uint16_t encr_id, ByteView key, AeadBackend backend) {
    return backend == AeadBackend::ipsec_mb ? detail::make_ipsec_mb_aead(encr_id, key)
                                            : detail::make_evp_aead(encr_id, key);
}

std::unique_ptr<Aead> make_aead(std::uint16_t encr_id, ByteView key) {
    return make_aead(encr_id, key, aead_backend(encr_id));
}

}  // namespace mobiked::crypto
