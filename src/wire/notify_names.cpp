// Notify message type names from the IANA "IKEv2 Notify Message Types"
// registries (the spelling strongSwan logs too).
#include <array>
#include <string>

#include "wire/constants.hpp"

namespace mobiked::wire {
namespace {

struct NotifyName {
    std::uint16_t type;
    std::string_view name;
};

constexpr std::array<NotifyName, 43> kNotifies{{
    {notify::unsupported_critical_payload, "UNSUPPORTED_CRITICAL_PAYLOAD"},
    {notify::invalid_ike_spi, "INVALID_IKE_SPI"},
    {notify::invalid_major_version, "INVALID_MAJOR_VERSION"},
    {notify::invalid_syntax, "INVALID_SYNTAX"},
    {notify::invalid_message_id, "INVALID_MESSAGE_ID"},
    {notify::invalid_spi, "INVALID_SPI"},
    {notify::no_proposal_chosen, "NO_PROPOSAL_CHOSEN"},
    {notify::invalid_ke_payload, "INVALID_KE_PAYLOAD"},
    {notify::authentication_failed, "AUTHENTICATION_FAILED"},
    {notify::single_pair_required, "SINGLE_PAIR_REQUIRED"},
    {notify::no_additional_sas, "NO_ADDITIONAL_SAS"},
    {notify::internal_address_failure, "INTERNAL_ADDRESS_FAILURE"},
    {notify::failed_cp_required, "FAILED_CP_REQUIRED"},
    {notify::ts_unacceptable, "TS_UNACCEPTABLE"},
    {notify::invalid_selectors, "INVALID_SELECTORS"},
    {notify::unacceptable_addresses, "UNACCEPTABLE_ADDRESSES"},
    {notify::unexpected_nat_detected, "UNEXPECTED_NAT_DETECTED"},
    {notify::use_assigned_hoa, "USE_ASSIGNED_HoA"},
    {notify::temporary_failure, "TEMPORARY_FAILURE"},
    {notify::child_sa_not_found, "CHILD_SA_NOT_FOUND"},
    {notify::mobike_unsupported_version, "MOBIKE_UNSUPPORTED_VERSION"},
    {notify::initial_contact, "INITIAL_CONTACT"},
    {notify::set_window_size, "SET_WINDOW_SIZE"},
    {notify::additional_ts_possible, "ADDITIONAL_TS_POSSIBLE"},
    {notify::ipcomp_supported, "IPCOMP_SUPPORTED"},
    {notify::nat_detection_source_ip, "NAT_DETECTION_SOURCE_IP"},
    {notify::nat_detection_destination_ip, "NAT_DETECTION_DESTINATION_IP"},
    {notify::cookie, "COOKIE"},
    {notify::use_transport_mode, "USE_TRANSPORT_MODE"},
    {notify::http_cert_lookup_supported, "HTTP_CERT_LOOKUP_SUPPORTED"},
    {notify::rekey_sa, "REKEY_SA"},
    {notify::esp_tfc_padding_not_supported, "ESP_TFC_PADDING_NOT_SUPPORTED"},
    {notify::non_first_fragments_also, "NON_FIRST_FRAGMENTS_ALSO"},
    {notify::mobike_supported, "MOBIKE_SUPPORTED"},
    {notify::additional_ip4_address, "ADDITIONAL_IP4_ADDRESS"},
    {notify::additional_ip6_address, "ADDITIONAL_IP6_ADDRESS"},
    {notify::no_additional_addresses, "NO_ADDITIONAL_ADDRESSES"},
    {notify::update_sa_addresses, "UPDATE_SA_ADDRESSES"},
    {notify::cookie2, "COOKIE2"},
    {notify::no_nats_allowed, "NO_NATS_ALLOWED"},
    {notify::eap_only_authentication, "EAP_ONLY_AUTHENTICATION"},
    {notify::ikev2_fragmentation_supported, "IKEV2_FRAGMENTATION_SUPPORTED"},
    {notify::signature_hash_algorithms, "SIGNATURE_HASH_ALGORITHMS"},
}};

}  // namespace

std::string notify_name(std::uint16_t type) {
    for (const auto& n : kNotifies) {
        if (n.type == type) return std::string(n.name);
    }
    return "NOTIFY(" + std::to_string(type) + ")";
}

}  // namespace mobiked::wire
