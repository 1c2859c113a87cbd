#include "ike/proposals.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "crypto/cipher.hpp"
#include "crypto/key_exchange.hpp"
#include "crypto/prf.hpp"

namespace mobiked::ike {

namespace {

using wire::Transform;
using wire::TransformType;

struct Token {
    TransformType type;
    std::uint16_t id;
    std::uint16_t key_bits;  // 0: no Key Length attribute
};

const std::map<std::string, Token, std::less<>>& token_table() {
    static const std::map<std::string, Token, std::less<>> table = {
        {"aes128", {TransformType::encr, wire::encr::aes_cbc, 128}},
        {"aes192", {TransformType::encr, wire::encr::aes_cbc, 192}},
        {"aes256", {TransformType::encr, wire::encr::aes_cbc, 256}},
        {"aes128gcm16", {TransformType::encr, wire::encr::aes_gcm_16, 128}},
        {"aes256gcm16", {TransformType::encr, wire::encr::aes_gcm_16, 256}},
        {"aes128gcm", {TransformType::encr, wire::encr::aes_gcm_16, 128}},
        {"aes256gcm", {TransformType::encr, wire::encr::aes_gcm_16, 256}},
        {"chacha20poly1305", {TransformType::encr, wire::encr::chacha20_poly1305, 0}},
        {"prfsha256", {TransformType::prf, wire::prf::hmac_sha2_256, 0}},
        {"prfsha384", {TransformType::prf, wire::prf::hmac_sha2_384, 0}},
        {"prfsha512", {TransformType::prf, wire::prf::hmac_sha2_512, 0}},
        {"sha256", {TransformType::integ, wire::integ::hmac_sha2_256_128, 0}},
        {"sha384", {TransformType::integ, wire::integ::hmac_sha2_384_192, 0}},
        {"sha512", {TransformType::integ, wire::integ::hmac_sha2_512_256, 0}},
        {"modp2048", {TransformType::ke, wire::ke::modp2048, 0}},
        {"modp3072", {TransformType::ke, wire::ke::modp3072, 0}},
        {"ecp256", {TransformType::ke, wire::ke::ecp256, 0}},
        {"ecp384", {TransformType::ke, wire::ke::ecp384, 0}},
        {"x25519", {TransformType::ke, wire::ke::curve25519, 0}},
        {"curve25519", {TransformType::ke, wire::ke::curve25519, 0}},
        {"esn", {TransformType::esn, wire::esn::yes, 0}},
        {"noesn", {TransformType::esn, wire::esn::no, 0}},
    };
    return table;
}

// CBC needs an integrity transform; its PRF defaults to the same hash.
std::uint16_t prf_for_integ(std::uint16_t integ) {
    switch (integ) {
        case wire::integ::hmac_sha2_256_128: return wire::prf::hmac_sha2_256;
        case wire::integ::hmac_sha2_384_192: return wire::prf::hmac_sha2_384;
        case wire::integ::hmac_sha2_512_256: return wire::prf::hmac_sha2_512;
        default: return 0;
    }
}

bool has_type(const wire::Proposal& p, TransformType t) {
    return std::any_of(p.transforms.begin(), p.transforms.end(),
                       [t](const Transform& x) { return x.type == t; });
}

bool is_aead(std::uint16_t encr) {
    return encr == wire::encr::aes_gcm_16 || encr == wire::encr::chacha20_poly1305 ||
           encr == wire::encr::aes_gcm_8 || encr == wire::encr::aes_gcm_12;
}

Status validate(const wire::Proposal& p, wire::ProtocolId protocol) {
    bool aead = false, cbc = false;
    for (const auto& t : p.transforms) {
        if (t.type != TransformType::encr) continue;
        (is_aead(t.id) ? aead : cbc) = true;
    }
    if (!aead && !cbc) return Error{"no encryption algorithm"};
    if (aead && cbc) return Error{"AEAD and non-AEAD ciphers cannot share a proposal"};
    if (cbc && !has_type(p, TransformType::integ)) return Error{"CBC needs an integrity algorithm"};
    if (aead && has_type(p, TransformType::integ)) return Error{"AEAD takes no integrity algorithm"};
    if (protocol == wire::ProtocolId::ike) {
        if (!has_type(p, TransformType::prf)) return Error{"no PRF"};
        if (!has_type(p, TransformType::ke)) return Error{"no key exchange group"};
    }
    return {};
}

}  // namespace

Result<wire::Proposal> parse_proposal(const std::string& text, wire::ProtocolId protocol) {
    wire::Proposal p;
    p.protocol = protocol;
    std::stringstream ss(text);
    std::string tok;
    while (std::getline(ss, tok, '-')) {
        auto it = token_table().find(tok);
        if (it == token_table().end()) return Error{"unknown algorithm '" + tok + "'"};
        const Token& t = it->second;
        if (protocol == wire::ProtocolId::ike && t.type == TransformType::esn)
            return Error{"'" + tok + "' is not an IKE algorithm"};
        Transform tr{t.type, t.id, std::nullopt};
        if (t.key_bits) tr.key_length = t.key_bits;
        if (std::find(p.transforms.begin(), p.transforms.end(), tr) == p.transforms.end())
            p.transforms.push_back(tr);
    }
    if (protocol == wire::ProtocolId::ike && !has_type(p, TransformType::prf)) {
        for (const auto& t : std::vector<Transform>(p.transforms))
            if (t.type == TransformType::integ && prf_for_integ(t.id))
                p.transforms.push_back({TransformType::prf, prf_for_integ(t.id), std::nullopt});
    }
    if (protocol == wire::ProtocolId::esp && !has_type(p, TransformType::esn))
        p.transforms.push_back({TransformType::esn, wire::esn::no, std::nullopt});
    std::stable_sort(p.transforms.begin(), p.transforms.end(),
                     [](const Transform& a, const Transform& b) { return a.type < b.type; });
    if (auto st = validate(p, protocol); !st) return Error{"proposal '" + text + "': " + st.error()};
    return p;
}

Result<std::vector<wire::Proposal>> parse_proposals(const std::vector<std::string>& texts,
                                                    wire::ProtocolId protocol) {
    std::vector<wire::Proposal> out;
    for (const auto& t : texts) {
        auto p = parse_proposal(t, protocol);
        if (!p) return Error{p.error()};
        p->number = static_cast<std::uint8_t>(out.size() + 1);
        out.push_back(*p);
    }
    return out;
}

std::vector<wire::Proposal> default_ike_proposals() {
    return *parse_proposals({"aes128gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-"
                             "x25519-ecp256-ecp384-modp3072-modp2048",
                             "aes128-aes256-sha256-sha384-sha512-x25519-ecp256-ecp384-modp3072-modp2048"},
                            wire::ProtocolId::ike);
}

std::vector<wire::Proposal> default_esp_proposals() {
    return *parse_proposals({"aes128gcm16-aes256gcm16-chacha20poly1305", "aes128-aes256-sha256-sha384-sha512"},
                            wire::ProtocolId::esp);
}

namespace {

bool supported(const Transform& t) {
    switch (t.type) {
        case TransformType::encr:
            return crypto::encr_info(t.id, t.key_length.value_or(0)).has_value();
        case TransformType::prf: return crypto::prf_supported(t.id);
        case TransformType::integ: return t.id == wire::integ::none || crypto::integ_info(t.id).has_value();
        case TransformType::ke: return t.id == wire::ke::none || crypto::key_exchange_supported(t.id);
        case TransformType::esn: return t.id == wire::esn::no || t.id == wire::esn::yes;
    }
    return false;
}

void set_selected(Selected& s, const Transform& t) {
    switch (t.type) {
        case TransformType::encr:
            s.encr = t.id;
            s.encr_key_bits = t.key_length.value_or(0);
            break;
        case TransformType::prf: s.prf = t.id; break;
        case TransformType::integ: s.integ = t.id; break;
        case TransformType::ke: s.ke = t.id; break;
        case TransformType::esn: s.esn = t.id; break;
    }
}

// First transform of `theirs` of type `type` that `ours` also lists.
std::optional<Transform> pick(const wire::Proposal& ours, const wire::Proposal& theirs, TransformType type) {
    for (const auto& t : theirs.transforms) {
        if (t.type != type || !supported(t)) continue;
        for (const auto& o : ours.transforms)
            if (o == t) return t;
    }
    return std::nullopt;
}

std::optional<Selected> match(const wire::Proposal& ours, const wire::Proposal& theirs) {
    if (ours.protocol != theirs.protocol) return std::nullopt;
    Selected s;
    for (auto type : {TransformType::encr, TransformType::prf, TransformType::integ, TransformType::ke,
                      TransformType::esn}) {
        const bool we_have = has_type(ours, type), they_have = has_type(theirs, type);
        if (!we_have && !they_have) continue;
        if (we_have != they_have) {
            // A lone "NONE" transform on one side is the same as omitting the type.
            const auto& side = we_have ? ours : theirs;
            const bool only_none = std::all_of(side.transforms.begin(), side.transforms.end(),
                                               [type](const Transform& t) { return t.type != type || t.id == 0; });
            if (only_none) continue;
            return std::nullopt;
        }
        auto t = pick(ours, theirs, type);
        if (!t) return std::nullopt;
        set_selected(s, *t);
    }
    s.number = theirs.number;
    s.spi = theirs.spi;
    return s;
}

}  // namespace

std::optional<Selected> select_proposal(const std::vector<wire::Proposal>& ours,
                                        const std::vector<wire::Proposal>& theirs) {
    for (const auto& t : theirs)
        for (const auto& o : ours)
            if (auto s = match(o, t)) return s;
    return std::nullopt;
}

std::optional<Selected> accept_reply(const std::vector<wire::Proposal>& offered, const wire::Proposal& reply) {
    for (auto type : {TransformType::encr, TransformType::prf, TransformType::integ, TransformType::ke,
                      TransformType::esn}) {
        auto n = std::count_if(reply.transforms.begin(), reply.transforms.end(),
                               [type](const Transform& t) { return t.type == type; });
        if (n > 1) return std::nullopt;
    }
    for (const auto& o : offered) {
        if (o.number != reply.number) continue;
        auto s = match(o, reply);
        if (s) s->spi = reply.spi;
        return s;
    }
    return std::nullopt;
}

std::vector<wire::Proposal> without_ke(std::vector<wire::Proposal> proposals) {
    for (auto& p : proposals)
        std::erase_if(p.transforms, [](const Transform& t) { return t.type == TransformType::ke; });
    return proposals;
}

std::vector<std::uint16_t> ke_groups(const std::vector<wire::Proposal>& proposals) {
    std::vector<std::uint16_t> out;
    for (const auto& p : proposals)
        for (const auto& t : p.transforms)
            if (t.type == TransformType::ke && t.id != 0 &&
                std::find(out.begin(), out.end(), t.id) == out.end())
                out.push_back(t.id);
    return out;
}

wire::Proposal Selected::to_proposal(wire::ProtocolId protocol) const {
    wire::Proposal p;
    p.number = number;
    p.protocol = protocol;
    p.spi = spi;
    Transform e{TransformType::encr, encr, std::nullopt};
    if (encr_key_bits) e.key_length = encr_key_bits;
    p.transforms.push_back(e);
    if (prf) p.transforms.push_back({TransformType::prf, prf, std::nullopt});
    if (integ) p.transforms.push_back({TransformType::integ, integ, std::nullopt});
    if (ke) p.transforms.push_back({TransformType::ke, ke, std::nullopt});
    if (protocol != wire::ProtocolId::ike) p.transforms.push_back({TransformType::esn, esn, std::nullopt});
    return p;
}

std::string Selected::to_string() const {
    std::string s = wire::transform_name(TransformType::encr, encr);
    if (encr_key_bits) s += "_" + std::to_string(encr_key_bits);
    if (integ) s += "/" + wire::transform_name(TransformType::integ, integ);
    if (prf) s += "/" + wire::transform_name(TransformType::prf, prf);
    if (ke) s += "/" + wire::transform_name(TransformType::ke, ke);
    if (esn == wire::esn::yes) s += "/ESN";
    return s;
}

}  // namespace mobiked::ike
