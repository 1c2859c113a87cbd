// The Peer Authorization Database (RFC 4301 §4.4.3): which peers may run
// IKE with us, how each must authenticate, and which SA selectors and SPD
// Names each may claim — the link from an authenticated IKE identity to the
// SPD. Ordered, first match wins (§4.4.3.1). Control path only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.hpp"
#include "ipsec/selectors.hpp"
#include "ipsec/spd.hpp"

namespace mobiked::ipsec {

// IKEv2 ID types (RFC 7296 §3.5) as the PAD matches them.
enum class PeerIdType : std::uint8_t {
    ipv4_addr = 1,
    fqdn = 2,
    rfc822_addr = 3,
    ipv6_addr = 5,
    der_asn1_dn = 9,
    key_id = 11,
    any = 255,  // PAD entry pattern only: any type
};

struct PeerId {
    PeerIdType type = PeerIdType::fqdn;
    std::string value;  // text form: dotted/colon address, FQDN, user@domain, DN string, hex key id
};

enum class AuthMethod : std::uint8_t { psk, certificate, eap };

struct PadEntry {
    // Identity pattern (see name_matches): exact, "*", "*.domain", "*@domain".
    PeerIdType id_type = PeerIdType::any;
    std::string id_pattern = "*";

    AuthMethod auth = AuthMethod::certificate;
    Bytes psk;                 // auth == psk
    std::string trust_anchor;  // auth == certificate: CA name the peer's chain must reach
    std::string eap_server;    // auth == eap: AAA server or method configuration name

    // Child SA constraints: the remote-side selectors the peer may claim
    // (its own addresses / inner address pool); empty = none allowed.
    std::vector<TrafficSelector> allowed_remote;
    // SPD Names this peer may be matched against; "*" = its own identity.
    std::vector<std::string> allowed_names;

    std::string label;

    bool matches(const PeerId& id) const;
    // May the peer ask for an SA whose remote side is `remote`?
    bool may_claim(const TrafficSelector& remote) const;
    // May the peer be bound to SPD entries carrying Name `name`?
    bool may_use_name(std::string_view name, const PeerId& id) const;
};

class Pad {
public:
    void add(PadEntry e) { entries_.push_back(std::move(e)); }
    void clear() { entries_.clear(); }
    std::size_t size() const { return entries_.size(); }
    const std::vector<PadEntry>& entries() const { return entries_; }

    // First entry matching the identity; nullptr: the peer may not talk to us.
    const PadEntry* find(const PeerId& id) const;

    // The SPD policy an authenticated peer's child SA request falls under:
    // the PAD entry must allow the remote selector, and the first PROTECT
    // policy whose Name the entry allows and whose selectors admit the
    // request is returned. nullptr when the PAD or the SPD says no.
    const Policy* authorize_child(const PeerId& id, const SaSelector& requested, const Spd& spd) const;

private:
    std::vector<PadEntry> entries_;
};

}  // namespace mobiked::ipsec
