// AUTH payload computation and verification (RFC 7296 §2.15, RFC 7427).
#pragma once

#include "common/result.hpp"
#include "ike/ike_sa.hpp"

namespace mobiked::ike {

// The octets a side signs: its own IKE_SA_INIT message | the peer's nonce |
// prf(SK_px, its ID payload body). `ours` selects our side or the peer's.
Bytes signed_octets(const IkeSa& sa, bool ours, const wire::IdPayload& id);

// Builds our AUTH payload (PSK or signature as the connection says).
Result<wire::AuthPayload> make_auth(const IkeSa& sa, const Config& config, const wire::IdPayload& our_id);

// Verifies the peer's AUTH with its ID and certificates (leaf first).
Status verify_peer_auth(const IkeSa& sa, const Config& config, const wire::IdPayload& peer_id,
                        const wire::AuthPayload& auth, const std::vector<crypto::Certificate>& peer_certs);

}  // namespace mobiked::ike
