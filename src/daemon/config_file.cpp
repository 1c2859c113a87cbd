#include "daemon/config_file.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <libconfig.h++>
#include <optional>

#include "daemon/metrics.hpp"
#include "ike/proposals.hpp"

namespace mobiked::daemon {

const std::vector<std::string>& log_subsystems() {
    static const std::vector<std::string> names{"default", "ike", "cfg", "net", "ctl", "dmn", "dp"};
    return names;
}

bool is_log_level(std::string_view level) {
    return level == "debug" || level == "info" || level == "warning" || level == "error" || level == "off";
}

namespace {

using libconfig::Setting;

// Duration text: plain seconds, or a number with suffix s, m, h or d as strongSwan accepts.
std::optional<Duration> parse_duration_text(std::string_view t) {
    double mult = 1;
    if (!t.empty()) {
        switch (t.back()) {
            case 's': mult = 1; t.remove_suffix(1); break;
            case 'm': mult = 60; t.remove_suffix(1); break;
            case 'h': mult = 3600; t.remove_suffix(1); break;
            case 'd': mult = 86400; t.remove_suffix(1); break;
            default: break;
        }
    }
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc{} || p != t.data() + t.size() || v * mult > 365.0 * 86400) return std::nullopt;
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(static_cast<double>(v) * mult));
}

class Translator {
public:
    Translator(std::string file, std::string base_dir, const CredentialLoader& creds,
               std::vector<std::string>& errors)
        : file_(std::move(file)), base_dir_(std::move(base_dir)), creds_(creds), errors_(errors) {}

    void run(const Setting& root, LoadedConfig& out);

private:
    // --- diagnostics and typed access ------------------------------------
    void error(const Setting& s, const std::string& msg) { error_at(line_of(s), msg); }
    void error_at(unsigned line, const std::string& msg) {
        if (errors_.size() < kMaxErrors) errors_.push_back(file_ + ":" + std::to_string(line) + ": " + msg);
        else if (errors_.size() == kMaxErrors) errors_.push_back(file_ + ": too many errors, giving up");
    }
    static unsigned line_of(const Setting& s);
    static std::string path_of(const Setting& s) { return s.isRoot() ? std::string("<top>") : s.getPath(); }

    bool expect_group(const Setting& s);
    void check_keys(const Setting& group, std::initializer_list<std::string_view> allowed);
    const Setting* member(const Setting& group, const char* key) const {
        return group.exists(key) ? &group[key] : nullptr;
    }
    std::optional<std::string> string_of(const Setting& s);
    std::optional<long long> int_of(const Setting& s, long long min, long long max);
    std::optional<double> number_of(const Setting& s, double min, double max);
    std::optional<bool> bool_of(const Setting& s);
    std::optional<std::vector<std::string>> strings_of(const Setting& s);
    std::optional<Duration> duration_of(const Setting& s);
    std::string resolve(const std::string& path) const;

    template <typename F>
    void with(const Setting& group, const char* key, F&& f) {
        if (const Setting* s = member(group, key)) f(*s);
    }

    // --- sections ----------------------------------------------------------
    void daemon_section(const Setting& s, DaemonSettings& d);
    void log_section(const Setting& s, DaemonSettings& d);
    void connection(const Setting& s, const DaemonSettings& d, ike::ConnectionConfig& c);
    void addresses(const Setting& s, ike::ConnectionConfig& c);
    void connection_options(const Setting& s, ike::ConnectionConfig& c);
    void retransmit(const Setting& s, ike::RetransmitConfig& r);
    void lifetimes(const Setting& s, ike::Lifetimes& l);
    void local_auth(const Setting& s, ike::LocalAuth& a);
    void remote_auth(const Setting& s, ike::RemoteAuth& a);
    std::optional<ike::AuthMethod> auth_method(const Setting& group);
    void child(const Setting& s, ike::ChildConfig& c);
    std::vector<ike::TsSpec> selectors(const Setting& s);
    std::vector<wire::Proposal> proposals(const Setting& s, wire::ProtocolId proto);
    void secret(const Setting& s, ike::SharedSecret& out);
    void pool(const Setting& s, ike::AddressPoolConfig& out);
    void virtual_ips(const Setting& conn, const std::vector<ike::AddressPoolConfig>& pools, ike::ConnectionConfig& c);
    void cross_checks(const Setting& conn, const ike::ConnectionConfig& c);

    std::string file_;
    std::string base_dir_;
    const CredentialLoader& creds_;
    std::vector<std::string>& errors_;
};

unsigned Translator::line_of(const Setting& s) {
    // Scalars inside arrays may carry no line of their own; their parent does.
    const Setting* cur = &s;
    while (cur->getSourceLine() == 0 && !cur->isRoot()) cur = &cur->getParent();
    return cur->getSourceLine();
}

bool Translator::expect_group(const Setting& s) {
    if (s.getType() == Setting::TypeGroup) return true;
    error(s, "'" + path_of(s) + "' must be a group { ... }");
    return false;
}

void Translator::check_keys(const Setting& group, std::initializer_list<std::string_view> allowed) {
    for (int i = 0; i < group.getLength(); ++i) {
        const Setting& c = group[i];
        const char* name = c.getName();
        std::string_view n = name ? name : "";
        if (std::find(allowed.begin(), allowed.end(), n) == allowed.end())
            error(c, "unknown setting '" + std::string(n) + "' in '" + path_of(group) + "'");
    }
}

std::optional<std::string> Translator::string_of(const Setting& s) {
    if (s.getType() == Setting::TypeString) return std::string(s.c_str());
    error(s, "'" + path_of(s) + "' must be a string");
    return std::nullopt;
}

std::optional<long long> Translator::int_of(const Setting& s, long long min, long long max) {
    if (s.getType() != Setting::TypeInt && s.getType() != Setting::TypeInt64) {
        error(s, "'" + path_of(s) + "' must be an integer");
        return std::nullopt;
    }
    // libconfig++ refuses to read a TypeInt setting as long long.
    long long v = s.getType() == Setting::TypeInt ? static_cast<long long>(static_cast<int>(s)) : static_cast<long long>(s);
    if (v < min || v > max) {
        error(s, "'" + path_of(s) + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
        return std::nullopt;
    }
    return v;
}

std::optional<double> Translator::number_of(const Setting& s, double min, double max) {
    double v = 0;
    if (s.getType() == Setting::TypeFloat) v = s;
    else if (s.getType() == Setting::TypeInt) v = static_cast<int>(s);
    else if (s.getType() == Setting::TypeInt64) v = static_cast<double>(static_cast<long long>(s));
    else {
        error(s, "'" + path_of(s) + "' must be a number");
        return std::nullopt;
    }
    if (!std::isfinite(v) || v < min || v > max) {
        error(s, "'" + path_of(s) + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
        return std::nullopt;
    }
    return v;
}

std::optional<bool> Translator::bool_of(const Setting& s) {
    if (s.getType() == Setting::TypeBoolean) return static_cast<bool>(s);
    error(s, "'" + path_of(s) + "' must be true or false");
    return std::nullopt;
}

// A list of strings may also be written as a single string.
std::optional<std::vector<std::string>> Translator::strings_of(const Setting& s) {
    if (s.getType() == Setting::TypeString) return std::vector<std::string>{s.c_str()};
    if (s.getType() != Setting::TypeArray && s.getType() != Setting::TypeList) {
        error(s, "'" + path_of(s) + "' must be a string or a list of strings [\"...\"]");
        return std::nullopt;
    }
    if (static_cast<std::size_t>(s.getLength()) > kMaxListItems) {
        error(s, "'" + path_of(s) + "' has more than " + std::to_string(kMaxListItems) + " entries");
        return std::nullopt;
    }
    std::vector<std::string> out;
    for (int i = 0; i < s.getLength(); ++i) {
        if (s[i].getType() != Setting::TypeString) {
            error(s[i], "'" + path_of(s) + "' must contain only strings");
            return std::nullopt;
        }
        out.emplace_back(s[i].c_str());
    }
    return out;
}

std::optional<Duration> Translator::duration_of(const Setting& s) {
    if (s.getType() == Setting::TypeString) {
        if (auto d = parse_duration_text(s.c_str())) return d;
        error(s, "'" + path_of(s) + "': bad duration (seconds, or a number with suffix s, m, h or d)");
        return std::nullopt;
    }
    auto v = number_of(s, 0, 365.0 * 86400);
    if (!v) return std::nullopt;
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(*v));
}

std::string Translator::resolve(const std::string& path) const {
    std::filesystem::path p(path);
    if (p.is_absolute() || base_dir_.empty()) return path;
    return (std::filesystem::path(base_dir_) / p).lexically_normal().string();
}

void Translator::run(const Setting& root, LoadedConfig& out) {
    check_keys(root, {"daemon", "connections", "secrets", "pools"});
    with(root, "daemon", [&](const Setting& s) { daemon_section(s, out.daemon); });
    out.ike.cookie_threshold = 1000;
    with(root, "daemon", [&](const Setting& s) {
        with(s, "cookie_threshold", [&](const Setting& v) {
            if (auto n = int_of(v, 0, 1000000)) out.ike.cookie_threshold = static_cast<std::size_t>(*n);
        });
        with(s, "half_open_per_source", [&](const Setting& v) {
            if (auto n = int_of(v, 1, 1000000)) out.ike.half_open_per_source = static_cast<std::size_t>(*n);
        });
        with(s, "max_half_open", [&](const Setting& v) {
            if (auto n = int_of(v, 1, 10000000)) out.ike.max_half_open = static_cast<std::size_t>(*n);
        });
        with(s, "export_ike_keys", [&](const Setting& v) { if (auto b = bool_of(v)) out.ike.export_ike_keys = *b; });
    });
    // Pools first: connections name them.
    with(root, "pools", [&](const Setting& s) {
        if (!expect_group(s)) return;
        if (static_cast<std::size_t>(s.getLength()) > kMaxPools)
            return error(s, "more than " + std::to_string(kMaxPools) + " pools");
        for (int i = 0; i < s.getLength(); ++i) {
            ike::AddressPoolConfig p;
            pool(s[i], p);
            if (std::any_of(out.ike.pools.begin(), out.ike.pools.end(),
                            [&](const ike::AddressPoolConfig& q) { return q.name == p.name; }))
                error(s[i], "pool '" + p.name + "' defined twice");
            out.ike.pools.push_back(std::move(p));
        }
    });
    with(root, "connections", [&](const Setting& s) {
        if (!expect_group(s)) return;
        if (static_cast<std::size_t>(s.getLength()) > kMaxConnections)
            return error(s, "more than " + std::to_string(kMaxConnections) + " connections");
        for (int i = 0; i < s.getLength(); ++i) {
            ike::ConnectionConfig c;
            connection(s[i], out.daemon, c);
            virtual_ips(s[i], out.ike.pools, c);
            out.ike.connections.push_back(std::move(c));
        }
    });
    with(root, "secrets", [&](const Setting& s) {
        if (!expect_group(s)) return;
        if (static_cast<std::size_t>(s.getLength()) > kMaxSecrets)
            return error(s, "more than " + std::to_string(kMaxSecrets) + " secrets");
        for (int i = 0; i < s.getLength(); ++i) {
            ike::SharedSecret sec;
            secret(s[i], sec);
            out.ike.secrets.push_back(std::move(sec));
        }
    });
}

void Translator::daemon_section(const Setting& s, DaemonSettings& d) {
    if (!expect_group(s)) return;
    check_keys(s, {"control_socket", "ike_port", "natt_port", "log", "cookie_threshold", "half_open_per_source",
                   "max_half_open", "export_ike_keys", "tun", "tun_mtu", "nat_keepalive", "metrics", "enforce", "discard",
                   "df_bit", "offload", "workers"});
    with(s, "enforce", [&](const Setting& v) { if (auto b = bool_of(v)) d.enforce = *b; });
    with(s, "offload", [&](const Setting& v) { if (auto b = bool_of(v)) d.offload = *b; });
    with(s, "workers", [&](const Setting& v) {
        if (v.getType() == Setting::TypeString) {
            if (std::string(v.c_str()) != "auto") return error(v, "'workers' must be \"auto\" or a number from 1 to 64");
            d.workers = 0;
        } else if (auto n = int_of(v, 1, DaemonSettings::kMaxWorkers)) {
            d.workers = static_cast<unsigned>(*n);
        }
    });
    with(s, "discard", [&](const Setting& v) {
        d.discard = selectors(v);
        for (const auto& t : d.discard)
            if (t.dynamic) return error(v, "'discard' selectors must be concrete (no \"dynamic\")");
    });
    with(s, "df_bit", [&](const Setting& v) {
        auto str = string_of(v);
        if (!str) return;
        if (*str != "copy" && *str != "set" && *str != "clear") return error(v, "'df_bit' must be copy, set or clear");
        d.df_bit = *str;
    });
    with(s, "control_socket", [&](const Setting& v) {
        auto str = string_of(v);
        if (!str) return;
        // sun_path holds 108 bytes including the terminating NUL.
        if (str->empty() || (*str)[0] != '/' || str->size() > 107)
            return error(v, "'control_socket' must be an absolute path of at most 107 bytes");
        d.control_socket = *str;
    });
    with(s, "ike_port", [&](const Setting& v) {
        if (auto n = int_of(v, 1, 65535)) d.ike_port = static_cast<std::uint16_t>(*n);
    });
    with(s, "natt_port", [&](const Setting& v) {
        if (auto n = int_of(v, 1, 65535)) d.natt_port = static_cast<std::uint16_t>(*n);
    });
    if (d.ike_port == d.natt_port) {
        const Setting* at = member(s, "natt_port") ? member(s, "natt_port") : member(s, "ike_port");
        error(at ? *at : s, "'ike_port' and 'natt_port' must differ");
    }
    with(s, "tun", [&](const Setting& v) {
        auto str = string_of(v);
        if (!str) return;
        if (str->size() > 15 || str->find_first_of("/ ") != std::string::npos)
            return error(v, "'tun' must be an interface name of at most 15 characters (\"\" disables the data plane)");
        d.tun_name = *str;
    });
    with(s, "nat_keepalive", [&](const Setting& v) {
        if (auto n = int_of(v, 0, 3600)) d.nat_keepalive = std::chrono::seconds(*n);
    });
    with(s, "tun_mtu", [&](const Setting& v) {
        if (auto n = int_of(v, 1280, 9000)) d.tun_mtu = static_cast<unsigned>(*n);
    });
    with(s, "log", [&](const Setting& v) { log_section(v, d); });
    with(s, "metrics", [&](const Setting& v) {
        auto str = string_of(v);
        if (!str || str->empty()) return;
        if (auto at = parse_listen_address(*str); !at)
            return error(v, "'metrics' must be \"ADDRESS:PORT\" (e.g. \"127.0.0.1:9464\", \"[::1]:9464\"): " + at.error());
        d.metrics = *str;
    });
}

void Translator::log_section(const Setting& s, DaemonSettings& d) {
    if (!expect_group(s)) return;
    for (int i = 0; i < s.getLength(); ++i) {
        const Setting& v = s[i];
        std::string name = v.getName() ? v.getName() : "";
        const auto& known = log_subsystems();
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            std::string list;
            for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
            error(v, "unknown log subsystem '" + name + "' (known: " + list + ")");
            continue;
        }
        auto level = string_of(v);
        if (!level) continue;
        if (!is_log_level(*level)) {
            error(v, "log level for '" + name + "' must be debug, info, warning, error or off");
            continue;
        }
        d.log_levels[name] = *level;
    }
}

void Translator::connection(const Setting& s, const DaemonSettings& d, ike::ConnectionConfig& c) {
    c.name = s.getName() ? s.getName() : "";
    if (!expect_group(s)) return;
    check_keys(s, {"local_addrs", "remote_addrs", "local_port", "remote_port", "proposals", "mobike", "mobike_versions",
                   "encap", "send_certreq", "rekey_time", "life_time", "reauth_time", "dpd_delay", "dpd_action", "path_timeout", "path_probe_interval", "retransmit", "local",
                   "remote", "children", "pools", "vips", "fragment_size"});
    c.local_port = d.ike_port;
    c.remote_port = d.ike_port;
    addresses(s, c);
    connection_options(s, c);
    c.ike_proposals = ike::default_ike_proposals();
    with(s, "proposals", [&](const Setting& v) { c.ike_proposals = proposals(v, wire::ProtocolId::ike); });
    if (const Setting* l = member(s, "local")) local_auth(*l, c.local);
    else error(s, "connection '" + c.name + "' needs a 'local' group");
    if (const Setting* r = member(s, "remote")) remote_auth(*r, c.remote);
    else error(s, "connection '" + c.name + "' needs a 'remote' group");
    with(s, "children", [&](const Setting& g) {
        if (!expect_group(g)) return;
        if (static_cast<std::size_t>(g.getLength()) > kMaxChildren)
            return error(g, "more than " + std::to_string(kMaxChildren) + " children");
        for (int i = 0; i < g.getLength(); ++i) {
            ike::ChildConfig ch;
            child(g[i], ch);
            c.children.push_back(std::move(ch));
        }
    });
    cross_checks(s, c);
}

void Translator::addresses(const Setting& s, ike::ConnectionConfig& c) {
    with(s, "local_addrs", [&](const Setting& v) {
        auto list = strings_of(v);
        if (!list) return;
        for (const auto& a : *list) {
            if (a == "%any") continue;
            if (auto ip = IpAddress::parse(a)) c.local_addrs.push_back(*ip);
            else error(v, "'" + path_of(v) + "': '" + a + "' is not an IP address or %any");
        }
    });
    with(s, "remote_addrs", [&](const Setting& v) {
        auto list = strings_of(v);
        if (!list) return;
        for (const auto& a : *list) {
            if (a == "%any") continue;
            if (IpAddress::parse(a)) c.remote_hosts.push_back(a);
            else error(v, "'" + path_of(v) + "': '" + a + "' is not an IP address or %any");
        }
    });
    with(s, "local_port", [&](const Setting& v) {
        if (auto n = int_of(v, 1, 65535)) c.local_port = static_cast<std::uint16_t>(*n);
    });
    with(s, "remote_port", [&](const Setting& v) {
        if (auto n = int_of(v, 1, 65535)) c.remote_port = static_cast<std::uint16_t>(*n);
    });
}

void Translator::connection_options(const Setting& s, ike::ConnectionConfig& c) {
    with(s, "mobike", [&](const Setting& v) { if (auto b = bool_of(v)) c.mobike = *b; });
    with(s, "mobike_versions", [&](const Setting& v) {
        // MOBIKEv2 (draft-mglt-ipsecme-mobikev2): 1 = RFC 4555, 2 = MOBIKEv2, 255 = NONE.
        if (!v.isArray() && !v.isList()) return error(v, "'" + path_of(v) + "' must be a list of versions, e.g. [1, 2]");
        std::vector<std::uint8_t> list;
        bool ok = true;
        for (int i = 0; i < v.getLength() && i < 16; ++i) {
            auto n = int_of(v[i], 1, 255);
            if (!n) {
                ok = false;
                continue;
            }
            if (*n != 1 && *n != 2 && *n != 255) {
                error(v[i], "'" + path_of(v) + "': unknown MOBIKE version " + std::to_string(*n) +
                                " (1 = RFC 4555, 2 = MOBIKEv2, 255 = NONE)");
                ok = false;
                continue;
            }
            list.push_back(static_cast<std::uint8_t>(*n));
        }
        if (!ok) return;
        if (v.getLength() > 16) return error(v, "'" + path_of(v) + "': more than 16 versions");
        if (std::none_of(list.begin(), list.end(), [](std::uint8_t x) { return x == 1 || x == 2; }))
            return error(v, "'" + path_of(v) + "' needs version 1 or 2 (to turn MOBIKE off: mobike = false)");
        c.mobike_versions = std::move(list);
    });
    with(s, "encap", [&](const Setting& v) { if (auto b = bool_of(v)) c.encap_force = *b; });
    with(s, "fragment_size", [&](const Setting& v) {
        if (auto n = int_of(v, 576, 65535)) c.fragment_size = static_cast<std::size_t>(*n);
    });
    with(s, "send_certreq", [&](const Setting& v) { if (auto b = bool_of(v)) c.send_certreq = *b; });
    with(s, "dpd_delay", [&](const Setting& v) { if (auto t = duration_of(v)) c.dpd_delay = *t; });
    with(s, "reauth_time", [&](const Setting& v) {
        auto t = duration_of(v);
        if (!t) return;
        if (*t > Duration::zero() && *t < std::chrono::seconds(1))
            return error(v, "'" + path_of(v) + "' must be 0 (off) or at least 1 second");
        c.reauth_time = *t;
    });
    with(s, "dpd_action", [&](const Setting& v) {
        auto m = string_of(v);
        if (!m) return;
        if (*m == "clear") c.dpd_action = ike::DpdAction::clear;
        else if (*m == "restart") c.dpd_action = ike::DpdAction::restart;
        else if (*m == "trap") c.dpd_action = ike::DpdAction::trap;
        else error(v, "'" + path_of(v) + "' must be clear, restart or trap");
    });
    with(s, "path_timeout", [&](const Setting& v) { if (auto t = duration_of(v)) c.path_timeout = *t; });
    with(s, "path_probe_interval", [&](const Setting& v) { if (auto t = duration_of(v)) c.path_probe_interval = *t; });
    if (c.path_probe_interval > Duration::zero() && c.path_timeout > Duration::zero() &&
        c.path_probe_interval >= c.path_timeout)
        error(*member(s, "path_probe_interval"), "'" + path_of(*member(s, "path_probe_interval")) +
                                                     "' must be shorter than path_timeout");
    with(s, "retransmit", [&](const Setting& v) { retransmit(v, c.retransmit); });
    lifetimes(s, c.ike_lifetimes);
}

void Translator::retransmit(const Setting& s, ike::RetransmitConfig& r) {
    if (!expect_group(s)) return;
    check_keys(s, {"timeout", "base", "tries", "jitter"});
    with(s, "timeout", [&](const Setting& v) {
        if (auto t = number_of(v, 0.01, 3600)) r.timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(*t));
    });
    with(s, "base", [&](const Setting& v) { if (auto b = number_of(v, 1.0, 10.0)) r.base = *b; });
    with(s, "tries", [&](const Setting& v) { if (auto n = int_of(v, 0, 20)) r.tries = static_cast<unsigned>(*n); });
    with(s, "jitter", [&](const Setting& v) {
        if (auto t = number_of(v, 0, 60)) r.jitter_max = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(*t));
    });
}

// rekey_time alone sets life_time to rekey_time + 10 %, as strongSwan's over_time does.
void Translator::lifetimes(const Setting& s, ike::Lifetimes& l) {
    bool life_given = false;
    with(s, "rekey_time", [&](const Setting& v) {
        if (auto t = duration_of(v)) l.rekey_time = *t;
    });
    with(s, "life_time", [&](const Setting& v) {
        if (auto t = duration_of(v)) {
            l.life_time = *t;
            life_given = true;
        }
    });
    if (!life_given && member(s, "rekey_time")) l.life_time = l.rekey_time + l.rekey_time / 10;
    if (life_given && l.rekey_time > Duration::zero() && l.life_time < l.rekey_time)
        error(*member(s, "life_time"), "'" + path_of(*member(s, "life_time")) + "' must not be shorter than rekey_time");
}

std::optional<ike::AuthMethod> Translator::auth_method(const Setting& group) {
    const Setting* v = member(group, "auth");
    if (!v) {
        error(group, "'" + path_of(group) + "' needs 'auth' (psk or pubkey)");
        return std::nullopt;
    }
    auto str = string_of(*v);
    if (!str) return std::nullopt;
    if (*str == "psk") return ike::AuthMethod::psk;
    if (*str == "pubkey") return ike::AuthMethod::pubkey;
    error(*v, "'" + path_of(*v) + "' must be psk or pubkey");
    return std::nullopt;
}

void Translator::local_auth(const Setting& s, ike::LocalAuth& a) {
    if (!expect_group(s)) return;
    check_keys(s, {"auth", "id", "certs", "key"});
    if (auto m = auth_method(s)) a.method = *m;
    bool have_id = false;
    Bytes first_subject;
    with(s, "id", [&](const Setting& v) {
        auto str = string_of(v);
        if (!str) return;
        auto id = ike::Identity::parse(*str);
        if (!id) return error(v, "'" + path_of(v) + "': " + id.error());
        if (id->any) return error(v, "'" + path_of(v) + "': our own identity cannot be %any");
        if (id->is_pattern()) return error(v, "'" + path_of(v) + "': our own identity cannot be a pattern");
        a.id = *id;
        have_id = true;
    });
    with(s, "certs", [&](const Setting& v) {
        auto list = strings_of(v);
        if (!list) return;
        for (const auto& f : *list) {
            auto certs = creds_.certificates(resolve(f));
            if (!certs) {
                error(v, "'" + path_of(v) + "': " + certs.error());
                continue;
            }
            if (a.certificates.empty()) first_subject = certs->first_subject_der;
            a.certificates.insert(a.certificates.end(), certs->certificates.begin(), certs->certificates.end());
        }
    });
    with(s, "key", [&](const Setting& v) {
        auto f = string_of(v);
        if (!f) return;
        auto key = creds_.private_key(resolve(*f));
        if (!key) error(v, "'" + path_of(v) + "': " + key.error());
        else a.private_key = *key;
    });
    if (a.method == ike::AuthMethod::pubkey) {
        if (!member(s, "certs")) error(s, "'" + path_of(s) + "': auth = pubkey needs 'certs'");
        if (!member(s, "key")) error(s, "'" + path_of(s) + "': auth = pubkey needs 'key'");
        // Like strongSwan, default to the certificate's subject DN.
        if (!have_id && !first_subject.empty()) {
            a.id = ike::Identity{wire::IdType::der_asn1_dn, first_subject, false};
            have_id = true;
        }
    }
    if (!have_id && !member(s, "id")) error(s, "'" + path_of(s) + "' needs 'id'");
}

void Translator::remote_auth(const Setting& s, ike::RemoteAuth& a) {
    if (!expect_group(s)) return;
    check_keys(s, {"auth", "id", "cacerts"});
    if (auto m = auth_method(s)) a.method = *m;
    a.id = ike::Identity{wire::IdType::fqdn, {}, true};
    with(s, "id", [&](const Setting& v) {
        auto str = string_of(v);
        if (!str) return;
        auto id = ike::Identity::parse(*str);
        if (!id) return error(v, "'" + path_of(v) + "': " + id.error());
        a.id = *id;
    });
    with(s, "cacerts", [&](const Setting& v) {
        auto list = strings_of(v);
        if (!list) return;
        for (const auto& f : *list) {
            auto certs = creds_.certificates(resolve(f));
            if (!certs) error(v, "'" + path_of(v) + "': " + certs.error());
            else a.trust_anchors.insert(a.trust_anchors.end(), certs->certificates.begin(), certs->certificates.end());
        }
    });
    if (a.method == ike::AuthMethod::pubkey && !member(s, "cacerts"))
        error(s, "'" + path_of(s) + "': auth = pubkey needs 'cacerts'");
}

void Translator::child(const Setting& s, ike::ChildConfig& c) {
    c.name = s.getName() ? s.getName() : "";
    if (!expect_group(s)) return;
    check_keys(s, {"local_ts", "remote_ts", "esp_proposals", "mode", "start_action", "rekey_time", "life_time"});
    c.local_ts = {*ike::TsSpec::parse("dynamic")};
    c.remote_ts = {*ike::TsSpec::parse("dynamic")};
    with(s, "local_ts", [&](const Setting& v) { c.local_ts = selectors(v); });
    with(s, "remote_ts", [&](const Setting& v) { c.remote_ts = selectors(v); });
    c.esp_proposals = ike::default_esp_proposals();
    with(s, "esp_proposals", [&](const Setting& v) { c.esp_proposals = proposals(v, wire::ProtocolId::esp); });
    with(s, "mode", [&](const Setting& v) {
        auto m = string_of(v);
        if (!m) return;
        if (*m == "tunnel") c.mode = ike::IpsecMode::tunnel;
        else if (*m == "transport") c.mode = ike::IpsecMode::transport;
        else error(v, "'" + path_of(v) + "' must be tunnel or transport");
    });
    with(s, "start_action", [&](const Setting& v) {
        auto m = string_of(v);
        if (!m) return;
        if (*m == "none") c.start_action = ike::StartAction::none;
        else if (*m == "start") c.start_action = ike::StartAction::start;
        else if (*m == "trap") c.start_action = ike::StartAction::trap;
        else error(v, "'" + path_of(v) + "' must be none, start or trap");
    });
    lifetimes(s, c.lifetimes);
}

std::vector<ike::TsSpec> Translator::selectors(const Setting& s) {
    std::vector<ike::TsSpec> out;
    auto list = strings_of(s);
    if (!list) return out;
    if (list->empty()) error(s, "'" + path_of(s) + "' must not be empty");
    for (const auto& t : *list) {
        auto ts = ike::TsSpec::parse(t);
        if (ts) out.push_back(*ts);
        else error(s, "'" + path_of(s) + "': " + ts.error());
    }
    return out;
}

std::vector<wire::Proposal> Translator::proposals(const Setting& s, wire::ProtocolId proto) {
    auto list = strings_of(s);
    if (!list) return {};
    if (list->empty()) {
        error(s, "'" + path_of(s) + "' must not be empty (omit it for the defaults)");
        return {};
    }
    auto p = ike::parse_proposals(*list, proto);
    if (!p) {
        error(s, "'" + path_of(s) + "': " + p.error());
        return {};
    }
    return *p;
}

// Never echo the secret's value: not in type errors, not in hex errors.
void Translator::secret(const Setting& s, ike::SharedSecret& out) {
    if (!expect_group(s)) return;
    check_keys(s, {"ids", "secret"});
    with(s, "ids", [&](const Setting& v) {
        auto list = strings_of(v);
        if (!list) return;
        for (const auto& t : *list) {
            auto id = ike::Identity::parse(t);
            if (id) out.ids.push_back(*id);
            else error(v, "'" + path_of(v) + "': " + id.error());
        }
    });
    const Setting* v = member(s, "secret");
    if (!v) return error(s, "'" + path_of(s) + "' needs 'secret'");
    if (v->getType() != Setting::TypeString) return error(*v, "'" + path_of(*v) + "' must be a string");
    std::string_view text = v->c_str();
    if (text.starts_with("0x") || text.starts_with("0X")) {
        bool ok = false;
        out.secret = from_hex(text.substr(2), &ok);
        if (!ok) return error(*v, "'" + path_of(*v) + "': invalid hex (value not shown)");
    } else {
        out.secret = to_bytes(text);
    }
    if (out.secret.empty()) error(*v, "'" + path_of(*v) + "' must not be empty");
}

// A pool is "a.b.c.d/len" or "first-last". A prefix gives up its network
// address (and, for IPv4, its broadcast address) as strongSwan's pools do.
std::optional<AddressRange> parse_pool_range(std::string_view t) {
    if (auto slash = t.find('/'); slash != std::string_view::npos) {
        auto base = IpAddress::parse(t.substr(0, slash));
        unsigned len = 0;
        auto lt = t.substr(slash + 1);
        auto [p, ec] = std::from_chars(lt.data(), lt.data() + lt.size(), len);
        if (!base || lt.empty() || ec != std::errc{} || p != lt.data() + lt.size()) return std::nullopt;
        auto r = AddressRange::from_prefix(*base, len);
        if (!r || r->first != *base) return std::nullopt;  // host bits set
        const unsigned width = base->is_v4() ? 32 : 128;
        auto step = [](IpAddress a, int delta) {
            Bytes raw = to_bytes(a.bytes());
            for (std::size_t i = raw.size(); i-- > 0;) {
                int v = raw[i] + delta;
                raw[i] = static_cast<std::uint8_t>(v);
                if (v >= 0 && v <= 255) break;
            }
            return *IpAddress::from_bytes(raw);
        };
        if (width - len >= 2) {
            r->first = step(r->first, 1);
            if (base->is_v4()) r->last = step(r->last, -1);
        }
        return r;
    }
    auto dash = t.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    auto a = IpAddress::parse(t.substr(0, dash));
    auto b = IpAddress::parse(t.substr(dash + 1));
    if (!a || !b || a->family() != b->family() || *b < *a) return std::nullopt;
    return AddressRange{*a, *b};
}

void Translator::pool(const Setting& s, ike::AddressPoolConfig& out) {
    out.name = s.getName() ? s.getName() : "";
    if (!expect_group(s)) return;
    check_keys(s, {"addrs", "dns"});
    const Setting* a = member(s, "addrs");
    if (!a) return error(s, "pool '" + out.name + "' needs 'addrs' (\"10.9.0.0/24\" or \"first-last\")");
    if (auto text = string_of(*a)) {
        if (auto r = parse_pool_range(*text)) out.range = *r;
        else error(*a, "'" + path_of(*a) + "': '" + *text + "' is not a prefix (10.9.0.0/24) or range (a-b) of one family");
    }
    with(s, "dns", [&](const Setting& v) {
        auto list = strings_of(v);
        if (!list) return;
        for (const auto& d : *list) {
            if (auto ip = IpAddress::parse(d)) out.dns.push_back(*ip);
            else error(v, "'" + path_of(v) + "': '" + d + "' is not an IP address");
        }
    });
}

// Gateway: `pools` names top-level pools. Client: `vips` = ["0.0.0.0"] and/or
// ["::"] asks the gateway for an inner address of that family.
void Translator::virtual_ips(const Setting& conn, const std::vector<ike::AddressPoolConfig>& pools,
                             ike::ConnectionConfig& c) {
    if (conn.getType() != Setting::TypeGroup) return;
    with(conn, "pools", [&](const Setting& v) {
        auto list = strings_of(v);
        if (!list) return;
        for (const auto& name : *list) {
            if (std::none_of(pools.begin(), pools.end(), [&](const ike::AddressPoolConfig& p) { return p.name == name; }))
                error(v, "'" + path_of(v) + "': no pool named '" + name + "' (define it under the top-level 'pools')");
            else if (std::find(c.pools.begin(), c.pools.end(), name) == c.pools.end())
                c.pools.push_back(name);
        }
    });
    with(conn, "vips", [&](const Setting& v) {
        auto list = strings_of(v);
        if (!list) return;
        for (const auto& t : *list) {
            auto ip = IpAddress::parse(t);
            if (!ip || !ip->is_unspecified()) {
                error(v, "'" + path_of(v) + "': '" + t + "' must be 0.0.0.0 or :: (ask the gateway for an address)");
                continue;
            }
            if (std::find(c.request_virtual_ips.begin(), c.request_virtual_ips.end(), ip->family()) ==
                c.request_virtual_ips.end())
                c.request_virtual_ips.push_back(ip->family());
        }
    });
}

void Translator::cross_checks(const Setting& conn, const ike::ConnectionConfig& c) {
    bool starts = std::any_of(c.children.begin(), c.children.end(),
                              [](const ike::ChildConfig& ch) { return ch.start_action == ike::StartAction::start; });
    if (starts && c.remote_hosts.empty())
        error(conn, "connection '" + c.name + "': start_action = start needs a concrete remote_addrs");
    if (c.dpd_action != ike::DpdAction::clear && c.remote_hosts.empty())
        error(conn, "connection '" + c.name + "': dpd_action = restart or trap needs a concrete remote_addrs");
}

std::string dir_of(const std::string& path) {
    auto parent = std::filesystem::path(path).parent_path();
    return parent.empty() ? std::string(".") : parent.string();
}

// libconfig would read other files on "@include"; the size bound and the
// fuzzer's file-less contract rely on a single self-contained text.
bool reject_includes(std::string_view text, const std::string& name, std::vector<std::string>& errors) {
    unsigned line = 1;
    bool found = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        std::string_view l = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        if (l.find("@include") != std::string_view::npos) {
            auto first = l.find_first_not_of(" \t");
            if (first != std::string_view::npos && l.substr(first).starts_with("@include")) {
                errors.push_back(name + ":" + std::to_string(line) + ": @include is not supported");
                found = true;
            }
        }
        if (end == std::string_view::npos) break;
        pos = end + 1;
        ++line;
    }
    return found;
}

}  // namespace

ConfigParseResult parse_config_text(std::string_view text, const std::string& display_name,
                                    const std::string& base_dir, const CredentialLoader& creds) {
    ConfigParseResult r;
    if (text.size() > kMaxConfigBytes) {
        r.errors.push_back(display_name + ":1: file larger than " + std::to_string(kMaxConfigBytes) + " bytes");
        return r;
    }
    if (reject_includes(text, display_name, r.errors)) return r;
    libconfig::Config cfg;
    try {
        cfg.readString(std::string(text));
    } catch (const libconfig::ParseException& e) {
        r.errors.push_back(display_name + ":" + std::to_string(e.getLine()) + ": " + e.getError());
        return r;
    }
    try {
        Translator(display_name, base_dir, creds, r.errors).run(cfg.getRoot(), r.config);
    } catch (const libconfig::ConfigException& e) {
        // Lookups are guarded with exists(); reaching here is a translator bug, not a crash.
        r.errors.push_back(display_name + ":0: internal error reading settings: " + e.what());
    }
    return r;
}

ConfigParseResult parse_config_file(const std::string& path, const CredentialLoader& creds) {
    ConfigParseResult r;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        r.errors.push_back(path + ":0: not a readable regular file");
        return r;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        r.errors.push_back(path + ":0: cannot open file");
        return r;
    }
    std::string text(kMaxConfigBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad()) {
        r.errors.push_back(path + ":0: read error");
        return r;
    }
    return parse_config_text(text, path, dir_of(path), creds);
}

}  // namespace mobiked::daemon
