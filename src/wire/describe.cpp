// One-line message summaries for logs, in the notation strongSwan operators
// know: "IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]".
#include <array>

#include "wire/message.hpp"

namespace mobiked::wire {
namespace {

struct ShortName {
    std::uint16_t type;
    std::string_view name;
};

// Abbreviations for the notifies that appear in nearly every exchange; the
// rest use their full registry name.
constexpr std::array<ShortName, 14> kShortNotifies{{
    {notify::nat_detection_source_ip, "NATD_S_IP"},
    {notify::nat_detection_destination_ip, "NATD_D_IP"},
    {notify::mobike_supported, "MOBIKE_SUP"},
    {notify::additional_ip4_address, "ADD_4_ADDR"},
    {notify::additional_ip6_address, "ADD_6_ADDR"},
    {notify::no_additional_addresses, "NO_ADD_ADDR"},
    {notify::update_sa_addresses, "UPD_SA_ADDR"},
    {notify::initial_contact, "INIT_CONTACT"},
    {notify::ikev2_fragmentation_supported, "FRAG_SUP"},
    {notify::signature_hash_algorithms, "HASH_ALG"},
    {notify::esp_tfc_padding_not_supported, "ESP_TFC_PAD_N"},
    {notify::non_first_fragments_also, "NON_FIRST_FRAG"},
    {notify::no_proposal_chosen, "NO_PROP"},
    {notify::authentication_failed, "AUTH_FAILED"},
}};

std::string notify_short_name(std::uint16_t type) {
    for (const auto& n : kShortNotifies) {
        if (n.type == type) return std::string(n.name);
    }
    return notify_name(type);
}

std::string payload_token(const Payload& p) {
    if (auto* n = std::get_if<NotifyPayload>(&p.body))
        return "N(" + notify_short_name(n->type) + ")";
    if (auto* f = std::get_if<EncryptedFragmentPayload>(&p.body)) {
        return "SKF(" + std::to_string(f->fragment_number) + "/" +
               std::to_string(f->total_fragments) + ")";
    }
    return std::string(payload_name(p.type));
}

}  // namespace

std::string describe(const Header& h, const std::vector<Payload>& payloads) {
    std::string s(exchange_name(h.exchange));
    s += h.is_response() ? " response " : " request ";
    s += std::to_string(h.message_id);
    s += " [ ";
    for (const auto& p : payloads) s += payload_token(p) + " ";
    s += "]";
    return s;
}

std::string describe(const Message& m) { return describe(m.header, m.payloads); }

}  // namespace mobiked::wire
