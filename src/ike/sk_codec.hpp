// Protection of IKE messages with the SK payload (RFC 7296 §3.14, RFC 5282
// for AEAD): builds encrypted datagrams and authenticates/decrypts received ones.
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
    crypto::EncrInfo info_{};
    std::unique_ptr<crypto::Aead> aead_out_, aead_in_;
    std::unique_ptr<crypto::BlockCipher> cbc_out_, cbc_in_;
    std::unique_ptr<crypto::Mac> mac_out_, mac_in_;
    Bytes salt_out_, salt_in_;
    std::uint64_t iv_counter_ = 0;
};

}  // namespace mobiked::ike
