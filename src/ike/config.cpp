#include "ike/config.hpp"

#include <algorithm>
#include <charconv>

#include "crypto/dn.hpp"

namespace mobiked::ike {

Result<Identity> Identity::parse(const std::string& text) {
    if (text.empty()) return Error{"empty identity"};
    if (text == "%any") return Identity{wire::IdType::fqdn, {}, true};
    if (auto ip = IpAddress::parse(text))
        return Identity{ip->is_v4() ? wire::IdType::ipv4_addr : wire::IdType::ipv6_addr, to_bytes(ip->bytes()), false};
    if (text.find('=') != std::string::npos) {
        auto der = crypto::dn_from_string(text);
        if (!der) return Error{"identity '" + text + "': " + der.error()};
        return Identity{wire::IdType::der_asn1_dn, *der, false};
    }
    if (text[0] == '@') {
        if (text.size() == 1) return Error{"empty FQDN identity"};
        return Identity{wire::IdType::fqdn, to_bytes(std::string_view(text).substr(1)), false};
    }
    if (text.find('@') != std::string::npos) return Identity{wire::IdType::rfc822_addr, to_bytes(text), false};
    return Identity{wire::IdType::fqdn, to_bytes(text), false};
}

bool Identity::is_pattern() const {
    if (any || data.size() < 3 || data[0] != '*') return false;
    return (type == wire::IdType::rfc822_addr && data[1] == '@') || (type == wire::IdType::fqdn && data[1] == '.');
}

bool Identity::matches(const Identity& other) const {
    if (any || other.any) return true;
    if (is_pattern()) {
        // "*@domain" / "*.domain": the suffix after '*', with something before it.
        if (type != other.type || other.data.size() <= data.size() - 1) return false;
        const std::size_t n = data.size() - 1;
        const auto prefix_end = other.data.end() - static_cast<std::ptrdiff_t>(n);
        // user@domain: the user part is one label, no second '@'.
        if (type == wire::IdType::rfc822_addr && std::find(other.data.begin(), prefix_end, '@') != prefix_end)
            return false;
        return std::equal(data.begin() + 1, data.end(), other.data.end() - static_cast<std::ptrdiff_t>(n),
                          [](std::uint8_t a, std::uint8_t b) {
                              auto lower = [](std::uint8_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
                              return lower(a) == lower(b);
                          });
    }
    return type == other.type && data == other.data;
}

std::string Identity::to_string() const {
    if (any) return "%any";
    switch (type) {
        case wire::IdType::ipv4_addr:
        case wire::IdType::ipv6_addr:
            if (auto ip = IpAddress::from_bytes(data)) return ip->to_string();
            return "<invalid IP id>";
        case wire::IdType::fqdn:
        case wire::IdType::rfc822_addr: {
            std::string s(data.begin(), data.end());
            // Identities come from the network: keep logs printable.
            std::replace_if(s.begin(), s.end(), [](char c) { return c < 0x20 || c > 0x7e; }, '?');
            return s;
        }
        case wire::IdType::der_asn1_dn: return crypto::dn_to_string(data);
        default: return "ID(" + std::to_string(static_cast<int>(type)) + "):" + to_hex(data);
    }
}

std::string_view auth_method_name(AuthMethod m) {
    switch (m) {
        case AuthMethod::psk: return "psk";
        case AuthMethod::pubkey: return "pubkey";
        case AuthMethod::eap: return "eap";
    }
    return "?";
}

namespace {

const std::pair<std::string_view, std::uint8_t> kProtocols[] = {
    {"icmp", 1}, {"tcp", 6}, {"udp", 17}, {"ipv6-icmp", 58}, {"icmpv6", 58}, {"mh", 135}, {"gre", 47}};

bool parse_u16(std::string_view s, std::uint16_t& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && p == s.data() + s.size();
}

// "[proto/port]" or "[proto/lo-hi]" or "[proto]"
Status parse_port_spec(std::string_view spec, TsSpec& ts) {
    auto slash = spec.find('/');
    std::string_view proto = spec.substr(0, slash);
    if (!proto.empty() && proto != "any") {
        std::uint16_t num = 0;
        auto it = std::find_if(std::begin(kProtocols), std::end(kProtocols),
                               [&](const auto& p) { return p.first == proto; });
        if (it != std::end(kProtocols)) ts.protocol = it->second;
        else if (parse_u16(proto, num) && num <= 255) ts.protocol = static_cast<std::uint8_t>(num);
        else return Error{"unknown protocol '" + std::string(proto) + "'"};
    }
    if (slash == std::string_view::npos) return {};
    std::string_view ports = spec.substr(slash + 1);
    if (ports.empty() || ports == "any") return {};
    auto dash = ports.find('-');
    if (!parse_u16(ports.substr(0, dash), ts.port_first)) return Error{"bad port '" + std::string(ports) + "'"};
    ts.port_last = ts.port_first;
    if (dash != std::string_view::npos && !parse_u16(ports.substr(dash + 1), ts.port_last))
        return Error{"bad port range '" + std::string(ports) + "'"};
    if (ts.port_first > ts.port_last) return Error{"port range '" + std::string(ports) + "' is reversed"};
    return {};
}

Result<AddressRange> parse_range(const std::string& text) {
    if (auto slash = text.find('/'); slash != std::string::npos) {
        auto base = IpAddress::parse(text.substr(0, slash));
        unsigned len = 0;
        auto lenstr = std::string_view(text).substr(slash + 1);
        auto [p, ec] = std::from_chars(lenstr.data(), lenstr.data() + lenstr.size(), len);
        if (!base || ec != std::errc{} || p != lenstr.data() + lenstr.size()) return Error{"bad prefix '" + text + "'"};
        auto r = AddressRange::from_prefix(*base, len);
        if (!r) return Error{"prefix length too long in '" + text + "'"};
        return *r;
    }
    if (auto dash = text.find('-'); dash != std::string::npos) {
        auto a = IpAddress::parse(text.substr(0, dash)), b = IpAddress::parse(text.substr(dash + 1));
        if (!a || !b || a->family() != b->family() || *b < *a) return Error{"bad address range '" + text + "'"};
        return AddressRange{*a, *b};
    }
    auto a = IpAddress::parse(text);
    if (!a) return Error{"bad address '" + text + "'"};
    return AddressRange{*a, *a};
}

}  // namespace

Result<TsSpec> TsSpec::parse(const std::string& text) {
    TsSpec ts;
    std::string addr = text, ports;
    if (auto lb = text.find('['); lb != std::string::npos) {
        if (text.back() != ']') return Error{"traffic selector '" + text + "': missing ']'"};
        addr = text.substr(0, lb);
        ports = text.substr(lb + 1, text.size() - lb - 2);
        if (auto st = parse_port_spec(ports, ts); !st) return Error{"traffic selector '" + text + "': " + st.error()};
    }
    if (addr == "dynamic") {
        ts.dynamic = true;
        return ts;
    }
    if (addr == "0.0.0.0/0" || addr == "%any") addr = "0.0.0.0/0";
    auto r = parse_range(addr);
    if (!r) return Error{"traffic selector '" + text + "': " + r.error()};
    ts.range = *r;
    return ts;
}

std::string TsSpec::to_string() const {
    std::string s = dynamic ? "dynamic" : range.to_string();
    if (protocol || port_first != 0 || port_last != 65535) {
        s += "[" + std::to_string(protocol);
        if (port_first != 0 || port_last != 65535) {
            s += "/" + std::to_string(port_first);
            if (port_last != port_first) s += "-" + std::to_string(port_last);
        }
        s += "]";
    }
    return s;
}

const ConnectionConfig* Config::find_connection(const std::string& name) const {
    for (const auto& c : connections)
        if (c.name == name) return &c;
    return nullptr;
}

const SharedSecret* Config::find_secret(const Identity& local, const Identity& remote) const {
    // Prefer a secret naming both identities exactly, then one naming either.
    const SharedSecret* best = nullptr;
    int best_score = 0;
    for (const auto& s : secrets) {
        int score = 0;
        bool local_hit = false, remote_hit = false;
        for (const auto& id : s.ids) {
            if (!id.any && id == local) local_hit = true;
            if (!id.any && id == remote) remote_hit = true;
        }
        bool has_any = std::any_of(s.ids.begin(), s.ids.end(), [](const Identity& i) { return i.any; });
        score = (local_hit ? 2 : 0) + (remote_hit ? 2 : 0) + (has_any ? 1 : 0);
        if (s.ids.empty()) score = 1;
        if ((local_hit || remote_hit || has_any || s.ids.empty()) && score > best_score) {
            best = &s;
            best_score = score;
        }
    }
    return best;
}

}  // namespace mobiked::ike
