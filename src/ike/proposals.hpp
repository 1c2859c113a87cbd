// strongSwan-style proposal strings ("aes128gcm16-prfsha256-x25519") to and
// from wire proposals, and RFC 7296 §2.7 proposal selection.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "wire/message.hpp"

namespace mobiked::ike {

// Parses one proposal string for `protocol` (ike or esp). Tokens are joined
// by '-'; several algorithms of one type make a proposal with alternatives.
// IKE proposals need encr, prf (may be implied by integ for CBC) and ke; ESP
// proposals get NO_ESN unless "esn"/"noesn" says otherwise; a ke token in an
// ESP proposal means PFS.
Result<wire::Proposal> parse_proposal(const std::string& text, wire::ProtocolId protocol);
Result<std::vector<wire::Proposal>> parse_proposals(const std::vector<std::string>& texts,
                                                    wire::ProtocolId protocol);

// Proposals mobiked offers when none are configured.
std::vector<wire::Proposal> default_ike_proposals();
std::vector<wire::Proposal> default_esp_proposals();

// A proposal reduced to one transform of each type: what was negotiated.
struct Selected {
    std::uint8_t number = 0;
    std::uint16_t encr = 0;
    std::uint16_t encr_key_bits = 0;
    std::uint16_t prf = 0;
    std::uint16_t integ = 0;
    std::uint16_t ke = 0;
    std::uint16_t esn = 0;
    Bytes spi;
    wire::Proposal to_proposal(wire::ProtocolId protocol) const;
    std::string to_string() const;  // "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519"
};

// Responder's choice: the first of the peer's proposals (in its order) that
// one of ours accepts, every transform type agreeing and all algorithms
// supported by our crypto. nullopt = NO_PROPOSAL_CHOSEN.
std::optional<Selected> select_proposal(const std::vector<wire::Proposal>& ours,
                                        const std::vector<wire::Proposal>& theirs);

// Initiator's check of the responder's answer: exactly one transform per type,
// and it must be one we offered in the proposal with that number.
std::optional<Selected> accept_reply(const std::vector<wire::Proposal>& offered,
                                     const wire::Proposal& reply);

// The proposals without key-exchange transforms: IKE_AUTH carries no KE, so
// its CHILD_SA is negotiated with PFS groups removed (the next rekey uses them).
std::vector<wire::Proposal> without_ke(std::vector<wire::Proposal> proposals);

// Key exchange groups in our proposals, in preference order (for INVALID_KE).
std::vector<std::uint16_t> ke_groups(const std::vector<wire::Proposal>& proposals);

}  // namespace mobiked::ike
