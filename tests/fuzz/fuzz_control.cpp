// Control-socket request lines: the parser must reject or accept, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/control.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view line(reinterpret_cast<const char*>(data), size);
    auto r = mobiked::daemon::parse_control_request(line);
    // Whatever is answered must itself serialise.
    std::string reply = r ? mobiked::daemon::response_loaded(r->conn.size()) : mobiked::daemon::response_error(r.error());
    if (reply.empty()) __builtin_trap();
    return 0;
}
