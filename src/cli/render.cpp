#include "cli/render.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace mobiked::cli {

using nlohmann::json;

namespace {

std::string str(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return "-";
    if (it->is_string()) return it->get<std::string>();
    return it->dump();
}

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return s;
}

std::string joined(const json& j, const char* key, const char* sep = ", ") {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array() || it->empty()) return "%any";
    std::string out;
    for (const auto& v : *it) out += (out.empty() ? "" : sep) + (v.is_string() ? v.get<std::string>() : v.dump());
    return out;
}

const json& array_of(const json& j, const char* key) {
    static const json empty = json::array();
    auto it = j.find(key);
    return it != j.end() && it->is_array() ? *it : empty;
}

// Virtual IPs as strongSwan prints them: " [10.9.0.1 fd00::1]".
std::string vips(const json& sa, const char* key) {
    const json& list = array_of(sa, key);
    return list.empty() ? std::string() : " [" + joined(sa, key, " ") + "]";
}

// ", rekeying in 3540s" / ", expires in 3900s" when the daemon sent the deadline.
std::string deadline(const json& j, const char* key, const char* what) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return {};
    return std::string(", ") + what + " in " + it->dump() + "s";
}

std::string ms_text(double ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f ms", ms);
    return buf;
}

// "IKE_SA_INIT 1/0, IKE_AUTH 1/0" (requests/responses) of one direction.
std::string exchanges_line(const json& dir) {
    if (!dir.is_object() || dir.empty()) return "none";
    std::string out;
    for (const auto& [name, v] : dir.items()) {
        if (!v.is_object()) continue;
        out += (out.empty() ? "" : ", ") + name + " " + str(v, "request") + "/" + str(v, "response");
    }
    return out;
}

void render_metrics(std::ostringstream& o, const json& j) {
    auto mit = j.find("metrics");
    if (mit == j.end() || !mit->is_object()) return;
    const json& m = *mit;
    if (auto im = m.find("ike_messages"); im != m.end() && im->is_object()) {
        o << "  IKE messages (requests/responses):\n";
        o << "    sent:     " << exchanges_line(im->value("sent", json::object())) << "\n";
        o << "    received: " << exchanges_line(im->value("received", json::object())) << "\n";
    }
    o << "  retransmits: " << str(m, "retransmits") << " (" << str(m, "responses_retransmitted") << " responses resent, "
      << str(m, "exchanges_timed_out") << " exchanges timed out)\n";
    if (auto ev = m.find("events"); ev != m.end() && ev->is_object() && !ev->empty()) {
        o << "  events:";
        for (const auto& [kind, n] : ev->items()) o << " " << kind << "=" << n.dump();
        o << "\n";
    }
    if (auto mv = m.find("moves"); mv != m.end() && mv->is_object()) {
        std::uint64_t total = 0;
        std::string by;
        if (auto c = mv->find("completed"); c != mv->end() && c->is_object())
            for (const auto& [origin, n] : c->items()) {
                if (!n.is_number_unsigned()) continue;
                total += n.get<std::uint64_t>();
                by += (by.empty() ? "" : ", ") + origin + " " + n.dump();
            }
        o << "  MOBIKE moves: " << total;
        if (!by.empty()) o << " (" << by << ")";
        if (auto l = mv->find("last_confirm_ms"); l != mv->end() && l->is_number())
            o << ", last confirmed after " << ms_text(l->get<double>());
        if (auto a = mv->find("mean_confirm_ms"); a != mv->end() && a->is_number())
            o << ", mean " << ms_text(a->get<double>());
        o << "\n";
    }
}

void render_child_conf(std::ostringstream& o, const json& c) {
    o << "  " << str(c, "name") << ": " << upper(str(c, "mode")) << ", rekeying every " << str(c, "rekey_time")
      << "s, start_action " << str(c, "start_action") << "\n";
    o << "    local:  " << joined(c, "local_ts", " ") << "\n";
    o << "    remote: " << joined(c, "remote_ts", " ") << "\n";
    o << "    esp_proposals: " << joined(c, "esp_proposals") << "\n";
}

void render_child_sa(std::ostringstream& o, const json& c) {
    o << "  " << str(c, "name") << ": #" << str(c, "id") << ", " << upper(str(c, "mode")) << ", ESP"
      << (c.value("udp_encap", false) ? " in UDP" : "") << ": " << str(c, "proposal") << "\n";
    o << "    installed " << str(c, "established_s") << "s ago" << deadline(c, "rekey_in_s", "rekeying")
      << deadline(c, "expires_in_s", "expires") << "\n";
    const bool counted = c.contains("packets_in");
    o << "    in  " << str(c, "spi_in");
    if (counted) o << ", " << str(c, "bytes_in") << " bytes, " << str(c, "packets_in") << " packets";
    if (c.value("drops_in", 0) > 0) o << ", " << str(c, "drops_in") << " dropped";
    o << "\n    out " << str(c, "spi_out");
    if (counted) o << ", " << str(c, "bytes_out") << " bytes, " << str(c, "packets_out") << " packets";
    if (c.value("drops_out", 0) > 0) o << ", " << str(c, "drops_out") << " dropped";
    o << "\n";
    o << "    local  " << joined(c, "local_ts", " ") << "\n";
    o << "    remote " << joined(c, "remote_ts", " ") << "\n";
}

// MOBIKE move history, oldest first.
void render_moves(std::ostringstream& o, const json& sa) {
    const json& moves = array_of(sa, "moves");
    if (moves.empty()) return;
    o << "  moves: " << moves.size() << "\n";
    for (const auto& m : moves) {
        char ago[32];
        std::snprintf(ago, sizeof ago, "%.1f", m.value("ago_s", 0.0));
        o << "    " << ago << "s ago, " << str(m, "origin") << ": " << str(m, "from_local") << " <-> " << str(m, "from_remote")
          << "  =>  " << str(m, "to_local") << " <-> " << str(m, "to_remote") << "\n      " << str(m, "reason") << "; "
          << str(m, "state");
        if (auto t = m.find("took_ms"); t != m.end() && t->is_number()) {
            char ms[32];
            std::snprintf(ms, sizeof ms, "%.1f", t->get<double>());
            o << ", confirmed after " << ms << " ms";
        }
        o << "\n";
    }
}

}  // namespace

std::string render_status(const json& j) {
    std::ostringstream o;
    o << "mobiked " << str(j, "version") << ", up " << str(j, "uptime_s") << "s\n";
    o << "  connections: " << str(j, "connections") << "\n";
    o << "  IKE SAs: " << str(j, "ike_sas") << " (" << str(j, "half_open") << " half-open)";
    if (auto it = j.find("ike_sas_by_state"); it != j.end() && it->is_object())
        for (const auto& [state, n] : it->items()) o << ", " << n.dump() << " " << state;
    o << "\n  CHILD_SAs installed: " << str(j, "child_sas") << "\n";
    render_metrics(o, j);
    if (auto ep = j.find("metrics_endpoint"); ep != j.end() && ep->is_string() && !ep->get<std::string>().empty())
        o << "  metrics: http://" << ep->get<std::string>() << "/metrics\n";
    o << "  datagrams: " << str(j, "datagrams_in") << " in, " << str(j, "datagrams_out") << " out, "
      << str(j, "dropped") << " dropped";
    auto dp = j.find("dataplane");
    if (dp == j.end() || !dp->is_object() || dp->empty()) {
        o << ", " << str(j, "esp_dropped") << " ESP dropped (no data plane)\n";
        return o.str();
    }
    o << "\n  data plane on " << str(j, "tun") << ":\n   ";
    int col = 0;
    for (const auto& [name, n] : dp->items()) {
        if (n.is_number() && n.get<std::uint64_t>() == 0 && name.rfind("drop_", 0) == 0) continue;
        o << " " << name << "=" << n.dump();
        if (++col % 4 == 0) o << "\n   ";
    }
    o << "\n";
    return o.str();
}

std::string render_conns(const json& j) {
    std::ostringstream o;
    for (const auto& c : array_of(j, "connections")) {
        o << str(c, "name") << ": IKEv2, rekeying every " << str(c, "rekey_time") << "s"
          << (c.value("mobike", false) ? ", MOBIKE" : "") << (c.value("encap", false) ? ", forced UDP encapsulation" : "")
          << "\n";
        o << "  local:  " << joined(c, "local_addrs") << " [" << str(c, "local_port") << "]\n";
        o << "  remote: " << joined(c, "remote_addrs") << " [" << str(c, "remote_port") << "]\n";
        o << "  proposals: " << joined(c, "proposals") << "\n";
        o << "  local " << str(c, "local_auth") << " authentication:\n    id: " << str(c, "local_id") << "\n";
        o << "  remote " << str(c, "remote_auth") << " authentication:\n    id: " << str(c, "remote_id") << "\n";
        for (const auto& ch : array_of(c, "children")) render_child_conf(o, ch);
    }
    if (array_of(j, "connections").empty()) o << "no connections loaded\n";
    return o.str();
}

std::string render_ike_sa(const json& sa) {
    std::ostringstream o;
    bool init = sa.value("initiator", false);
    o << str(sa, "conn") << ": #" << str(sa, "id") << ", " << upper(str(sa, "state")) << ", IKEv2, " << str(sa, "spi_i")
      << "_i" << (init ? "*" : "") << " " << str(sa, "spi_r") << "_r" << (init ? "" : "*") << "\n";
    o << "  local  '" << str(sa, "local_id") << "' @ " << str(sa, "local")
      << (sa.value("nat_local", false) ? " (behind NAT)" : "") << vips(sa, "local_vips") << "\n";
    o << "  remote '" << str(sa, "remote_id") << "' @ " << str(sa, "remote")
      << (sa.value("nat_remote", false) ? " (behind NAT)" : "") << vips(sa, "remote_vips") << "\n";
    o << "  " << str(sa, "proposal") << "\n";
    o << "  established " << str(sa, "established_s") << "s ago" << deadline(sa, "rekey_in_s", "rekeying")
      << (sa.value("mobike", false) ? ", MOBIKE" : "")
      << (sa.value("mobike", false) && sa.value("mobike_version", 0) > 0 ? " v" + std::to_string(sa.value("mobike_version", 0))
                                                                           : std::string())
      << "\n";
    if (const json& peers = array_of(sa, "peer_addresses"); !peers.empty()) {
        o << "  peer addresses:";
        for (const auto& a : peers) o << " " << (a.is_string() ? a.get<std::string>() : std::string("?"));
        o << "\n";
    }
    if (const json& paths = array_of(sa, "paths"); !paths.empty()) {
        o << "  paths:";
        for (const auto& p : paths)
            o << " " << str(p, "local") << "->" << str(p, "remote") << " (" << str(p, "state") << ")";
        o << "\n";
    }
    render_moves(o, sa);
    for (const auto& c : array_of(sa, "children")) render_child_sa(o, c);
    return o.str();
}

std::string render_sas(const json& j) {
    std::string out;
    for (const auto& sa : array_of(j, "ike_sas")) out += render_ike_sa(sa);
    return out.empty() ? "no IKE SAs\n" : out;
}

std::string render_move(const json& j) {
    return "moving IKE SA " + str(j, "ike_id") + " to " + str(j, "local") + " <-> " + str(j, "remote") +
           " (UPDATE_SA_ADDRESSES sent; list-sas shows when it is confirmed)\n";
}

std::string render_rekey(const json& j) {
    auto c = j.find("child_id");
    std::string what = c != j.end() && c->is_number() ? "CHILD_SA " + c->dump() + " of IKE SA " + str(j, "ike_id")
                                                       : "IKE SA " + str(j, "ike_id");
    return "rekeying " + what + " (CREATE_CHILD_SA sent; `mobikectl monitor` shows when it completes)\n";
}

std::string render_event(const json& e) {
    char when[32] = "-";
    if (auto ts = e.find("ts"); ts != e.end() && ts->is_number()) {
        double t = ts->get<double>();
        std::time_t secs = static_cast<std::time_t>(t);
        std::tm tm{};
        if (localtime_r(&secs, &tm)) {
            char hms[16];
            std::strftime(hms, sizeof hms, "%H:%M:%S", &tm);
            std::snprintf(when, sizeof when, "%s.%03d", hms, static_cast<int>((t - static_cast<double>(secs)) * 1000));
        }
    }
    std::ostringstream o;
    o << when << " " << (e.value("error", false) ? "ERROR " : "") << str(e, "event") << " " << str(e, "conn") << "[#"
      << str(e, "ike_id") << "]";
    if (e.contains("local") || e.contains("remote")) o << " " << str(e, "local") << " <-> " << str(e, "remote");
    if (auto p = e.find("proposal"); p != e.end() && p->is_string()) o << " " << p->get<std::string>();
    if (auto t = e.find("took_ms"); t != e.end() && t->is_number()) o << " (" << str(e, "origin") << ", confirmed after " << ms_text(t->get<double>()) << ")";
    else if (auto og = e.find("origin"); og != e.end() && og->is_string()) o << " (" << og->get<std::string>() << ")";
    if (auto d = e.find("detail"); d != e.end() && d->is_string() && !d->get<std::string>().empty())
        o << ": " << d->get<std::string>();
    o << "\n";
    return o.str();
}

std::string render_terminated(const json& j) {
    return "delete sent for IKE SA(s) " + joined(j, "terminated") + "\n";
}

std::string render_loaded(const json& j) { return "loaded " + str(j, "connections") + " connections\n"; }

std::string render_exported(const json& j) {
    std::string out = "wrote " + str(j, "records") + " ESP SA records to " + str(j, "file") + "\n";
    if (j.contains("ike_file"))
        out += "wrote " + str(j, "ike_records") + " IKE SA records to " + str(j, "ike_file") + "\n";
    for (const auto& s : array_of(j, "skipped")) out += "skipped " + (s.is_string() ? s.get<std::string>() : s.dump()) + "\n";
    out += "use: tshark -o esp.enable_encryption_decode:TRUE with this file as ~/.config/wireshark/esp_sa\n";
    return out;
}

}  // namespace mobiked::cli
