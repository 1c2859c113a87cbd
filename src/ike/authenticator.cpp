#include "ike/authenticator.hpp"

#include <algorithm>

namespace mobiked::ike {

namespace {

Bytes id_body(const wire::IdPayload& id) {
    Bytes b{static_cast<std::uint8_t>(id.type), 0, 0, 0};
    append(b, id.data);
    return b;
}

// prf(prf(Shared Secret, "Key Pad for IKEv2"), <signed octets>)
Bytes psk_auth(const crypto::Prf& prf, ByteView secret, ByteView octets) {
    static constexpr std::string_view kKeyPad = "Key Pad for IKEv2";
    Bytes pad_key = prf.compute(secret, as_view(kKeyPad));
    Bytes auth = prf.compute(pad_key, octets);
    wipe(pad_key);
    return auth;
}

const SharedSecret* find_psk(const IkeSa& sa, const Config& config) {
    return config.find_secret(sa.local_id, sa.remote_id);
}

}  // namespace

Bytes signed_octets(const IkeSa& sa, bool ours, const wire::IdPayload& id) {
    const bool signer_is_initiator = ours == sa.initiator;
    Bytes out = signer_is_initiator ? sa.init_request : sa.init_response;
    append(out, signer_is_initiator ? sa.nonce_r : sa.nonce_i);
    const Bytes& sk_p = signer_is_initiator ? sa.keys.sk_pi : sa.keys.sk_pr;
    append(out, sa.prf->compute(sk_p, id_body(id)));
    return out;
}

Result<wire::AuthPayload> make_auth(const IkeSa& sa, const Config& config, const wire::IdPayload& our_id) {
    const Bytes octets = signed_octets(sa, true, our_id);
    const LocalAuth& auth = sa.conn->local;
    if (auth.method == AuthMethod::psk) {
        const SharedSecret* s = find_psk(sa, config);
        if (!s) return Error{"no pre-shared key for " + sa.local_id.to_string() + " - " + sa.remote_id.to_string()};
        return wire::AuthPayload{wire::auth_method::shared_key_mic, psk_auth(*sa.prf, s->secret, octets)};
    }
    if (auth.method != AuthMethod::pubkey || !auth.private_key) return Error{"no private key configured"};
    auto scheme = crypto::choose_signature_scheme(auth.private_key->type(), sa.peer_signature_hashes);
    if (!scheme) return Error{"no signature scheme acceptable to the peer for this key"};
    auto sig = crypto::sign_auth(*auth.private_key, *scheme, octets);
    if (!sig) return Error{"signing failed: " + sig.error()};
    return wire::AuthPayload{scheme->auth_method, *sig};
}

namespace {

Status verify_psk(const IkeSa& sa, const Config& config, const wire::AuthPayload& auth, ByteView octets) {
    if (auth.method != wire::auth_method::shared_key_mic) return Error{"peer used AUTH method " + std::to_string(auth.method) + ", expected PSK"};
    const SharedSecret* s = find_psk(sa, config);
    if (!s) return Error{"no pre-shared key for " + sa.local_id.to_string() + " - " + sa.remote_id.to_string()};
    if (!equal_ct(psk_auth(*sa.prf, s->secret, octets), auth.data)) return Error{"pre-shared key mismatch"};
    return {};
}

Status verify_pubkey(const IkeSa& sa, const wire::IdPayload& peer_id, const wire::AuthPayload& auth,
                     const std::vector<crypto::Certificate>& certs, ByteView octets) {
    if (auth.method == wire::auth_method::shared_key_mic) return Error{"peer used PSK, expected a signature"};
    if (certs.empty()) return Error{"peer sent no certificate"};
    const auto& leaf = certs.front();
    std::vector<crypto::Certificate> intermediates(certs.begin() + 1, certs.end());
    if (auto st = crypto::verify_chain(leaf, intermediates, sa.conn->remote.trust_anchors); !st)
        return Error{"certificate of '" + leaf.subject() + "' not trusted: " + st.error()};
    if (!leaf.matches_identity(static_cast<std::uint8_t>(peer_id.type), peer_id.data))
        return Error{"identity '" + Identity::from_payload(peer_id).to_string() + "' not bound to certificate '" +
                     leaf.subject() + "'"};
    return crypto::verify_auth(leaf.public_key(), auth.method, auth.data, octets, crypto::supported_signature_hashes());
}

}  // namespace

Status verify_peer_auth(const IkeSa& sa, const Config& config, const wire::IdPayload& peer_id,
                        const wire::AuthPayload& auth, const std::vector<crypto::Certificate>& peer_certs) {
    const Bytes octets = signed_octets(sa, false, peer_id);
    if (sa.conn->remote.method == AuthMethod::psk) return verify_psk(sa, config, auth, octets);
    if (sa.conn->remote.method == AuthMethod::pubkey) return verify_pubkey(sa, peer_id, auth, peer_certs, octets);
    return Error{"EAP is not supported yet"};
}

}  // namespace mobiked::ike
