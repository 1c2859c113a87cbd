// Symmetric transforms shared by the IKE SK payload and ESP/AH: AEAD
// (AES-GCM-16, ChaCha20-Poly1305), AES-CBC and truncated HMAC-SHA2.
// Each object holds a context (OpenSSL, or Intel ipsec-mb for AES-GCM) keyed
// once at construction and reused for every packet: no per-packet allocation
// or key schedule. Objects are not thread-safe; the data plane keeps one per worker.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.hpp"

namespace mobiked::crypto {

// What a negotiated ENCR transform needs, from its IANA id and key length.
struct EncrInfo {
    bool aead = false;
    std::size_t key_size = 0;    // bytes, without salt
    std::size_t salt_size = 0;   // bytes of keying material appended for the nonce (GCM, ChaCha: 4)
    std::size_t iv_size = 0;     // explicit IV on the wire (GCM/ChaCha: 8, CBC: 16)
    std::size_t block_size = 1;  // padding alignment of plaintext (CBC: 16, AEAD: 1 but ESP aligns to 4)
    std::size_t icv_size = 0;    // AEAD tag (16); 0 for CBC (integrity transform supplies it)
};
// key_bits: the Key Length attribute (0 when the transform has none, e.g. ChaCha20).
std::optional<EncrInfo> encr_info(std::uint16_t encr_id, std::uint16_t key_bits);

struct IntegInfo {
    std::size_t key_size = 0;
    std::size_t icv_size = 0;  // truncated output
};
std::optional<IntegInfo> integ_info(std::uint16_t integ_id);

class Aead {
public:
    virtual ~Aead() = default;
    virtual std::size_t tag_size() const = 0;
    // nonce is salt || explicit IV (12 bytes). `out` receives ciphertext || tag
    // (plaintext.size() + tag_size() bytes); out may equal plaintext.data().
    virtual bool seal(ByteView nonce, ByteView aad, ByteView plaintext, std::uint8_t* out) = 0;
    // Input is ciphertext || tag; writes plaintext (input.size() - tag_size()
    // bytes) to out, which may equal input.data(). False on tag mismatch.
    virtual bool open(ByteView nonce, ByteView aad, ByteView ciphertext_and_tag, std::uint8_t* out) = 0;
};
// key without salt. nullptr if unsupported or wrong key size. The backend is
// aead_backend(encr_id).
std::unique_ptr<Aead> make_aead(std::uint16_t encr_id, ByteView key);

// Both backends produce identical bytes; ipsec-mb is only faster (VAES/AVX-512
// code that OpenSSL 3.0 lacks), which is why it is preferred for ESP.
enum class AeadBackend : std::uint8_t { openssl, ipsec_mb };
std::string_view to_string(AeadBackend backend);  // "openssl", "ipsec-mb"

// make_aead()'s choice for AES-GCM-16, made once per process on first use:
// Intel ipsec-mb when it initialised with an AES-NI arch, else OpenSSL. The
// environment variable MOBIKED_AEAD=openssl|ipsec-mb overrides it (benchmarks,
// tests); ipsec-mb asked for but unavailable gives OpenSSL, and `reason` says why.
struct AeadSelection {
    AeadBackend aes_gcm = AeadBackend::openssl;
    std::string reason;  // one log line, e.g. "ipsec-mb 1.3.0, arch avx512 (default)"
};
const AeadSelection& aead_selection();
// The backend make_aead(encr_id, ...) uses: AES-GCM-16 follows aead_selection(),
// everything else is OpenSSL.
AeadBackend aead_backend(std::uint16_t encr_id);
// That backend and no other, whatever the selection (benchmarks, cross-checks).
// nullptr if it does not implement the transform/key size or, for ipsec-mb,
// is not available on this machine.
std::unique_ptr<Aead> make_aead(std::uint16_t encr_id, ByteView key, AeadBackend backend);

class BlockCipher {
public:
    virtual ~BlockCipher() = default;
    virtual std::size_t block_size() const = 0;
    // CBC without padding: data size must be a multiple of block_size(); out may equal in.
    virtual bool encrypt(ByteView iv, ByteView in, std::uint8_t* out) = 0;
    virtual bool decrypt(ByteView iv, ByteView in, std::uint8_t* out) = 0;
};
// AES-CBC with a 16/24/32-byte key. nullptr if unsupported.
std::unique_ptr<BlockCipher> make_block_cipher(std::uint16_t encr_id, ByteView key);

class Mac {
public:
    virtual ~Mac() = default;
    virtual std::size_t icv_size() const = 0;
    // Writes the truncated ICV to out.
    virtual void compute(ByteView data, std::uint8_t* out) = 0;
    // Constant-time check of a truncated ICV.
    virtual bool verify(ByteView data, ByteView icv) = 0;
};
// HMAC-SHA2-256-128 / 384-192 / 512-256 (IANA INTEG 12, 13, 14). nullptr if unsupported.
std::unique_ptr<Mac> make_mac(std::uint16_t integ_id, ByteView key);

// Plain digests used by the protocol (NAT_DETECTION uses SHA-1 by RFC 7296 §2.23).
Bytes sha1(ByteView data);
Bytes sha256(ByteView data);

}  // namespace mobiked::crypto
