// The metrics endpoint's HTTP request parsing: bytes from any local process.
// Feeds the input whole and in two pieces (as reads split it), checks the
// bounds and that the response is always a well-framed HTTP/1.0 reply.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/metrics.hpp"

using namespace mobiked::daemon;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    HttpRequest req;
    HttpParse p = parse_http_request(in, req);
    if (p == HttpParse::complete) {
        if (req.method.empty() || req.target.empty() || req.method.size() + req.target.size() > kMaxHttpRequestLine)
            __builtin_trap();
        if (req.version != "HTTP/1.0" && req.version != "HTTP/1.1") __builtin_trap();
    }
    if (p == HttpParse::incomplete && size > kMaxHttpRequest) __builtin_trap();
    // A prefix of an incomplete request is incomplete or an error, never complete.
    if (p == HttpParse::incomplete && size > 0) {
        HttpRequest r2;
        if (parse_http_request(in.substr(0, size / 2), r2) == HttpParse::complete) __builtin_trap();
    }
    std::string resp = http_response(p, req, [] { return std::string("mobiked_up 1\n"); });
    if (resp.rfind("HTTP/1.0 ", 0) != 0 || resp.find("\r\n\r\n") == std::string::npos) __builtin_trap();
    return 0;
}
