// Lookups over decoded payload lists; results point into the list.
#include "wire/message.hpp"

namespace mobiked::wire {

const Payload* find_payload(const std::vector<Payload>& payloads, PayloadType type) {
    for (const auto& p : payloads) {
        if (p.type == type) return &p;
    }
    return nullptr;
}

const NotifyPayload* find_notify(const std::vector<Payload>& payloads, std::uint16_t type) {
    for (const auto& p : payloads) {
        auto* n = std::get_if<NotifyPayload>(&p.body);
        if (n && n->type == type) return n;
    }
    return nullptr;
}

std::vector<const NotifyPayload*> find_notifies(const std::vector<Payload>& payloads,
                                                std::uint16_t type) {
    std::vector<const NotifyPayload*> out;
    for (const auto& p : payloads) {
        auto* n = std::get_if<NotifyPayload>(&p.body);
        if (n && n->type == type) out.push_back(n);
    }
    return out;
}

}  // namespace mobiked::wire
