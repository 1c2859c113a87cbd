// Protection of IKE messages with the SK payload (RFC 7296 §3.14, RFC 5282
// for AEAD): builds encrypted datagrams and authenticates/decrypts received ones.
//
// Memory: an idle IKE SA keeps only its raw SK_e/SK_a keys here (wiped with
// the codec); the cipher/MAC contexts (OpenSSL's, ~0.5 KB each for AES-GCM)
// are keyed for each message and freed after it, so 100 000 idle SAs do not
// hold 400 000 EVP_CIPHER_CTX. Keying costs ~1 us per message.
#pragma once

#include <memory>

#include "common/result.hpp"
#include "crypto/cipher.hpp"
#include "crypto/prf.hpp"
#include "crypto/random.hpp"
#include "ike/proposals.hpp"
#include "wire/message.hpp"

namespace mobiked::ike {

class SkCodec {
public:
    ~SkCodec();
    SkCodec(const SkCodec&) = delete;
    SkCodec& operator=(const SkCodec&) = delete;

    // Keys of our direction (out) and the peer's (in), as cut from prf+.
    // nullptr if the algorithms are unsupported or keys have the wrong size.
    static std::unique_ptr<SkCodec> make(const Selected& algs, ByteView encr_out, ByteView integ_out,
                                         ByteView encr_in, ByteView integ_in);

    // Key sizes to cut from prf+ for these algorithms (encr includes the salt).
    static std::optional<crypto::IkeKeySizes> key_sizes(const Selected& algs);

    // A whole datagram: header | SK { inner payloads } with padding, IV and ICV.
    // `random` supplies CBC IVs (AEAD IVs come from a counter).
    Bytes protect(const wire::Header& header, const std::vector<wire::Payload>& inner, crypto::Random& random);

    // Authenticates and decrypts a received datagram whose last payload is SK
    // (as decode_message reported it) and returns the inner payload chain bytes.
    Result<Bytes> unprotect(ByteView datagram, const wire::EncryptedPayload& sk);

    // RFC 7383: the message as SKF fragments, each at most `max_datagram`
    // bytes, or as one SK datagram when it fits. At most 64 fragments;
    // an empty result means the message cannot be fragmented that small.
    std::vector<Bytes> protect_fragmented(const wire::Header& header, const std::vector<wire::Payload>& inner,
                                          std::size_t max_datagram, crypto::Random& random);

    // Authenticates and decrypts one received SKF fragment (the datagram's
    // last payload), returning its part of the inner payload chain.
    Result<Bytes> unprotect_fragment(ByteView datagram, const wire::EncryptedFragmentPayload& skf);

    // Bytes a protected message adds to its inner payloads, at most.
    std::size_t overhead() const;

private:
    SkCodec() = default;
    std::size_t icv_size() const;
    // Pads, encrypts and authenticates `plain` behind `prefix` (header + SK/SKF
    // generic header already sized for the body), appending the body.
    void seal_body(Bytes& out, Bytes plain, crypto::Random& random);
    Result<Bytes> open_body(ByteView datagram, std::size_t body_len);
    ByteView encr_key(bool out) const;   // with the salt for AEAD
    ByteView integ_key(bool out) const;
    crypto::EncrInfo info_{};
    std::uint16_t encr_id_ = 0;
    std::uint16_t integ_id_ = 0;
    std::uint8_t encr_len_ = 0;   // per direction, salt included
    std::uint8_t integ_len_ = 0;  // per direction, 0 for AEAD
    std::uint8_t icv_ = 0;
    Bytes keys_;  // encr_out | integ_out | encr_in | integ_in
    std::uint64_t iv_counter_ = 0;
};

}  // namespace mobiked::ike
