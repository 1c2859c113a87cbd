#include "daemon/metrics.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace mobiked::daemon {

// ------------------------------------------------------------ IKE messages

std::string_view IkeMessageCounters::exchange_label(std::size_t slot) {
    static constexpr std::string_view kNames[kExchanges] = {"IKE_SA_INIT",   "IKE_AUTH",         "CREATE_CHILD_SA",
                                                            "INFORMATIONAL", "IKE_INTERMEDIATE", "other"};
    return slot < kExchanges ? kNames[slot] : kNames[kExchanges - 1];
}

std::size_t IkeMessageCounters::slot_of(std::uint8_t exchange_type) {
    switch (exchange_type) {
        case 34: return 0;
        case 35: return 1;
        case 36: return 2;
        case 37: return 3;
        case 43: return 4;  // RFC 9242
        default: return kExchanges - 1;
    }
}

void IkeMessageCounters::count(Direction dir, ByteView data) {
    // IKE header: SPIs (16), next payload, version, exchange type (18), flags (19).
    if (data.size() < 28) {
        ++counts_[dir][kExchanges - 1][0];
        return;
    }
    const bool response = (data[19] & 0x20) != 0;
    ++counts_[dir][slot_of(data[18])][response ? 1 : 0];
}

// ------------------------------------------------------------ MOBIKE moves

void MoveStats::confirmed(std::string_view origin, std::optional<Duration> took) {
    ++confirmed_[std::string(origin)];
    if (!took) return;
    const double s = std::chrono::duration<double>(*took).count();
    for (std::size_t i = 0; i < kBucketsSeconds.size(); ++i)
        if (s <= kBucketsSeconds[i]) {
            ++buckets_[i];
            break;
        }
    ++timed_;
    sum_s_ += s;
    last_s_ = s;
}

// ------------------------------------------------------------ Prometheus

std::string PromWriter::escape_label(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string PromWriter::format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    // Integers (counters) print exactly up to 2^53; others with enough digits.
    if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
        return buf;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void PromWriter::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    // HELP text escapes backslash and newline only.
    for (char c : help) {
        if (c == '\\') out_ += "\\\\";
        else if (c == '\n') out_ += "\\n";
        else out_ += c;
    }
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void PromWriter::sample(std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels,
                        double value) {
    out_ += name;
    if (!labels.empty()) {
        out_ += '{';
        bool first = true;
        for (const auto& [k, v] : labels) {
            if (!first) out_ += ',';
            first = false;
            out_ += k;
            out_ += "=\"";
            out_ += escape_label(v);
            out_ += '"';
        }
        out_ += '}';
    }
    out_ += ' ';
    out_ += format_value(value);
    out_ += '\n';
}

namespace {

double d(std::uint64_t v) { return static_cast<double>(v); }

}  // namespace

std::string render_prometheus(const MetricsSnapshot& s) {
    PromWriter w;
    w.family("mobiked_build_info", "gauge", "mobiked version (always 1)");
    w.sample("mobiked_build_info", {{"version", s.version}}, 1);
    w.family("mobiked_uptime_seconds", "gauge", "Seconds since the daemon started");
    w.sample("mobiked_uptime_seconds", s.uptime_s);
    w.family("mobiked_connections", "gauge", "Connections loaded from the configuration");
    w.sample("mobiked_connections", d(s.connections));

    w.family("mobiked_ike_sas", "gauge", "IKE SAs by state");
    for (const auto& [state, n] : s.ike_sas_by_state) w.sample("mobiked_ike_sas", {{"state", state}}, d(n));
    w.family("mobiked_ike_sas_half_open", "gauge", "Responder IKE SAs between IKE_SA_INIT and IKE_AUTH");
    w.sample("mobiked_ike_sas_half_open", d(s.half_open));
    w.family("mobiked_child_sas", "gauge", "CHILD_SAs installed");
    w.sample("mobiked_child_sas", d(s.child_sas));

    w.family("mobiked_ike_messages_total", "counter",
             "IKE datagrams by exchange type, direction and request/response (retransmissions and fragments included)");
    for (std::size_t dir = 0; dir < 2; ++dir)
        for (std::size_t ex = 0; ex < IkeMessageCounters::kExchanges; ++ex)
            for (bool resp : {false, true})
                w.sample("mobiked_ike_messages_total",
                         {{"exchange", std::string(IkeMessageCounters::exchange_label(ex))},
                          {"direction", dir == IkeMessageCounters::kSent ? "sent" : "received"},
                          {"type", resp ? "response" : "request"}},
                         d(s.messages.get(static_cast<IkeMessageCounters::Direction>(dir), ex, resp)));
    w.family("mobiked_ike_retransmits_total", "counter", "IKE requests retransmitted after a timeout");
    w.sample("mobiked_ike_retransmits_total", d(s.retransmits));
    w.family("mobiked_ike_responses_retransmitted_total", "counter", "Cached IKE responses resent for a repeated request");
    w.sample("mobiked_ike_responses_retransmitted_total", d(s.responses_retransmitted));
    w.family("mobiked_ike_exchanges_timed_out_total", "counter", "IKE exchanges given up after every retransmission");
    w.sample("mobiked_ike_exchanges_timed_out_total", d(s.exchanges_timed_out));
    w.family("mobiked_events_total", "counter", "Engine events by kind (established, rekeyed, moved, deleted, failed, ...)");
    for (const auto& [kind, n] : s.events) w.sample("mobiked_events_total", {{"kind", kind}}, d(n));

    w.family("mobiked_datagrams_total", "counter", "UDP datagrams on the IKE ports (IKE, ESP-in-UDP, keepalives)");
    w.sample("mobiked_datagrams_total", {{"direction", "received"}}, d(s.datagrams_in));
    w.sample("mobiked_datagrams_total", {{"direction", "sent"}}, d(s.datagrams_out));
    w.family("mobiked_datagrams_dropped_total", "counter", "Datagrams dropped before the engine (malformed, send failures)");
    w.sample("mobiked_datagrams_dropped_total", d(s.datagrams_dropped));
    w.family("mobiked_esp_without_dataplane_total", "counter", "ESP-in-UDP packets dropped because there is no data plane");
    w.sample("mobiked_esp_without_dataplane_total", d(s.esp_no_dataplane));
    w.family("mobiked_nat_keepalives_sent_total", "counter", "NAT-T keepalives sent");
    w.sample("mobiked_nat_keepalives_sent_total", d(s.nat_keepalives));

    w.family("mobiked_mobike_moves_started_total", "counter", "MOBIKE moves started, by origin");
    for (const auto& [o, n] : s.moves.started_by_origin()) w.sample("mobiked_mobike_moves_started_total", {{"origin", o}}, d(n));
    w.family("mobiked_mobike_moves_total", "counter", "MOBIKE moves completed (path confirmed), by origin");
    for (const auto& [o, n] : s.moves.confirmed_by_origin()) w.sample("mobiked_mobike_moves_total", {{"origin", o}}, d(n));
    w.family("mobiked_mobike_move_confirm_seconds", "histogram",
             "Interruption of our MOBIKE moves: from the move's start to the new path being confirmed");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < MoveStats::kBucketsSeconds.size(); ++i) {
        cumulative += s.moves.buckets()[i];
        w.sample("mobiked_mobike_move_confirm_seconds_bucket", {{"le", PromWriter::format_value(MoveStats::kBucketsSeconds[i])}},
                 d(cumulative));
    }
    w.sample("mobiked_mobike_move_confirm_seconds_bucket", {{"le", "+Inf"}}, d(s.moves.timed_count()));
    w.sample("mobiked_mobike_move_confirm_seconds_sum", s.moves.timed_sum_seconds());
    w.sample("mobiked_mobike_move_confirm_seconds_count", d(s.moves.timed_count()));
    if (auto last = s.moves.last_seconds()) {
        w.family("mobiked_mobike_last_move_confirm_seconds", "gauge", "Interruption of the last confirmed MOBIKE move");
        w.sample("mobiked_mobike_last_move_confirm_seconds", *last);
    }

    w.family("mobiked_dataplane_up", "gauge", "1 when the TUN data plane runs");
    w.sample("mobiked_dataplane_up", s.dataplane ? 1 : 0);
    if (s.dataplane) {
        auto get = [&](const char* name) {
            auto it = s.dataplane_counters.find(name);
            return it == s.dataplane_counters.end() ? 0.0 : d(it->second);
        };
        w.family("mobiked_tun_packets_total", "counter", "Inner packets on the TUN device (in: read from it, out: written)");
        w.sample("mobiked_tun_packets_total", {{"direction", "in"}}, get("tun_packets_in"));
        w.sample("mobiked_tun_packets_total", {{"direction", "out"}}, get("tun_packets_out"));
        w.family("mobiked_tun_bytes_total", "counter", "Inner bytes on the TUN device");
        w.sample("mobiked_tun_bytes_total", {{"direction", "in"}}, get("tun_bytes_in"));
        w.sample("mobiked_tun_bytes_total", {{"direction", "out"}}, get("tun_bytes_out"));
        w.family("mobiked_esp_packets_total", "counter", "ESP packets (in: received, out: sent)");
        w.sample("mobiked_esp_packets_total", {{"direction", "in"}}, get("esp_packets_in"));
        w.sample("mobiked_esp_packets_total", {{"direction", "out"}}, get("esp_packets_out"));
        w.family("mobiked_esp_bytes_total", "counter", "ESP bytes");
        w.sample("mobiked_esp_bytes_total", {{"direction", "in"}}, get("esp_bytes_in"));
        w.sample("mobiked_esp_bytes_total", {{"direction", "out"}}, get("esp_bytes_out"));
        w.family("mobiked_acquires_total", "counter", "Packets that started a negotiation (trap policies)");
        w.sample("mobiked_acquires_total", get("acquires"));
        w.family("mobiked_lifetime_events_total", "counter", "CHILD_SA volume lifetimes reached");
        w.sample("mobiked_lifetime_events_total", get("lifetime_events"));
        w.family("mobiked_dataplane_drops_total", "counter", "Packets the data plane dropped, by reason");
        for (const auto& [reason, n] : s.drops) w.sample("mobiked_dataplane_drops_total", {{"reason", reason}}, d(n));
    }
    return w.text();
}

// ------------------------------------------------------------ HTTP

namespace {

bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Visible ASCII only: no controls, no spaces, no bytes >= 0x7f.
bool is_target_char(char c) { return c > 0x20 && c < 0x7f; }

}  // namespace

HttpParse parse_http_request(std::string_view buf, HttpRequest& out) {
    if (buf.size() > kMaxHttpRequest) buf = buf.substr(0, kMaxHttpRequest + 1);
    // Find the end of the head: an empty line (CRLF CRLF or LF LF, mixed allowed).
    std::size_t pos = 0;
    std::string_view request_line;
    bool have_request_line = false;
    for (;;) {
        std::size_t nl = buf.find('\n', pos);
        if (nl == std::string_view::npos) {
            if (!have_request_line && buf.size() - pos > kMaxHttpRequestLine) return HttpParse::too_large;
            return buf.size() > kMaxHttpRequest ? HttpParse::too_large : HttpParse::incomplete;
        }
        if (nl + 1 > kMaxHttpRequest) return HttpParse::too_large;
        std::string_view line = buf.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = nl + 1;
        if (!have_request_line) {
            if (line.empty()) continue;  // RFC 9112 §2.2: ignore leading empty lines
            if (line.size() > kMaxHttpRequestLine) return HttpParse::too_large;
            request_line = line;
            have_request_line = true;
            continue;
        }
        if (line.empty()) break;  // end of head
        // A header field: name ":" value; the name is a token; no obs-fold.
        std::size_t colon = line.find(':');
        if (colon == 0 || colon == std::string_view::npos) return HttpParse::bad_request;
        for (std::size_t i = 0; i < colon; ++i)
            if (!is_tchar(line[i])) return HttpParse::bad_request;
        for (char c : line.substr(colon + 1))
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return HttpParse::bad_request;
    }
    // request-line = method SP request-target SP HTTP-version
    std::size_t sp1 = request_line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) return HttpParse::bad_request;
    std::size_t sp2 = request_line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return HttpParse::bad_request;
    std::string_view method = request_line.substr(0, sp1);
    std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = request_line.substr(sp2 + 1);
    for (char c : method)
        if (!is_tchar(c)) return HttpParse::bad_request;
    for (char c : target)
        if (!is_target_char(c)) return HttpParse::bad_request;
    if (version != "HTTP/1.0" && version != "HTTP/1.1") return HttpParse::bad_request;
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (target.empty()) return HttpParse::bad_request;  // "?x" alone names no resource (found by fuzz_http_request)
    out.method = std::string(method);
    out.target = std::string(target);
    out.version = std::string(version);
    return HttpParse::complete;
}

namespace {

std::string plain(int code, std::string_view reason, std::string_view body, std::string_view extra_headers = {}) {
    std::string r = "HTTP/1.0 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
    r += "Content-Type: text/plain; charset=utf-8\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    r += extra_headers;
    r += "Connection: close\r\n\r\n";
    r += body;
    return r;
}

}  // namespace

std::string http_response(HttpParse parse, const HttpRequest& req, const std::function<std::string()>& metrics) {
    if (parse == HttpParse::too_large) return plain(431, "Request Header Fields Too Large", "request too large\n");
    if (parse != HttpParse::complete) return plain(400, "Bad Request", "bad request\n");
    if (req.target != "/metrics") return plain(404, "Not Found", "only /metrics is served here\n");
    const bool head = req.method == "HEAD";
    if (req.method != "GET" && !head) return plain(405, "Method Not Allowed", "only GET /metrics\n", "Allow: GET, HEAD\r\n");
    std::string body = metrics ? metrics() : std::string();
    std::string r = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
    if (!head) r += body;
    return r;
}

Result<Endpoint> parse_listen_address(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return Error{"expected [IPv6]:PORT"};
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return Error{"expected ADDRESS:PORT, e.g. 127.0.0.1:9464"};
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return Error{"write IPv6 addresses as [ADDRESS]:PORT"};
    }
    auto addr = IpAddress::parse(host);
    if (!addr) return Error{"'" + std::string(host) + "' is not an IP address"};
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || p == 0 || p > 65535)
        return Error{"port must be 1-65535"};
    return Endpoint{*addr, static_cast<std::uint16_t>(p)};
}

// ------------------------------------------------------------ the endpoint

MetricsServer::~MetricsServer() {
    for (auto& [fd, c] : clients_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
}

Status MetricsServer::open(const Endpoint& at) {
    sockaddr_storage ss{};
    socklen_t len;
    if (at.address.is_v4()) {
        auto& sin = reinterpret_cast<sockaddr_in&>(ss);
        sin.sin_family = AF_INET;
        sin.sin_port = htons(at.port);
        std::memcpy(&sin.sin_addr, at.address.bytes().data(), 4);
        len = sizeof sin;
    } else {
        auto& sin6 = reinterpret_cast<sockaddr_in6&>(ss);
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(at.port);
        std::memcpy(sin6.sin6_addr.s6_addr, at.address.bytes().data(), 16);
        len = sizeof sin6;
    }
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error{std::string("metrics socket: ") + std::strerror(errno)};
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!at.address.is_v4()) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 16) != 0) {
        int err = errno;
        ::close(fd);
        return Error{"metrics endpoint " + at.to_string() + ": " + std::strerror(err)};
    }
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen) == 0)
        port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(bound).sin_port
                                                 : reinterpret_cast<sockaddr_in6&>(bound).sin6_port);
    listen_fd_ = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    return {};
}

void MetricsServer::on_ready(int fd, std::uint32_t events, Time now) {
    if (fd == listen_fd_) return accept_clients(now);
    if (!clients_.count(fd)) return;
    if (events & (EPOLLERR | EPOLLHUP)) return drop(fd);
    if (events & EPOLLOUT) return flush(fd);
    read_client(fd);
}

void MetricsServer::accept_clients(Time now) {
    for (int round = 0; round < 64; ++round) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        // Stale clients (a scraper that never finished its request) go first.
        for (auto it = clients_.begin(); it != clients_.end();) {
            auto next = std::next(it);
            if (now - it->second.since > kMetricsClientTimeout) drop(it->first);
            it = next;
        }
        if (clients_.size() >= kMaxMetricsClients) {
            auto oldest = std::min_element(clients_.begin(), clients_.end(),
                                           [](const auto& a, const auto& b) { return a.second.since < b.second.since; });
            drop(oldest->first);
        }
        clients_[fd] = Client{now, {}, {}, false};
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    }
}

void MetricsServer::read_client(int fd) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    Client& c = it->second;
    if (c.answered) {  // input after the request is discarded until the scraper closes
        char sink[2048];
        for (int round = 0; round < 8; ++round) {
            ssize_t n = ::read(fd, sink, sizeof sink);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n <= 0) return drop(fd);
        }
        return;
    }
    char buf[2048];
    for (int round = 0; round < 8; ++round) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) return drop(fd);  // closed before a whole request
        std::size_t room = kMaxHttpRequest + 1 - std::min(c.in.size(), kMaxHttpRequest + 1);
        c.in.append(buf, std::min(room, static_cast<std::size_t>(n)));
        HttpRequest req;
        HttpParse p = parse_http_request(c.in, req);
        if (p == HttpParse::incomplete) continue;
        c.answered = true;
        c.in.clear();
        c.in.shrink_to_fit();
        c.out = http_response(p, req, render_);
        return flush(fd);
    }
}

void MetricsServer::flush(int fd) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    Client& c = it->second;
    while (!c.out.empty()) {
        ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            epoll_event ev{};
            ev.events = EPOLLOUT | EPOLLRDHUP;
            ev.data.fd = fd;
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
            return;
        }
        if (n <= 0) return drop(fd);
        c.out.erase(0, static_cast<std::size_t>(n));
    }
    if (!c.answered) return;
    // Half-close and wait for the scraper to close: closing with unread
    // input would reset the connection and could discard the response.
    ::shutdown(fd, SHUT_WR);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void MetricsServer::drop(int fd) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    clients_.erase(it);
}

}  // namespace mobiked::daemon
