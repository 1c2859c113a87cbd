#include "dataplane/tun_device.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/offload.hpp"

namespace mobiked::dataplane {
namespace {

Error sys_error(const std::string& what) { return Error{what + ": " + std::strerror(errno)}; }

// An AF_INET datagram socket only to carry interface ioctls.
struct IoctlSocket {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ~IoctlSocket() {
        if (fd >= 0) ::close(fd);
    }
};

ifreq request_for(const std::string& name) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    return ifr;
}

class LinuxTun final : public TunDevice {
public:
    LinuxTun(int fd, std::string name, int ifindex, bool offloads)
        : fd_(fd), name_(std::move(name)), ifindex_(ifindex), offloads_(offloads) {}
    ~LinuxTun() override { ::close(fd_); }

    int fd() const override { return fd_; }
    const std::string& name() const override { return name_; }
    int ifindex() const override { return ifindex_; }

    std::optional<std::size_t> read(std::span<std::uint8_t> buf) override {
        ssize_t n = ::read(fd_, buf.data(), buf.size());
        if (n <= 0) return std::nullopt;
        return static_cast<std::size_t>(n);
    }
    bool write(ByteView packet) override {
        if (!offloads_) return ::write(fd_, packet.data(), packet.size()) == static_cast<ssize_t>(packet.size());
        static const std::uint8_t kNone[kVnetHeaderSize] = {};
        iovec iov[2] = {{const_cast<std::uint8_t*>(kNone), sizeof kNone},
                        {const_cast<std::uint8_t*>(packet.data()), packet.size()}};
        return ::writev(fd_, iov, 2) == static_cast<ssize_t>(sizeof kNone + packet.size());
    }
    bool offloads() const override { return offloads_; }
    bool write_with_header(ByteView p) override {
        return offloads_ && ::write(fd_, p.data(), p.size()) == static_cast<ssize_t>(p.size());
    }

private:
    int fd_;
    std::string name_;
    int ifindex_;
    bool offloads_;
};

// IFF_VNET_HDR is set at creation; the offloads themselves are asked for
// here. Without them the header is still there (all zero on reads).
bool enable_offloads(int fd) {
    int size = kVnetHeaderSize;
    if (::ioctl(fd, TUNSETVNETHDRSZ, &size) != 0) return false;
    return ::ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0;
}

}  // namespace

int set_interface_mtu(const std::string& name, unsigned mtu) {
    IoctlSocket s;
    if (s.fd < 0) return errno;
    ifreq ifr = request_for(name);
    ifr.ifr_mtu = static_cast<int>(mtu);
    return ::ioctl(s.fd, SIOCSIFMTU, &ifr) == 0 ? 0 : errno;
}

namespace {

// A descriptor attached to the named device (created when missing), or an
// error naming the step; the name the kernel gave it in `name`.
Result<int> attach(const std::string& wanted, const TunOptions& o, std::string& name) {
    if (wanted.empty() || wanted.size() >= IFNAMSIZ) return Error{"bad TUN device name '" + wanted + "'"};
    int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return sys_error("open /dev/net/tun");
    ifreq ifr = request_for(wanted);
    // Every queue of a device must ask for the same flags.
    ifr.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI | (o.offload ? IFF_VNET_HDR : 0) |
                                       (o.queues > 1 ? IFF_MULTI_QUEUE : 0));
    if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
        auto e = sys_error("TUNSETIFF " + wanted);
        ::close(fd);
        return e;
    }
    name = ifr.ifr_name;
    // Offloads that the kernel refuses leave the header on every packet but
    // nothing else changes: reads are never super-packets then.
    if (o.offload) (void)enable_offloads(fd);
    return fd;
}

}  // namespace

Result<std::unique_ptr<TunDevice>> open_tun_queue(const std::string& name, const TunOptions& o) {
    std::string got;
    auto fd = attach(name, o, got);
    if (!fd) return Error{fd.error()};
    IoctlSocket s;
    ifreq q = request_for(got);
    if (s.fd < 0 || ::ioctl(s.fd, SIOCGIFINDEX, &q) != 0) {
        auto e = sys_error("SIOCGIFINDEX " + got);
        ::close(*fd);
        return e;
    }
    return std::unique_ptr<TunDevice>(std::make_unique<LinuxTun>(*fd, got, q.ifr_ifindex, o.offload));
}

Result<std::unique_ptr<TunDevice>> open_tun(const TunOptions& o) {
    std::string name;
    auto opened = attach(o.name, o, name);
    if (!opened) return Error{opened.error()};
    const int fd = *opened;
    IoctlSocket s;
    ifreq q = request_for(name);
    bool ok = s.fd >= 0 && ::ioctl(s.fd, SIOCGIFINDEX, &q) == 0;
    int ifindex = q.ifr_ifindex;
    if (ok && o.mtu != 0) ok = set_interface_mtu(name, o.mtu) == 0;
    if (ok && o.tx_queue_len != 0) {
        q = request_for(name);
        q.ifr_qlen = static_cast<int>(o.tx_queue_len);
        ok = ::ioctl(s.fd, SIOCSIFTXQLEN, &q) == 0;
    }
    q = request_for(name);
    ok = ok && ::ioctl(s.fd, SIOCGIFFLAGS, &q) == 0;
    q.ifr_flags = static_cast<short>(q.ifr_flags | IFF_UP);
    ok = ok && ::ioctl(s.fd, SIOCSIFFLAGS, &q) == 0;
    if (!ok) {
        auto e = sys_error("configuring " + name);
        ::close(fd);
        return e;
    }
    return std::unique_ptr<TunDevice>(std::make_unique<LinuxTun>(fd, name, ifindex, o.offload));
}

}  // namespace mobiked::dataplane
