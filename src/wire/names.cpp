// Names of protocol numbers, as IANA's IKEv2 registries spell them, for logs
// and the CLI. Unknown numbers keep their value visible: "NOTIFY(12345)".
#include <array>
#include <string>

#include "wire/constants.hpp"

namespace mobiked::wire {
namespace {

template <typename T>
struct NameEntry {
    T value;
    std::string_view name;
};

template <typename T, std::size_t N>
std::string_view lookup(const std::array<NameEntry<T>, N>& table, T value) {
    for (const auto& e : table) {
        if (e.value == value) return e.name;
    }
    return {};
}

// string_view results need storage that outlives the call: one fallback
// string per possible byte value, built once per table.
std::array<std::string, 256> make_fallbacks(const char* prefix) {
    std::array<std::string, 256> names;
    for (std::size_t i = 0; i < names.size(); ++i)
        names[i] = std::string(prefix) + "(" + std::to_string(i) + ")";
    return names;
}

constexpr std::array<NameEntry<ExchangeType>, 4> kExchanges{{
    {ExchangeType::ike_sa_init, "IKE_SA_INIT"},
    {ExchangeType::ike_auth, "IKE_AUTH"},
    {ExchangeType::create_child_sa, "CREATE_CHILD_SA"},
    {ExchangeType::informational, "INFORMATIONAL"},
}};

// RFC 7296 notation, which is also what the one-line message summaries show.
constexpr std::array<NameEntry<PayloadType>, 17> kPayloads{{
    {PayloadType::sa, "SA"},
    {PayloadType::ke, "KE"},
    {PayloadType::id_i, "IDi"},
    {PayloadType::id_r, "IDr"},
    {PayloadType::cert, "CERT"},
    {PayloadType::certreq, "CERTREQ"},
    {PayloadType::auth, "AUTH"},
    {PayloadType::nonce, "No"},
    {PayloadType::notify, "N"},
    {PayloadType::del, "D"},
    {PayloadType::vendor_id, "V"},
    {PayloadType::ts_i, "TSi"},
    {PayloadType::ts_r, "TSr"},
    {PayloadType::sk, "SK"},
    {PayloadType::cp, "CP"},
    {PayloadType::eap, "EAP"},
    {PayloadType::skf, "SKF"},
}};

}  // namespace

std::string_view exchange_name(ExchangeType t) {
    auto name = lookup(kExchanges, t);
    if (!name.empty()) return name;
    static const auto unknown = make_fallbacks("EXCHANGE");
    return unknown[static_cast<std::uint8_t>(t)];
}

std::string_view payload_name(PayloadType t) {
    auto name = lookup(kPayloads, t);
    if (!name.empty()) return name;
    static const auto unknown = make_fallbacks("PAYLOAD");
    return unknown[static_cast<std::uint8_t>(t)];
}

}  // namespace mobiked::wire
