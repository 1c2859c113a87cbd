// The control socket: a unix stream listener (mode 0600, directory 0700)
// carrying newline-delimited requests. The server only frames lines and
// buffers replies; the daemon interprets them and may answer later (an
// initiate reply waits for the IKE SA), addressing the client by id. A
// client that went away before its reply simply has the reply dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace mobiked::daemon {

inline constexpr std::size_t kMaxControlClients = 32;
inline constexpr std::size_t kMaxReplyBuffer = 64u << 20;

class ControlServer {
public:
    using LineHandler = std::function<void(std::uint64_t client, std::string_view line)>;

    ControlServer(int epoll_fd, LineHandler handler) : epoll_fd_(epoll_fd), handler_(std::move(handler)) {}
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    Status open(const std::string& path);
    int listen_fd() const { return listen_fd_; }
    bool owns(int fd) const { return fd == listen_fd_ || by_fd_.count(fd) != 0; }
    void on_ready(int fd, std::uint32_t events);
    void reply(std::uint64_t client, std::string line);
    bool connected(std::uint64_t client) const { return clients_.count(client) != 0; }

private:
    struct Client {
        int fd = -1;
        std::string in;
        std::string out;
        bool close_after_flush = false;
    };
    void accept_clients();
    void read_client(std::uint64_t id);
    void flush(std::uint64_t id);
    void drop(std::uint64_t id);
    void watch(int fd, bool want_write);

    int epoll_fd_;
    LineHandler handler_;
    int listen_fd_ = -1;
    std::string path_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, Client> clients_;
    std::map<int, std::uint64_t> by_fd_;
};

}  // namespace mobiked::daemon
