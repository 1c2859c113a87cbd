// mobikectl's connection to the daemon: one request line out, then one
// reply line in (call_daemon), or a stream of lines (Stream, for monitor).
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
    int sys_errno = 0;    // unreachable: connect()'s errno
};

// Connects to `socket_path`, sends `request` plus '\n' and reads one line,
// waiting at most `timeout` for it.
Reply call_daemon(const std::string& socket_path, const std::string& request, std::chrono::milliseconds timeout);

// A connection that keeps reading lines after the request (monitor).
class Stream {
public:
    enum class Read { line, timeout, closed, too_large };

    Stream() = default;
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Connects and sends `request`; error != none on failure.
    Reply open(const std::string& socket_path, const std::string& request);
    // Waits at most `timeout` for the next line (without its '\n').
    Read next(std::string& line, std::chrono::milliseconds timeout);

private:
    int fd_ = -1;
    std::string buf_;
};

}  // namespace mobiked::cli
