// Prometheus rendering, HTTP request parsing, IKE message counting and the
// listen-address syntax of the metrics endpoint (daemon/metrics.hpp).
#include "daemon/metrics.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <sstream>

using namespace mobiked;
using namespace mobiked::daemon;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const auto& l : lines_of(text))
        if (l == line) return true;
    return false;
}

Bytes ike_header(std::uint8_t exchange, std::uint8_t flags) {
    Bytes b(28, 0);
    b[17] = 0x20;
    b[18] = exchange;
    b[19] = flags;
    return b;
}

HttpParse parse(std::string_view s, HttpRequest& r) { return parse_http_request(s, r); }

}  // namespace

TEST(PromWriter, EscapesLabelsAndFormatsValues) {
    EXPECT_EQ(PromWriter::escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    EXPECT_EQ(PromWriter::format_value(0), "0");
    EXPECT_EQ(PromWriter::format_value(12345678901234.0), "12345678901234");
    EXPECT_EQ(PromWriter::format_value(0.025), "0.025");
    EXPECT_EQ(PromWriter::format_value(1.0 / 0.0), "+Inf");
    PromWriter w;
    w.family("x_total", "counter", "help with \\ and\nnewline");
    w.sample("x_total", {{"conn", "a\"b"}}, 3);
    EXPECT_EQ(w.text(), "# HELP x_total help with \\\\ and\\nnewline\n# TYPE x_total counter\nx_total{conn=\"a\\\"b\"} 3\n");
}

TEST(Metrics, RenderHasEveryFamilyWithHelpAndType) {
    MetricsSnapshot s;
    s.version = "0.1.0";
    s.uptime_s = 12.5;
    s.connections = 2;
    s.ike_sas_by_state = {{"established", 3}, {"deleting", 0}};
    s.child_sas = 4;
    s.retransmits = 7;
    s.events = {{"ike-established", 3}};
    s.messages.count(IkeMessageCounters::kSent, ike_header(34, 0x08));
    s.messages.count(IkeMessageCounters::kReceived, ike_header(34, 0x20));
    s.moves.confirmed("address_change", std::chrono::milliseconds(12));
    s.moves.confirmed("peer", std::nullopt);
    s.dataplane = true;
    s.dataplane_counters = {{"tun_packets_in", 10}, {"esp_bytes_out", 999}};
    s.drops = {{"replay", 2}, {"no_sa", 0}};
    std::string text = render_prometheus(s);

    EXPECT_TRUE(has_line(text, "mobiked_ike_sas{state=\"established\"} 3")) << text;
    EXPECT_TRUE(has_line(text, "mobiked_ike_sas{state=\"deleting\"} 0"));
    EXPECT_TRUE(has_line(text, "mobiked_child_sas 4"));
    EXPECT_TRUE(has_line(text, "mobiked_ike_retransmits_total 7"));
    EXPECT_TRUE(has_line(text, "mobiked_ike_messages_total{exchange=\"IKE_SA_INIT\",direction=\"sent\",type=\"request\"} 1"));
    EXPECT_TRUE(
        has_line(text, "mobiked_ike_messages_total{exchange=\"IKE_SA_INIT\",direction=\"received\",type=\"response\"} 1"));
    EXPECT_TRUE(has_line(text, "mobiked_events_total{kind=\"ike-established\"} 3"));
    EXPECT_TRUE(has_line(text, "mobiked_mobike_moves_total{origin=\"address_change\"} 1"));
    EXPECT_TRUE(has_line(text, "mobiked_mobike_moves_total{origin=\"peer\"} 1"));
    EXPECT_TRUE(has_line(text, "mobiked_mobike_move_confirm_seconds_bucket{le=\"0.01\"} 0"));
    EXPECT_TRUE(has_line(text, "mobiked_mobike_move_confirm_seconds_bucket{le=\"0.025\"} 1"));
    EXPECT_TRUE(has_line(text, "mobiked_mobike_move_confirm_seconds_bucket{le=\"+Inf\"} 1"));
    EXPECT_TRUE(has_line(text, "mobiked_mobike_move_confirm_seconds_count 1"));
    EXPECT_TRUE(has_line(text, "mobiked_mobike_move_confirm_seconds_sum 0.012"));
    EXPECT_TRUE(has_line(text, "mobiked_tun_packets_total{direction=\"in\"} 10"));
    EXPECT_TRUE(has_line(text, "mobiked_esp_bytes_total{direction=\"out\"} 999"));
    EXPECT_TRUE(has_line(text, "mobiked_dataplane_drops_total{reason=\"replay\"} 2"));
    EXPECT_TRUE(has_line(text, "mobiked_build_info{version=\"0.1.0\"} 1"));

    // Exposition-format shape: every sample's family was declared with HELP
    // and TYPE before it, exactly once; no blank lines; ends with a newline.
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    std::set<std::string> helped, typed;
    for (const auto& l : lines_of(text)) {
        ASSERT_FALSE(l.empty());
        if (l.rfind("# HELP ", 0) == 0) {
            std::string name = l.substr(7, l.find(' ', 7) - 7);
            EXPECT_TRUE(helped.insert(name).second) << "HELP twice: " << name;
            continue;
        }
        if (l.rfind("# TYPE ", 0) == 0) {
            std::string name = l.substr(7, l.find(' ', 7) - 7);
            EXPECT_TRUE(typed.insert(name).second) << "TYPE twice: " << name;
            continue;
        }
        std::string name = l.substr(0, l.find_first_of("{ "));
        std::string family = name;
        for (const char* suffix : {"_bucket", "_sum", "_count"})
            if (!typed.count(family) && family.size() > std::strlen(suffix) &&
                family.compare(family.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
                family = family.substr(0, family.size() - std::strlen(suffix));
        EXPECT_TRUE(typed.count(family) && helped.count(family)) << "undeclared: " << l;
    }
}

TEST(Metrics, NoDataplaneFamiliesWithoutDataplane) {
    MetricsSnapshot s;
    std::string text = render_prometheus(s);
    EXPECT_TRUE(has_line(text, "mobiked_dataplane_up 0"));
    EXPECT_EQ(text.find("mobiked_tun_packets_total"), std::string::npos);
    EXPECT_EQ(text.find("mobiked_mobike_last_move_confirm_seconds"), std::string::npos);
}

TEST(IkeMessageCounters, ClassifiesByHeader) {
    IkeMessageCounters c;
    c.count(IkeMessageCounters::kSent, ike_header(35, 0x08));         // IKE_AUTH request
    c.count(IkeMessageCounters::kSent, ike_header(36, 0x20));         // CREATE_CHILD_SA response
    c.count(IkeMessageCounters::kReceived, ike_header(37, 0x28));     // INFORMATIONAL response
    c.count(IkeMessageCounters::kReceived, ike_header(43, 0x08));     // IKE_INTERMEDIATE
    c.count(IkeMessageCounters::kReceived, ike_header(99, 0x00));     // unknown
    c.count(IkeMessageCounters::kReceived, Bytes(5, 0));              // runt
    EXPECT_EQ(c.get(IkeMessageCounters::kSent, 1, false), 1u);
    EXPECT_EQ(c.get(IkeMessageCounters::kSent, 2, true), 1u);
    EXPECT_EQ(c.get(IkeMessageCounters::kReceived, 3, true), 1u);
    EXPECT_EQ(c.get(IkeMessageCounters::kReceived, 4, false), 1u);
    EXPECT_EQ(c.get(IkeMessageCounters::kReceived, 5, false), 2u);
    EXPECT_EQ(IkeMessageCounters::exchange_label(0), "IKE_SA_INIT");
    EXPECT_EQ(IkeMessageCounters::exchange_label(99), "other");
}

TEST(HttpRequest, ParsesGetMetrics) {
    HttpRequest r;
    EXPECT_EQ(parse("GET /metrics HTTP/1.0\r\n\r\n", r), HttpParse::complete);
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/metrics");
    EXPECT_EQ(r.version, "HTTP/1.0");
    EXPECT_EQ(parse("GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n", r),
              HttpParse::complete);
    EXPECT_EQ(r.target, "/metrics");
    EXPECT_EQ(parse("\r\nGET /metrics HTTP/1.1\nHost: x\n\n", r), HttpParse::complete);  // bare LF, leading CRLF
}

TEST(HttpRequest, IncompleteUntilTheEmptyLine) {
    HttpRequest r;
    EXPECT_EQ(parse("", r), HttpParse::incomplete);
    EXPECT_EQ(parse("GET /metr", r), HttpParse::incomplete);
    EXPECT_EQ(parse("GET /metrics HTTP/1.0\r\n", r), HttpParse::incomplete);
    EXPECT_EQ(parse("GET /metrics HTTP/1.0\r\nHost: a\r\n", r), HttpParse::incomplete);
}

TEST(HttpRequest, RejectsMalformed) {
    HttpRequest r;
    for (const char* bad : {"GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.0\r\n\r\n",
                            "GET /metrics HTTP/2.0\r\n\r\n", "GET /metrics HTTP/1.0 x\r\n\r\n", "G(T /metrics HTTP/1.0\r\n\r\n",
                            "GET /met\x01rics HTTP/1.0\r\n\r\n", "GET /metrics HTTP/1.0\r\nNoColon\r\n\r\n",
                            "GET /metrics HTTP/1.0\r\n: empty name\r\n\r\n", "GET /metrics HTTP/1.0\r\nBad Name: x\r\n\r\n",
                            "GET /metrics HTTP/1.0\r\n folded\r\n\r\n", "GET /metrics HTTP/1.0\r\nX: a\x01\r\n\r\n",
                            "POST ? HTTP/1.1\n\n", "GET ?x=1 HTTP/1.0\r\n\r\n"})
        EXPECT_EQ(parse(bad, r), HttpParse::bad_request) << bad;
    std::string with_nul("GET /metrics HTTP/1.0\r\nX: a\0b\r\n\r\n", 33);
    EXPECT_EQ(parse(with_nul, r), HttpParse::bad_request);
}

TEST(HttpRequest, BoundsSizes) {
    HttpRequest r;
    std::string long_line = "GET /" + std::string(kMaxHttpRequestLine, 'a') + " HTTP/1.0\r\n\r\n";
    EXPECT_EQ(parse(long_line, r), HttpParse::too_large);
    std::string no_newline(kMaxHttpRequestLine + 1, 'a');
    EXPECT_EQ(parse(no_newline, r), HttpParse::too_large);
    std::string many_headers = "GET /metrics HTTP/1.0\r\n";
    while (many_headers.size() <= kMaxHttpRequest) many_headers += "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    EXPECT_EQ(parse(many_headers, r), HttpParse::too_large);
    EXPECT_EQ(parse(many_headers + "\r\n", r), HttpParse::too_large);
}

TEST(HttpResponse, OnlyGetMetricsIsAnswered) {
    auto body = [] { return std::string("mobiked_up 1\n"); };
    HttpRequest r{"GET", "/metrics", "HTTP/1.1"};
    std::string ok = http_response(HttpParse::complete, r, body);
    EXPECT_EQ(ok.rfind("HTTP/1.0 200 OK\r\n", 0), 0u);
    EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
    EXPECT_NE(ok.find("Content-Length: 13\r\n"), std::string::npos);
    EXPECT_EQ(ok.substr(ok.size() - 13), "mobiked_up 1\n");

    HttpRequest head{"HEAD", "/metrics", "HTTP/1.0"};
    std::string h = http_response(HttpParse::complete, head, body);
    EXPECT_EQ(h.rfind("HTTP/1.0 200 OK", 0), 0u);
    EXPECT_EQ(h.substr(h.size() - 4), "\r\n\r\n");

    HttpRequest other{"GET", "/", "HTTP/1.0"};
    EXPECT_EQ(http_response(HttpParse::complete, other, body).rfind("HTTP/1.0 404 ", 0), 0u);
    HttpRequest post{"POST", "/metrics", "HTTP/1.0"};
    EXPECT_EQ(http_response(HttpParse::complete, post, body).rfind("HTTP/1.0 405 ", 0), 0u);
    EXPECT_EQ(http_response(HttpParse::bad_request, {}, body).rfind("HTTP/1.0 400 ", 0), 0u);
    EXPECT_EQ(http_response(HttpParse::too_large, {}, body).rfind("HTTP/1.0 431 ", 0), 0u);
}

TEST(ListenAddress, Syntax) {
    auto a = parse_listen_address("127.0.0.1:9464");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->address.to_string(), "127.0.0.1");
    EXPECT_EQ(a->port, 9464);
    auto b = parse_listen_address("[::1]:9464");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->port, 9464);
    EXPECT_FALSE(b->address.is_v4());
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "localhost:9464", "::1:9464",
                            "[::1]9464", "[::1]:", "127.0.0.1:94x4"})
        EXPECT_FALSE(parse_listen_address(bad)) << bad;
}

TEST(MoveStats, HistogramBuckets) {
    MoveStats m;
    m.confirmed("explicit_request", std::chrono::milliseconds(3));
    m.confirmed("explicit_request", std::chrono::seconds(10));  // beyond the last bucket: only +Inf
    EXPECT_EQ(m.buckets()[0], 1u);
    std::uint64_t in_buckets = 0;
    for (auto n : m.buckets()) in_buckets += n;
    EXPECT_EQ(in_buckets, 1u);
    EXPECT_EQ(m.timed_count(), 2u);
    EXPECT_EQ(m.confirmed_by_origin().at("explicit_request"), 2u);
    ASSERT_TRUE(m.last_seconds());
    EXPECT_DOUBLE_EQ(*m.last_seconds(), 10.0);
}
