// Metrics: what the daemon counts beyond the engine and the data plane, the
// Prometheus text exposition (format 0.0.4) of a snapshot, and the minimal
// HTTP/1.0 request parsing the /metrics endpoint needs.
//
// Everything here except MetricsServer is pure (no sockets, no clocks) so it
// is unit-tested and fuzzed directly. Every byte a scraper sends is
// untrusted: parse_http_request bounds the request line and headers and
// never reads past the buffer it is given.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.hpp"
#include "common/net.hpp"
#include "common/result.hpp"
#include "common/time.hpp"

namespace mobiked::daemon {

// ------------------------------------------------------------ IKE messages

// IKE messages by exchange type, direction and request/response, counted
// from the fixed IKE header (RFC 7296 §3.1) of every datagram the daemon
// sends or receives on its IKE ports. Retransmissions and fragments count
// as the datagrams they are.
class IkeMessageCounters {
public:
    enum Direction : std::size_t { kReceived = 0, kSent = 1 };
    // Exchange slots: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL,
    // IKE_INTERMEDIATE, anything else.
    static constexpr std::size_t kExchanges = 6;
    static std::string_view exchange_label(std::size_t slot);

    // `data` is an IKE message without the non-ESP marker. Too short to hold
    // a header: counted as "other" request.
    void count(Direction dir, ByteView data);
    std::uint64_t get(Direction dir, std::size_t exchange, bool response) const {
        return counts_[dir][exchange][response ? 1 : 0];
    }
    static std::size_t slot_of(std::uint8_t exchange_type);

private:
    std::array<std::array<std::array<std::uint64_t, 2>, kExchanges>, 2> counts_{};
};

// ------------------------------------------------------------ MOBIKE moves

// Moves and their interruption (start of the move to the path being
// confirmed), kept as a Prometheus histogram.
class MoveStats {
public:
    static constexpr std::array<double, 10> kBucketsSeconds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

    void started(std::string_view origin) { ++started_[std::string(origin)]; }
    void confirmed(std::string_view origin, std::optional<Duration> took);

    const std::map<std::string, std::uint64_t>& started_by_origin() const { return started_; }
    const std::map<std::string, std::uint64_t>& confirmed_by_origin() const { return confirmed_; }
    const std::array<std::uint64_t, kBucketsSeconds.size()>& buckets() const { return buckets_; }  // not cumulative
    std::uint64_t timed_count() const { return timed_; }
    double timed_sum_seconds() const { return sum_s_; }
    std::optional<double> last_seconds() const { return last_s_; }

private:
    std::map<std::string, std::uint64_t> started_, confirmed_;
    std::array<std::uint64_t, kBucketsSeconds.size()> buckets_{};
    std::uint64_t timed_ = 0;
    double sum_s_ = 0;
    std::optional<double> last_s_;
};

// ------------------------------------------------------------ snapshot

// Everything one scrape (or `mobikectl status`) shows; the daemon fills it.
struct MetricsSnapshot {
    double uptime_s = 0;
    std::string version;
    std::size_t connections = 0;
    std::map<std::string, std::size_t> ike_sas_by_state;  // every state, zeros included
    std::size_t half_open = 0;
    std::size_t child_sas = 0;
    std::uint64_t datagrams_in = 0, datagrams_out = 0, datagrams_dropped = 0, esp_no_dataplane = 0;
    std::uint64_t nat_keepalives = 0;
    std::uint64_t retransmits = 0, responses_retransmitted = 0, exchanges_timed_out = 0;
    std::map<std::string, std::uint64_t> events;  // engine events by kind
    IkeMessageCounters messages;
    MoveStats moves;
    bool dataplane = false;
    std::map<std::string, std::uint64_t> dataplane_counters;  // name -> value (tun_packets_in, ...)
    std::map<std::string, std::uint64_t> drops;               // data-plane drops by reason
};

// Prometheus text exposition format 0.0.4 of the snapshot (every family
// with # HELP and # TYPE, names prefixed mobiked_).
std::string render_prometheus(const MetricsSnapshot& s);

// Writer for the exposition format; label values are escaped (\\, \", \n).
class PromWriter {
public:
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels, double value);
    void sample(std::string_view name, double value) { sample(name, {}, value); }
    const std::string& text() const { return out_; }
    static std::string escape_label(std::string_view v);
    static std::string format_value(double v);

private:
    std::string out_;
};

// ------------------------------------------------------------ HTTP

inline constexpr std::size_t kMaxHttpRequest = 8192;   // request line + headers
inline constexpr std::size_t kMaxHttpRequestLine = 1024;

struct HttpRequest {
    std::string method;
    std::string target;  // path (query string removed)
    std::string version;  // "HTTP/1.0" or "HTTP/1.1"
};

enum class HttpParse { incomplete, complete, bad_request, too_large };

// Looks for a whole request head (request line and headers up to the empty
// line) at the start of `buf`. complete: `out` is filled. Header fields are
// skipped (only their framing is checked). CRLF or bare LF line ends.
HttpParse parse_http_request(std::string_view buf, HttpRequest& out);

// The whole HTTP/1.0 response for a parsed request (or a parse failure):
// only GET (and HEAD) of /metrics is answered with the body from `metrics`.
std::string http_response(HttpParse parse, const HttpRequest& req, const std::function<std::string()>& metrics);

// "127.0.0.1:9464", "[::1]:9464": the metrics listen address.
Result<Endpoint> parse_listen_address(std::string_view text);

// ------------------------------------------------------------ the endpoint

inline constexpr std::size_t kMaxMetricsClients = 16;
inline constexpr Duration kMetricsClientTimeout = std::chrono::seconds(10);

// A non-blocking TCP listener on the daemon's epoll: reads one request head
// per connection (bounded), writes the response and closes. At most
// kMaxMetricsClients at once; the oldest is dropped to make room, and any
// older than kMetricsClientTimeout are dropped on every accept.
class MetricsServer {
public:
    using Render = std::function<std::string()>;
    MetricsServer(int epoll_fd, Render render) : epoll_fd_(epoll_fd), render_(std::move(render)) {}
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    Status open(const Endpoint& at);
    bool owns(int fd) const { return fd == listen_fd_ || clients_.count(fd) != 0; }
    void on_ready(int fd, std::uint32_t events, Time now);
    std::uint16_t port() const { return port_; }  // the bound port (for port 0)

private:
    struct Client {
        Time since{};
        std::string in;
        std::string out;
        bool answered = false;
    };
    void accept_clients(Time now);
    void read_client(int fd);
    void flush(int fd);
    void drop(int fd);

    int epoll_fd_;
    Render render_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::map<int, Client> clients_;
};

}  // namespace mobiked::daemon
