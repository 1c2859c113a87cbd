// mobikectl's connection to the daemon: one request line out, one reply line in.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace mobiked::cli {

enum class ClientError { none, unreachable, protocol };

struct Reply {
    ClientError error = ClientError::none;
    std::string line;     // the JSON reply
    std::string message;  // set when error != none
};

// Connects to `socket_path`, sends `request` plus '\n' and reads one line,
// waiting at most `timeout` for it.
Reply call_daemon(const std::string& socket_path, const std::string& request, std::chrono::milliseconds timeout);

}  // namespace mobiked::cli
