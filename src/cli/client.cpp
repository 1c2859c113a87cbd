#include "cli/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mobiked::cli {

namespace {

// Replies are bounded by the daemon; this guards against a wrong socket.
constexpr std::size_t kMaxReply = 64u << 20;
constexpr std::size_t kMaxEventLine = 1u << 20;

Reply fail(ClientError e, std::string msg, int err = 0) { return Reply{e, {}, std::move(msg), err}; }

bool send_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

Reply read_line(int fd, std::chrono::milliseconds timeout) {
    std::string buf;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[65536];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return fail(ClientError::protocol, "no reply from mobiked within the timeout");
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(ClientError::protocol, "mobiked closed the connection without a reply");
        buf.append(chunk, static_cast<std::size_t>(n));
        if (auto nl = buf.find('\n'); nl != std::string::npos) return Reply{ClientError::none, buf.substr(0, nl), {}, 0};
        if (buf.size() > kMaxReply) return fail(ClientError::protocol, "reply too large");
    }
}

// A connected socket, or -1 with `err` set.
int connect_to(const std::string& socket_path, Reply& err) {
    sockaddr_un addr{};
    if (socket_path.size() >= sizeof addr.sun_path) {
        err = fail(ClientError::unreachable, "socket path too long", ENAMETOOLONG);
        return -1;
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = fail(ClientError::unreachable, std::strerror(errno), errno);
        return -1;
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        err = fail(ClientError::unreachable, std::strerror(errno), errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

Reply call_daemon(const std::string& socket_path, const std::string& request, std::chrono::milliseconds timeout) {
    Reply err;
    int fd = connect_to(socket_path, err);
    if (fd < 0) return err;
    Reply r = send_all(fd, request + "\n") ? read_line(fd, timeout)
                                           : fail(ClientError::unreachable, "cannot send to mobiked");
    ::close(fd);
    return r;
}

Stream::~Stream() {
    if (fd_ >= 0) ::close(fd_);
}

Reply Stream::open(const std::string& socket_path, const std::string& request) {
    Reply err;
    fd_ = connect_to(socket_path, err);
    if (fd_ < 0) return err;
    if (!send_all(fd_, request + "\n")) return fail(ClientError::unreachable, "cannot send to mobiked");
    return {};
}

Stream::Read Stream::next(std::string& line, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[16384];
    for (;;) {
        if (auto nl = buf_.find('\n'); nl != std::string::npos) {
            line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            return Read::line;
        }
        if (buf_.size() > kMaxEventLine) return Read::too_large;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return Read::timeout;
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) return Read::timeout;  // a signal: let the caller look at its flags
        if (r <= 0) continue;
        ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) return Read::timeout;
        if (n <= 0) return Read::closed;
        buf_.append(chunk, static_cast<std::size_t>(n));
    }
}

}  // namespace mobiked::cli
