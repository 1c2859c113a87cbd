#include "daemon/control_server.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "daemon/control.hpp"
#include "daemon/log.hpp"

namespace mobiked::daemon {

ControlServer::~ControlServer() {
    for (auto& [id, c] : clients_) ::close(c.fd);
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        ::unlink(path_.c_str());
    }
}

Status ControlServer::open(const std::string& path) {
    sockaddr_un addr{};
    if (path.empty() || path.size() >= sizeof addr.sun_path) return Error{"control socket path too long: " + path};
    auto dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
        std::filesystem::create_directories(dir, ec);
        if (ec) return Error{"cannot create " + dir.string() + ": " + ec.message()};
        ::chmod(dir.c_str(), 0700);
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error{std::string("socket: ") + std::strerror(errno)};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    ::unlink(path.c_str());  // a stale socket from a crashed run
    // The umask makes the socket 0600 from the start; chmod alone would leave a window.
    mode_t old = ::umask(0177);
    int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (rc != 0 || ::listen(fd, 16) != 0) {
        int err = errno;
        ::close(fd);
        return Error{"control socket " + path + ": " + std::strerror(err)};
    }
    listen_fd_ = fd;
    path_ = path;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    return {};
}

void ControlServer::watch(int fd, bool want_write) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want_write ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void ControlServer::on_ready(int fd, std::uint32_t events) {
    if (fd == listen_fd_) return accept_clients();
    auto it = by_fd_.find(fd);
    if (it == by_fd_.end()) return;
    std::uint64_t id = it->second;
    if (events & EPOLLOUT) flush(id);
    if (clients_.count(id) && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) read_client(id);
}

void ControlServer::accept_clients() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (clients_.size() >= kMaxControlClients) {
            log("ctl").warn("too many control clients, refusing one");
            ::close(fd);
            continue;
        }
        std::uint64_t id = next_id_++;
        clients_[id] = Client{fd, {}, {}, false};
        by_fd_[fd] = id;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    }
}

void ControlServer::read_client(std::uint64_t id) {
    char buf[8192];
    for (;;) {
        auto it = clients_.find(id);
        if (it == clients_.end()) return;
        ssize_t n = ::read(it->second.fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) return it->second.out.empty() ? drop(id) : void(it->second.close_after_flush = true);
        if (it->second.close_after_flush) continue;  // discard input after an oversized line
        it->second.in.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while (clients_.count(id) && (nl = clients_[id].in.find('\n')) != std::string::npos) {
            std::string line = clients_[id].in.substr(0, nl);
            clients_[id].in.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (!line.empty()) handler_(id, line);
        }
        auto again = clients_.find(id);
        if (again != clients_.end() && again->second.in.size() > kMaxRequestLine) {
            again->second.in.clear();
            reply(id, response_error("request line longer than 64 KiB"));
            if (clients_.count(id)) clients_[id].close_after_flush = true;
        }
    }
}

void ControlServer::reply(std::uint64_t client, std::string line) {
    auto it = clients_.find(client);
    if (it == clients_.end()) return;
    if (it->second.out.size() + line.size() > kMaxReplyBuffer) {
        log("ctl").warn("control client not reading its replies, closing it");
        return drop(client);
    }
    it->second.out += line;
    it->second.out += '\n';
    flush(client);
}

void ControlServer::flush(std::uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    Client& c = it->second;
    while (!c.out.empty()) {
        ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return watch(c.fd, true);
        if (n <= 0) return drop(id);
        c.out.erase(0, static_cast<std::size_t>(n));
    }
    if (c.close_after_flush) return drop(id);
    watch(c.fd, false);
}

void ControlServer::drop(std::uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
    ::close(it->second.fd);
    by_fd_.erase(it->second.fd);
    clients_.erase(it);
}

}  // namespace mobiked::daemon
