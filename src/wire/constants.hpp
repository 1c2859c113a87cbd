// Every IKEv2 protocol number mobiked uses, from the IANA IKEv2 registries
// (RFC 7296 §3, RFC 4555, RFC 7383, RFC 7427, draft-mglt-ipsecme-mobikev2).
#pragma once

#include <cstdint>
#include <string_view>

namespace mobiked::wire {

inline constexpr std::uint16_t kIkePort = 500;
inline constexpr std::uint16_t kNatTPort = 4500;
inline constexpr std::size_t kHeaderSize = 28;
inline constexpr std::size_t kGenericHeaderSize = 4;
// Largest IKE message we accept or build; bounds every allocation in decoding.
inline constexpr std::size_t kMaxMessageSize = 65535;

enum class ExchangeType : std::uint8_t {
    ike_sa_init = 34,
    ike_auth = 35,
    create_child_sa = 36,
    informational = 37,
};

namespace flags {
inline constexpr std::uint8_t initiator = 0x08;
inline constexpr std::uint8_t version = 0x10;
inline constexpr std::uint8_t response = 0x20;
}  // namespace flags

enum class PayloadType : std::uint8_t {
    none = 0,
    sa = 33,
    ke = 34,
    id_i = 35,
    id_r = 36,
    cert = 37,
    certreq = 38,
    auth = 39,
    nonce = 40,
    notify = 41,
    del = 42,
    vendor_id = 43,
    ts_i = 44,
    ts_r = 45,
    sk = 46,
    cp = 47,
    eap = 48,
    skf = 53,
};

enum class ProtocolId : std::uint8_t { none = 0, ike = 1, ah = 2, esp = 3 };

enum class TransformType : std::uint8_t { encr = 1, prf = 2, integ = 3, ke = 4, esn = 5 };

namespace encr {
inline constexpr std::uint16_t aes_cbc = 12;
inline constexpr std::uint16_t aes_ctr = 13;
inline constexpr std::uint16_t aes_gcm_8 = 18;
inline constexpr std::uint16_t aes_gcm_12 = 19;
inline constexpr std::uint16_t aes_gcm_16 = 20;
inline constexpr std::uint16_t null_auth_aes_gmac = 21;
inline constexpr std::uint16_t chacha20_poly1305 = 28;
}  // namespace encr

namespace prf {
inline constexpr std::uint16_t hmac_sha1 = 2;
inline constexpr std::uint16_t hmac_sha2_256 = 5;
inline constexpr std::uint16_t hmac_sha2_384 = 6;
inline constexpr std::uint16_t hmac_sha2_512 = 7;
}  // namespace prf

namespace integ {
inline constexpr std::uint16_t none = 0;
inline constexpr std::uint16_t hmac_sha1_96 = 2;
inline constexpr std::uint16_t hmac_sha2_256_128 = 12;
inline constexpr std::uint16_t hmac_sha2_384_192 = 13;
inline constexpr std::uint16_t hmac_sha2_512_256 = 14;
}  // namespace integ

namespace ke {
inline constexpr std::uint16_t none = 0;
inline constexpr std::uint16_t modp2048 = 14;
inline constexpr std::uint16_t modp3072 = 15;
inline constexpr std::uint16_t ecp256 = 19;
inline constexpr std::uint16_t ecp384 = 20;
inline constexpr std::uint16_t ecp521 = 21;
inline constexpr std::uint16_t curve25519 = 31;
inline constexpr std::uint16_t curve448 = 32;
}  // namespace ke

namespace esn {
inline constexpr std::uint16_t no = 0;
inline constexpr std::uint16_t yes = 1;
}  // namespace esn

// Transform attribute type for Key Length (TV format, AF bit set on the wire).
inline constexpr std::uint16_t kAttrKeyLength = 14;

enum class IdType : std::uint8_t {
    ipv4_addr = 1,
    fqdn = 2,
    rfc822_addr = 3,
    ipv6_addr = 5,
    der_asn1_dn = 9,
    der_asn1_gn = 10,
    key_id = 11,
};

namespace cert_encoding {
inline constexpr std::uint8_t x509_signature = 4;
inline constexpr std::uint8_t hash_and_url_x509 = 12;
}  // namespace cert_encoding

namespace auth_method {
inline constexpr std::uint8_t rsa_signature = 1;
inline constexpr std::uint8_t shared_key_mic = 2;
inline constexpr std::uint8_t dss_signature = 3;
inline constexpr std::uint8_t ecdsa_sha256_p256 = 9;
inline constexpr std::uint8_t ecdsa_sha384_p384 = 10;
inline constexpr std::uint8_t ecdsa_sha512_p521 = 11;
inline constexpr std::uint8_t digital_signature = 14;
}  // namespace auth_method

namespace ts_type {
inline constexpr std::uint8_t ipv4_addr_range = 7;
inline constexpr std::uint8_t ipv6_addr_range = 8;
}  // namespace ts_type

namespace cfg_type {
inline constexpr std::uint8_t request = 1;
inline constexpr std::uint8_t reply = 2;
inline constexpr std::uint8_t set = 3;
inline constexpr std::uint8_t ack = 4;
}  // namespace cfg_type

namespace cfg_attr {
inline constexpr std::uint16_t internal_ip4_address = 1;
inline constexpr std::uint16_t internal_ip4_netmask = 2;
inline constexpr std::uint16_t internal_ip4_dns = 3;
inline constexpr std::uint16_t internal_address_expiry = 5;
inline constexpr std::uint16_t internal_ip6_address = 8;
inline constexpr std::uint16_t internal_ip6_dns = 10;
inline constexpr std::uint16_t internal_ip4_subnet = 13;
inline constexpr std::uint16_t supported_attributes = 14;
inline constexpr std::uint16_t internal_ip6_subnet = 15;
}  // namespace cfg_attr

// Notify message types. Errors are < 16384, status types >= 16384.
namespace notify {
inline constexpr std::uint16_t unsupported_critical_payload = 1;
inline constexpr std::uint16_t invalid_ike_spi = 4;
inline constexpr std::uint16_t invalid_major_version = 5;
inline constexpr std::uint16_t invalid_syntax = 7;
inline constexpr std::uint16_t invalid_message_id = 9;
inline constexpr std::uint16_t invalid_spi = 11;
inline constexpr std::uint16_t no_proposal_chosen = 14;
inline constexpr std::uint16_t invalid_ke_payload = 17;
inline constexpr std::uint16_t authentication_failed = 24;
inline constexpr std::uint16_t single_pair_required = 34;
inline constexpr std::uint16_t no_additional_sas = 35;
inline constexpr std::uint16_t internal_address_failure = 36;
inline constexpr std::uint16_t failed_cp_required = 37;
inline constexpr std::uint16_t ts_unacceptable = 38;
inline constexpr std::uint16_t invalid_selectors = 39;
inline constexpr std::uint16_t unacceptable_addresses = 40;
inline constexpr std::uint16_t unexpected_nat_detected = 41;
inline constexpr std::uint16_t use_assigned_hoa = 42;
inline constexpr std::uint16_t temporary_failure = 43;
inline constexpr std::uint16_t child_sa_not_found = 44;
// draft-mglt-ipsecme-mobikev2: private-use error range.
inline constexpr std::uint16_t mobike_unsupported_version = 8192;

inline constexpr std::uint16_t initial_contact = 16384;
inline constexpr std::uint16_t set_window_size = 16385;
inline constexpr std::uint16_t additional_ts_possible = 16386;
inline constexpr std::uint16_t ipcomp_supported = 16387;
inline constexpr std::uint16_t nat_detection_source_ip = 16388;
inline constexpr std::uint16_t nat_detection_destination_ip = 16389;
inline constexpr std::uint16_t cookie = 16390;
inline constexpr std::uint16_t use_transport_mode = 16391;
inline constexpr std::uint16_t http_cert_lookup_supported = 16392;
inline constexpr std::uint16_t rekey_sa = 16393;
inline constexpr std::uint16_t esp_tfc_padding_not_supported = 16394;
inline constexpr std::uint16_t non_first_fragments_also = 16395;
inline constexpr std::uint16_t mobike_supported = 16396;
inline constexpr std::uint16_t additional_ip4_address = 16397;
inline constexpr std::uint16_t additional_ip6_address = 16398;
inline constexpr std::uint16_t no_additional_addresses = 16399;
inline constexpr std::uint16_t update_sa_addresses = 16400;
inline constexpr std::uint16_t cookie2 = 16401;
inline constexpr std::uint16_t no_nats_allowed = 16402;
inline constexpr std::uint16_t eap_only_authentication = 16417;
inline constexpr std::uint16_t ikev2_fragmentation_supported = 16430;
inline constexpr std::uint16_t signature_hash_algorithms = 16431;

inline constexpr bool is_error(std::uint16_t type) { return type < 16384; }
}  // namespace notify

// RFC 7427 hash algorithm identifiers (SIGNATURE_HASH_ALGORITHMS).
namespace hash_alg {
inline constexpr std::uint16_t sha2_256 = 2;
inline constexpr std::uint16_t sha2_384 = 3;
inline constexpr std::uint16_t sha2_512 = 4;
inline constexpr std::uint16_t identity = 5;
}  // namespace hash_alg

// Names for logs and the CLI; "UNKNOWN" style fallbacks include the number.
std::string_view exchange_name(ExchangeType t);
std::string_view payload_name(PayloadType t);
std::string notify_name(std::uint16_t type);
std::string transform_name(TransformType type, std::uint16_t id);

}  // namespace mobiked::wire
