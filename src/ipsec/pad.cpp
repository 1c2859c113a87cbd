#include "ipsec/pad.hpp"

namespace mobiked::ipsec {
namespace {

bool range_within(const AddressRange& inner, const AddressRange& outer) {
    return outer.contains(inner.first) && outer.contains(inner.last);
}

}  // namespace

bool PadEntry::matches(const PeerId& id) const {
    if (id_type != PeerIdType::any && id_type != id.type) return false;
    return name_matches(id_pattern, id.value);
}

bool PadEntry::may_claim(const TrafficSelector& remote) const {
    for (const TrafficSelector& allowed : allowed_remote) {
        if (!range_within(remote.range, allowed.range)) continue;
        if (allowed.protocol != 0 && allowed.protocol != remote.protocol) continue;
        if (allowed.ports_any() ||
            (!remote.ports_opaque() && allowed.port_first <= remote.port_first &&
             remote.port_last <= allowed.port_last))
            return true;
    }
    return false;
}

bool PadEntry::may_use_name(std::string_view name, const PeerId& id) const {
    for (const std::string& n : allowed_names) {
        if (n == "*" ? name_matches(name, id.value) : n == name) return true;
    }
    return false;
}

const PadEntry* Pad::find(const PeerId& id) const {
    for (const PadEntry& e : entries_)
        if (e.matches(id)) return &e;
    return nullptr;
}

const Policy* Pad::authorize_child(const PeerId& id, const SaSelector& requested, const Spd& spd) const {
    const PadEntry* e = find(id);
    if (e == nullptr || !e->may_claim(requested.remote)) return nullptr;
    for (const Policy* p : spd.spd_s())
        if (p->name && e->may_use_name(*p->name, id) && p->admits(requested)) return p;
    return nullptr;
}

}  // namespace mobiked::ipsec
