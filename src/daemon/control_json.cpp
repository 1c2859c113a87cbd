// Everything in the daemon that touches nlohmann/json.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "daemon/control.hpp"
#include "wire/constants.hpp"

namespace mobiked::daemon {

using nlohmann::json;

namespace {

// Rejects deep nesting before nlohmann sees it, so hostile input cannot
// make parsing or destruction expensive; strings are skipped correctly.
bool depth_within(std::string_view s, std::size_t limit) {
    std::size_t depth = 0;
    bool in_string = false, escaped = false;
    for (char c : s) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '[' || c == '{') {
            if (++depth > limit) return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return true;
}

const std::pair<std::string_view, ControlCommand> kCommands[] = {
    {"status", ControlCommand::status},       {"list-conns", ControlCommand::list_conns},
    {"list-sas", ControlCommand::list_sas},   {"initiate", ControlCommand::initiate},
    {"terminate", ControlCommand::terminate}, {"load", ControlCommand::load},
    {"export-keys", ControlCommand::export_keys},
    {"move", ControlCommand::move},           {"rekey", ControlCommand::rekey},
    {"monitor", ControlCommand::monitor},
};

// Fields each command accepts besides "cmd"; anything else is an error so a
// misspelt field does not silently change what a request does.
std::vector<std::string_view> allowed_fields(ControlCommand c) {
    switch (c) {
        case ControlCommand::initiate: return {"conn", "child", "timeout"};
        case ControlCommand::terminate: return {"conn", "ike_id"};
        case ControlCommand::export_keys: return {"dir"};
        case ControlCommand::move: return {"ike_id", "local", "remote"};
        case ControlCommand::rekey: return {"ike_id", "child_id"};
        default: return {};
    }
}

Result<std::string> string_field(const json& j, const char* key, std::size_t max_len, bool required) {
    auto it = j.find(key);
    if (it == j.end()) {
        if (required) return Error{std::string("missing field '") + key + "'"};
        return std::string();
    }
    if (!it->is_string()) return Error{std::string("field '") + key + "' must be a string"};
    const auto& s = it->get_ref<const std::string&>();
    if (s.empty() && required) return Error{std::string("field '") + key + "' must not be empty"};
    if (s.size() > max_len) return Error{std::string("field '") + key + "' is too long"};
    if (s.find('\0') != std::string::npos) return Error{std::string("field '") + key + "' contains NUL"};
    return s;
}

Status fill_initiate(const json& j, ControlRequest& r) {
    auto conn = string_field(j, "conn", 255, true);
    if (!conn) return Error{conn.error()};
    auto child = string_field(j, "child", 255, false);
    if (!child) return Error{child.error()};
    r.conn = *conn;
    r.child = *child;
    if (auto it = j.find("timeout"); it != j.end()) {
        if (!it->is_number()) return Error{"field 'timeout' must be a number of seconds"};
        double t = it->get<double>();
        if (!(t > 0 && t <= kMaxInitiateTimeout)) return Error{"field 'timeout' must be in (0, 600]"};
        r.timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(t));
    }
    return {};
}

Status fill_terminate(const json& j, ControlRequest& r) {
    bool has_conn = j.contains("conn"), has_id = j.contains("ike_id");
    if (has_conn == has_id) return Error{"terminate needs exactly one of 'conn' or 'ike_id'"};
    if (has_id) {
        const auto& v = j["ike_id"];
        if (!v.is_number_unsigned()) return Error{"field 'ike_id' must be a non-negative integer"};
        r.ike_id = v.get<std::uint64_t>();
        return {};
    }
    auto conn = string_field(j, "conn", 255, true);
    if (!conn) return Error{conn.error()};
    r.conn = *conn;
    return {};
}

// move: {"cmd":"move","ike_id":N,"local":"ADDR"[,"remote":"ADDR"]}
Status fill_move(const json& j, ControlRequest& r) {
    auto it = j.find("ike_id");
    if (it == j.end() || !it->is_number_unsigned()) return Error{"move needs 'ike_id', a non-negative integer"};
    r.ike_id = it->get<std::uint64_t>();
    auto local = string_field(j, "local", 64, true);
    if (!local) return Error{local.error()};
    auto remote = string_field(j, "remote", 64, false);
    if (!remote) return Error{remote.error()};
    if (!IpAddress::parse(*local)) return Error{"field 'local' is not an IP address"};
    if (!remote->empty() && !IpAddress::parse(*remote)) return Error{"field 'remote' is not an IP address"};
    r.local = *local;
    r.remote = *remote;
    return {};
}

// rekey: {"cmd":"rekey","ike_id":N[,"child_id":M]}
Status fill_rekey(const json& j, ControlRequest& r) {
    auto it = j.find("ike_id");
    if (it == j.end() || !it->is_number_unsigned()) return Error{"rekey needs 'ike_id', a non-negative integer"};
    r.ike_id = it->get<std::uint64_t>();
    if (auto c = j.find("child_id"); c != j.end()) {
        if (!c->is_number_unsigned() || c->get<std::uint64_t>() > 0xffffffffu)
            return Error{"field 'child_id' must be a non-negative 32-bit integer"};
        r.child_id = static_cast<std::uint32_t>(c->get<std::uint64_t>());
    }
    return {};
}

Result<ControlRequest> from_json(const json& j) {
    if (!j.is_object()) return Error{"request must be a JSON object"};
    auto cmd = string_field(j, "cmd", 32, true);
    if (!cmd) return Error{cmd.error()};
    ControlRequest r;
    auto it = std::find_if(std::begin(kCommands), std::end(kCommands), [&](const auto& c) { return c.first == *cmd; });
    if (it == std::end(kCommands)) return Error{"unknown command '" + *cmd + "'"};
    r.cmd = it->second;
    auto allowed = allowed_fields(r.cmd);
    for (const auto& [key, value] : j.items()) {
        if (key != "cmd" && std::find(allowed.begin(), allowed.end(), key) == allowed.end())
            return Error{"unknown field '" + key + "' for " + *cmd};
    }
    Status st;
    if (r.cmd == ControlCommand::initiate) st = fill_initiate(j, r);
    else if (r.cmd == ControlCommand::terminate) st = fill_terminate(j, r);
    else if (r.cmd == ControlCommand::move) st = fill_move(j, r);
    else if (r.cmd == ControlCommand::rekey) st = fill_rekey(j, r);
    else if (r.cmd == ControlCommand::export_keys) {
        auto dir = string_field(j, "dir", 4096, true);
        if (!dir) return Error{dir.error()};
        r.dir = *dir;
    }
    if (!st) return Error{st.error()};
    return r;
}

// Identities and names can carry peer-chosen bytes: never let dump() throw.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string mode_name(ike::IpsecMode m) { return m == ike::IpsecMode::tunnel ? "tunnel" : "transport"; }

std::string start_name(ike::StartAction a) {
    switch (a) {
        case ike::StartAction::none: return "none";
        case ike::StartAction::start: return "start";
        case ike::StartAction::trap: return "trap";
    }
    return "?";
}

std::string proposal_text(const wire::Proposal& p) {
    std::string s;
    for (const auto& t : p.transforms) {
        if (!s.empty()) s += "/";
        s += wire::transform_name(t.type, t.id);
        if (t.key_length) s += "_" + std::to_string(*t.key_length);
    }
    return s;
}

json proposals_json(const std::vector<wire::Proposal>& ps) {
    json a = json::array();
    for (const auto& p : ps) a.push_back(proposal_text(p));
    return a;
}

template <typename T>
json strings_json(const std::vector<T>& v) {
    json a = json::array();
    for (const auto& x : v) a.push_back(x.to_string());
    return a;
}

json child_conf_json(const ike::ChildConfig& c) {
    return {{"name", c.name},
            {"local_ts", strings_json(c.local_ts)},
            {"remote_ts", strings_json(c.remote_ts)},
            {"mode", mode_name(c.mode)},
            {"start_action", start_name(c.start_action)},
            {"esp_proposals", proposals_json(c.esp_proposals)},
            {"rekey_time", std::chrono::duration_cast<std::chrono::seconds>(c.lifetimes.rekey_time).count()}};
}

json vips_json(const std::vector<IpAddress::Family>& families) {
    json out = json::array();
    for (auto f : families) out.push_back(f == IpAddress::Family::v4 ? "0.0.0.0" : "::");
    return out;
}

json conn_json(const ike::ConnectionConfig& c) {
    json children = json::array();
    for (const auto& ch : c.children) children.push_back(child_conf_json(ch));
    json remote = json::array();
    for (const auto& h : c.remote_hosts) remote.push_back(h);
    return {{"name", c.name},
            {"local_addrs", strings_json(c.local_addrs)},
            {"remote_addrs", remote},
            {"local_port", c.local_port},
            {"remote_port", c.remote_port},
            {"local_id", c.local.id.to_string()},
            {"remote_id", c.remote.id.to_string()},
            {"local_auth", std::string(ike::auth_method_name(c.local.method))},
            {"remote_auth", std::string(ike::auth_method_name(c.remote.method))},
            {"proposals", proposals_json(c.ike_proposals)},
            {"mobike", c.mobike},
            {"mobike_versions", c.mobike_versions},
            {"encap", c.encap_force},
            {"pools", c.pools},
            {"vips", vips_json(c.request_virtual_ips)},
            {"rekey_time", std::chrono::duration_cast<std::chrono::seconds>(c.ike_lifetimes.rekey_time).count()},
            {"children", children}};
}

std::int64_t age_seconds(Time now, Time at) {
    if (at == Time{} || at > now) return 0;
    return std::chrono::duration_cast<std::chrono::seconds>(now - at).count();
}

// Seconds until `at` (0 when due); null when there is no such deadline.
json in_seconds(Time now, Time at) {
    if (at == Time{}) return nullptr;
    if (at <= now) return 0;
    return std::chrono::duration_cast<std::chrono::seconds>(at - now).count();
}

json child_sa_json(const ike::ChildSaInfo& c, Time now, const TrafficBySpi& traffic) {
    json j = {{"id", c.child_id},
            {"name", c.name},
            {"spi_in", spi32_hex(c.spi_in)},
            {"spi_out", spi32_hex(c.spi_out)},
            {"mode", mode_name(c.mode)},
            {"proposal", c.proposal},
            {"local_ts", strings_json(c.local_ts)},
            {"remote_ts", strings_json(c.remote_ts)},
            {"udp_encap", c.udp_encap},
            {"established_s", age_seconds(now, c.established_at)},
            {"rekey_in_s", in_seconds(now, c.rekey_at)},
            {"expires_in_s", in_seconds(now, c.expire_at)}};
    if (auto t = traffic.find(c.spi_in); t != traffic.end()) {
        const ChildTraffic& v = t->second;
        j["packets_in"] = v.packets_in;
        j["bytes_in"] = v.bytes_in;
        j["packets_out"] = v.packets_out;
        j["bytes_out"] = v.bytes_out;
        j["drops_in"] = v.drops_in;
        j["drops_out"] = v.drops_out;
    }
    return j;
}

// A virtual IP is ours (client) when our CHILD_SAs were narrowed to it, the
// peer's (gateway) when theirs were; without children, the IKE_AUTH
// initiator is the client.
bool virtual_ip_is_local(const ike::IkeSaInfo& s, const IpAddress& a) {
    auto names = [&](const std::vector<ike::TrafficSelectorRange>& ts) {
        return std::any_of(ts.begin(), ts.end(), [&](const ike::TrafficSelectorRange& t) {
            return t.range.first == a && t.range.last == a;
        });
    };
    for (const auto& c : s.children) {
        if (names(c.local_ts)) return true;
        if (names(c.remote_ts)) return false;
    }
    return s.initiator;
}

json ike_sa_json(const ike::IkeSaInfo& s, Time now, const TrafficBySpi& traffic = {}) {
    json children = json::array();
    for (const auto& c : s.children) children.push_back(child_sa_json(c, now, traffic));
    json local_vips = json::array(), remote_vips = json::array();
    for (const auto& a : s.virtual_ips) (virtual_ip_is_local(s, a) ? local_vips : remote_vips).push_back(a.to_string());
    json peer_addresses = json::array();  // MOBIKE: the peer's announced list (RFC 4555 §3.6), empty if none
    for (const auto& a : s.peer_addresses) peer_addresses.push_back(a.to_string());
    return {{"id", s.id},
            {"conn", s.connection},
            {"state", std::string(ike::ike_state_name(s.state))},
            {"initiator", s.initiator},
            {"spi_i", spi64_hex(s.spi_i)},
            {"spi_r", spi64_hex(s.spi_r)},
            {"local", s.local.to_string()},
            {"remote", s.remote.to_string()},
            {"local_id", s.local_id},
            {"remote_id", s.remote_id},
            {"local_vips", local_vips},
            {"remote_vips", remote_vips},
            {"proposal", s.proposal},
            {"nat_local", s.nat_local},
            {"nat_remote", s.nat_remote},
            {"mobike", s.mobike},
            {"mobike_version", s.mobike_version},  // 1 = RFC 4555, 2 = MOBIKEv2, 0 = no MOBIKE
            {"peer_addresses", peer_addresses},
            {"established_s", age_seconds(now, s.established_at)},
            {"rekey_in_s", in_seconds(now, s.rekey_at)},
            {"children", children}};
}

double to_ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

json metrics_json(const MetricsSnapshot& m) {
    json sent = json::object(), received = json::object();
    for (std::size_t ex = 0; ex < IkeMessageCounters::kExchanges; ++ex) {
        std::string name(IkeMessageCounters::exchange_label(ex));
        for (auto dir : {IkeMessageCounters::kSent, IkeMessageCounters::kReceived}) {
            std::uint64_t req = m.messages.get(dir, ex, false), resp = m.messages.get(dir, ex, true);
            if (req + resp == 0) continue;
            (dir == IkeMessageCounters::kSent ? sent : received)[name] = {{"request", req}, {"response", resp}};
        }
    }
    json moves = {{"completed", m.moves.confirmed_by_origin()}, {"timed", m.moves.timed_count()}};
    moves["last_confirm_ms"] = m.moves.last_seconds() ? json(*m.moves.last_seconds() * 1000) : json(nullptr);
    moves["mean_confirm_ms"] =
        m.moves.timed_count() ? json(m.moves.timed_sum_seconds() * 1000 / static_cast<double>(m.moves.timed_count()))
                              : json(nullptr);
    return {{"ike_messages", {{"sent", sent}, {"received", received}}},
            {"retransmits", m.retransmits},
            {"responses_retransmitted", m.responses_retransmitted},
            {"exchanges_timed_out", m.exchanges_timed_out},
            {"events", m.events},
            {"moves", moves},
            {"drops", m.drops}};
}

json moves_json(const std::vector<MoveRecord>& moves, Time now) {
    json a = json::array();
    for (const auto& m : moves) {
        json j = {{"origin", std::string(origin_name(m.origin))},
                  {"reason", m.reason},
                  {"ago_s", now > m.started ? to_ms(now - m.started) / 1000 : 0.0},
                  {"from_local", m.from_local.to_string()},
                  {"from_remote", m.from_remote.to_string()},
                  {"to_local", m.to_local.to_string()},
                  {"to_remote", m.to_remote.to_string()},
                  {"state", m.confirmed ? "done" : m.superseded ? "superseded" : "pending"}};
        j["took_ms"] = m.took ? json(to_ms(*m.took)) : json(nullptr);
        a.push_back(std::move(j));
    }
    return a;
}

}  // namespace

Result<ControlRequest> parse_control_request(std::string_view line) {
    if (line.size() > kMaxRequestLine) return Error{"request too long"};
    if (!depth_within(line, kMaxRequestDepth)) return Error{"request nested too deeply"};
    json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Error{"request is not valid JSON"};
    return from_json(j);
}

std::string spi64_hex(std::uint64_t spi) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(spi));
    return buf;
}

std::string spi32_hex(std::uint32_t spi) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", spi);
    return buf;
}

std::string response_error(std::string_view message) {
    return dump({{"ok", false}, {"error", std::string(message)}});
}

std::string response_errors(std::string_view message, const std::vector<std::string>& details) {
    return dump({{"ok", false}, {"error", std::string(message)}, {"errors", details}});
}

std::string response_status(const DaemonStatus& s) {
    return dump({{"ok", true},
                 {"version", s.version},
                 {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(s.uptime).count()},
                 {"connections", s.connections},
                 {"ike_sas", s.ike_sas},
                 {"half_open", s.half_open},
                 {"child_sas", s.child_sas},
                 {"ike_sas_by_state", s.ike_sas_by_state},
                 {"datagrams_in", s.datagrams_in},
                 {"datagrams_out", s.datagrams_out},
                 {"dropped", s.dropped},
                 {"esp_dropped", s.esp_dropped},
                 {"tun", s.tun},
                 {"dataplane", s.dataplane},
                 {"metrics_endpoint", s.metrics_endpoint},
                 {"metrics", metrics_json(s.metrics)}});
}

bool is_error_event(ike::Event::Kind k) {
    using K = ike::Event::Kind;
    return k == K::ike_failed || k == K::child_failed || k == K::error_received;
}

std::string response_rekey(std::uint64_t ike_id, std::optional<std::uint32_t> child_id) {
    json j = {{"ok", true}, {"ike_id", ike_id}, {"child_id", child_id ? json(*child_id) : json(nullptr)}};
    return dump(j);
}

std::string response_monitoring() { return dump({{"ok", true}, {"monitoring", true}}); }

std::string monitor_event_line(const MonitorEvent& m) {
    const ike::Event& e = m.event;
    json j = {{"event", std::string(ike::event_kind_name(e.kind))},
              {"error", is_error_event(e.kind)},
              {"ts", m.wall_s},
              {"ike_id", e.ike_sa_id},
              {"conn", e.connection},
              {"detail", e.detail}};
    if (m.local) j["local"] = m.local->to_string();
    if (m.remote) j["remote"] = m.remote->to_string();
    if (!m.proposal.empty()) j["proposal"] = m.proposal;
    if (!m.origin.empty()) j["origin"] = m.origin;
    if (m.took) j["took_ms"] = to_ms(*m.took);
    return dump(j);
}

std::string response_conns(const ike::Config& config) {
    json conns = json::array();
    for (const auto& c : config.connections) conns.push_back(conn_json(c));
    return dump({{"ok", true}, {"connections", conns}});
}

std::string response_sas(const std::vector<ike::IkeSaInfo>& sas, Time now, const TrafficBySpi& traffic) {
    json list = json::array();
    for (const auto& s : sas) list.push_back(ike_sa_json(s, now, traffic));
    return dump({{"ok", true}, {"ike_sas", list}});
}

std::string response_sas(const std::vector<ike::IkeSaInfo>& sas, Time now, const TrafficBySpi& traffic,
                         const MoveHistories& moves, const PathCandidates& paths) {
    json list = json::array();
    for (const auto& s : sas) {
        json j = ike_sa_json(s, now, traffic);
        auto m = moves.find(s.id);
        j["moves"] = moves_json(m == moves.end() ? std::vector<MoveRecord>{} : m->second, now);
        json p = json::array();
        if (auto c = paths.find(s.id); c != paths.end())
            for (const auto& pc : c->second)
                p.push_back({{"local", pc.local.to_string()},
                             {"remote", pc.remote.to_string()},
                             {"state", std::string(candidate_state_name(pc.state))}});
        j["paths"] = std::move(p);
        list.push_back(std::move(j));
    }
    return dump({{"ok", true}, {"ike_sas", list}});
}

std::string response_move(std::uint64_t ike_id, const Endpoint& local, const Endpoint& remote) {
    return dump({{"ok", true}, {"ike_id", ike_id}, {"local", local.to_string()}, {"remote", remote.to_string()}});
}

std::string response_initiated(const ike::IkeSaInfo& sa, Time now, const std::vector<std::string>& warnings) {
    return dump({{"ok", true}, {"ike_sa", ike_sa_json(sa, now)}, {"warnings", warnings}});
}

std::string response_terminated(const std::vector<std::uint64_t>& ids) {
    return dump({{"ok", true}, {"terminated", ids}});
}

std::string response_loaded(std::size_t connections) {
    return dump({{"ok", true}, {"connections", connections}});
}

std::string response_exported(const std::string& path, std::size_t records, const std::vector<std::string>& skipped,
                              const std::string& ike_file, std::size_t ike_records) {
    json j = {{"ok", true}, {"file", path}, {"records", records}, {"skipped", skipped}};
    if (!ike_file.empty()) {
        j["ike_file"] = ike_file;
        j["ike_records"] = ike_records;
    }
    return dump(j);
}

}  // namespace mobiked::daemon
