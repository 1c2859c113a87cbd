// DataPlane with worker threads: three TUN queues (the loop's and two
// workers'), faked by SOCK_SEQPACKET pairs so poll() works and every read is
// one packet. Traffic sealed concurrently on all queues must open on a
// single-threaded peer exactly once each (unique sequence numbers, nothing
// lost or doubled) while the loop installs and deletes other SAs; ACQUIREs
// and lifetime notices raised on a worker reach the loop's thread.
#include "dataplane/dataplane.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "crypto/random.hpp"
#include "test_support.hpp"

namespace mobiked::dataplane {
namespace {

using namespace test;

// One TUN queue: our end of a socketpair; the test plays the kernel on the other.
class SocketQueue final : public TunDevice {
public:
    SocketQueue() {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0) ours_ = sv[0], kernel_ = sv[1];
    }
    ~SocketQueue() override {
        for (int fd : {ours_, kernel_})
            if (fd >= 0) ::close(fd);
    }
    int fd() const override { return ours_; }
    const std::string& name() const override { return name_; }
    int ifindex() const override { return 0; }
    std::optional<std::size_t> read(std::span<std::uint8_t> buf) override {
        const ssize_t n = ::recv(ours_, buf.data(), buf.size(), 0);
        if (n <= 0) return std::nullopt;
        return static_cast<std::size_t>(n);
    }
    bool write(ByteView p) override { return ::send(ours_, p.data(), p.size(), 0) == static_cast<ssize_t>(p.size()); }

    // The kernel side: a packet routed into the device; one written by the data plane.
    bool route_in(ByteView p) const { return ::send(kernel_, p.data(), p.size(), 0) == static_cast<ssize_t>(p.size()); }
    std::optional<Bytes> written() const {
        Bytes b(70000);
        const ssize_t n = ::recv(kernel_, b.data(), b.size(), 0);
        if (n < 0) return std::nullopt;
        b.resize(static_cast<std::size_t>(n));
        return b;
    }
    bool ok() const { return ours_ >= 0; }

private:
    int ours_ = -1, kernel_ = -1;
    std::string name_ = "fakemq0";
};

// A UDP packet whose first payload word names it.
Bytes tagged_packet(std::uint16_t sport, std::uint32_t tag) {
    Bytes p = udp_packet(ip("10.1.0.1"), ip("10.2.0.1"), 64, sport);
    store_be32(p.data() + 28, tag);
    return p;
}

// A's CHILD_SA 0 carries the traffic (10.1/16 <-> 10.2/16); n > 0 are others
// on IKE SA 1+n with their own SPIs and selectors.
ike::InstallChildSa child_sa(std::uint32_t n = 0) {
    const std::string a = "10." + std::to_string(1 + 2 * n) + ".0.0", b = "10." + std::to_string(2 + 2 * n) + ".0.0";
    auto c = child_sa_of_a({ts_prefix(a, 16)}, {ts_prefix(b, 16)}, 0xa000 + n, 0xb000 + n);
    c.ike_sa_id = 1 + n;
    c.child_name = "net" + std::to_string(n);
    return c;
}

class WorkersTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::vector<std::unique_ptr<TunDevice>> more;
        for (int i = 0; i < 3; ++i) {
            auto q = std::make_unique<SocketQueue>();
            ASSERT_TRUE(q->ok());
            queues_.push_back(q.get());
            if (i == 0) first_ = std::move(q);
            else more.push_back(std::move(q));
        }
        DataPlaneHooks h;
        h.send_udp_batch = [this](std::span<const OutDatagram> batch) {
            std::lock_guard g(sent_mu_);
            for (const auto& d : batch) sent_.push_back(Bytes(d.data.begin(), d.data.end()));
            return batch.size();
        };
        h.send_udp = [this](const Endpoint&, const Endpoint&, ByteView d) {
            std::lock_guard g(sent_mu_);
            sent_.push_back(Bytes(d.begin(), d.end()));
            return true;
        };
        h.acquire = [this](const AcquireRequest& r) {
            acquires_.push_back(r);
            acquire_threads_.insert(std::this_thread::get_id());
        };
        DataPlaneOptions o;
        o.workers = 3;
        a_ = std::make_unique<DataPlane>(o, std::move(h), rng_.get(), std::move(first_), std::move(more));

        auto tun_b = std::make_unique<SocketQueue>();
        b_tun_ = tun_b.get();
        b_ = std::make_unique<DataPlane>(DataPlaneOptions{}, DataPlaneHooks{}, rng_.get(), std::move(tun_b));
    }
    void TearDown() override { a_.reset(); }

    std::size_t sent_count() {
        std::lock_guard g(sent_mu_);
        return sent_.size();
    }
    // Waits (bounded) until A has sent `n` datagrams; the loop's own queue is
    // read here, as the daemon's epoll loop would.
    bool wait_sent(std::size_t n) {
        for (int i = 0; i < 2000 && sent_count() < n; ++i) {
            a_->on_readable(queues_[0]->fd(), now_);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return sent_count() >= n;
    }
    // The descriptor a worker wakes the loop with (the one fds() adds).
    int wake_fd() const {
        for (int fd : a_->fds())
            if (fd != queues_[0]->fd()) return fd;
        return -1;
    }

    std::unique_ptr<crypto::Random> rng_ = crypto::make_system_random();
    Time now_{std::chrono::seconds(100)};
    std::unique_ptr<TunDevice> first_;
    std::vector<SocketQueue*> queues_;
    std::unique_ptr<DataPlane> a_, b_;
    SocketQueue* b_tun_ = nullptr;
    std::mutex sent_mu_;
    std::vector<Bytes> sent_;
    std::vector<AcquireRequest> acquires_;
    std::set<std::thread::id> acquire_threads_;
};

TEST_F(WorkersTest, EveryQueueSealsAndNothingIsLostOrDoubledWhileSasChange) {
    ASSERT_TRUE(a_->start_workers());
    EXPECT_EQ(a_->worker_count(), 2u);
    ASSERT_TRUE(a_->install(child_sa(), now_));
    ASSERT_TRUE(b_->install(mirrored(child_sa()), now_));

    constexpr std::uint32_t kPerQueue = 600;
    std::set<std::uint32_t> expected;
    for (std::uint32_t k = 0; k < kPerQueue; ++k) {
        for (std::uint32_t q = 0; q < 3; ++q) {
            const std::uint32_t tag = q << 16 | k;
            // Each queue carries its own flows (source ports), as the kernel steers them.
            Bytes p = tagged_packet(static_cast<std::uint16_t>(1000 + q), tag);
            for (int tries = 0; !queues_[q]->route_in(p); ++tries) {  // a full socket buffer: let it drain
                ASSERT_LT(tries, 5000);
                a_->on_readable(queues_[0]->fd(), now_);
                std::this_thread::sleep_for(std::chrono::microseconds(100));
            }
            expected.insert(tag);
        }
        // The loop's other work meanwhile: SAs come and go, counters are read.
        const std::uint32_t other = 1 + k % 50;
        if (k % 2 == 0) {
            ASSERT_TRUE(a_->install(child_sa(other), now_));
        } else {
            ike::DeleteChildSa d;
            d.ike_sa_id = 1 + other;
            d.child_id = 1;
            (void)a_->remove(d, now_);
        }
        (void)a_->counters();
        a_->on_readable(queues_[0]->fd(), now_);
    }
    ASSERT_TRUE(wait_sent(3 * kPerQueue)) << sent_count() << " of " << 3 * kPerQueue << " sealed";

    const Counters ca = a_->counters();
    EXPECT_EQ(ca.tun_packets_in, 3u * kPerQueue);
    EXPECT_EQ(ca.esp_packets_out, 3u * kPerQueue);

    // B opens each exactly once: a doubled sequence number would be a replay.
    // In sequence-number order: the threads' batches interleave on the wire.
    std::map<std::uint32_t, const Bytes*> by_sequence;
    for (const Bytes& d : sent_) {
        ASSERT_GE(d.size(), 8u);
        ASSERT_EQ(load_be32(d.data()), 0xa000u);  // the churned SAs carry none of this traffic
        by_sequence.emplace(load_be32(d.data() + 4), &d);
    }
    EXPECT_EQ(by_sequence.size(), 3u * kPerQueue);
    std::set<std::uint32_t> got;
    for (const auto& [seq, d] : by_sequence) {
        b_->on_udp_esp(Endpoint{ip("192.0.2.2"), 4500}, Endpoint{ip("192.0.2.1"), 4500}, *d, now_);
        while (auto w = b_tun_->written()) {
            ASSERT_EQ(w->size(), 20u + 8 + 64);
            got.insert(load_be32(w->data() + 28));
        }
    }
    EXPECT_EQ(got, expected);
    EXPECT_EQ(b_->counters().esp_packets_in, 3u * kPerQueue);
    EXPECT_EQ(b_->counters().tun_packets_out, 3u * kPerQueue);
}

TEST_F(WorkersTest, AcquireRaisedOnAWorkerIsHandedToTheLoop) {
    ASSERT_TRUE(a_->start_workers());
    Trap t{"conn", "net", ike::IpsecMode::tunnel, {ts_prefix("10.1.0.0", 16)}, {ts_prefix("10.2.0.0", 16)}};
    a_->set_traps({t});
    ASSERT_TRUE(queues_[1]->route_in(udp_packet(ip("10.1.0.1"), ip("10.2.0.9"), 64)));
    const int wake = wake_fd();
    ASSERT_GE(wake, 0);
    pollfd p{wake, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1) << "the worker never woke the loop";
    EXPECT_TRUE(acquires_.empty());  // not on the worker's thread
    ASSERT_TRUE(a_->owns(wake));
    a_->on_readable(wake, now_);
    ASSERT_EQ(acquires_.size(), 1u);
    EXPECT_EQ(acquires_[0].connection, "conn");
    EXPECT_EQ(acquire_threads_, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_F(WorkersTest, LifetimeNoticeFromAWorkerWakesTheLoop) {
    ASSERT_TRUE(a_->start_workers());
    auto c = child_sa();
    c.lifetimes.rekey_packets = 3;
    ASSERT_TRUE(a_->install(c, now_));
    for (std::uint32_t k = 0; k < 5; ++k)
        ASSERT_TRUE(queues_[2]->route_in(tagged_packet(1002, k)));
    pollfd p{wake_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1) << "the worker never woke the loop";
    a_->on_readable(p.fd, now_);
    const auto notices = a_->take_lifetime_notices();
    ASSERT_FALSE(notices.empty());
    EXPECT_FALSE(notices.front().hard);
    EXPECT_EQ(notices.front().ike_sa_id, 1u);
}

TEST_F(WorkersTest, WithoutStartWorkersTheLoopIsTheOnlyReader) {
    EXPECT_EQ(a_->worker_count(), 0u);
    EXPECT_EQ(a_->fds(), std::vector<int>{queues_[0]->fd()});
    ASSERT_TRUE(a_->install(child_sa(), now_));
    ASSERT_TRUE(queues_[0]->route_in(tagged_packet(1000, 1)));
    a_->on_readable(queues_[0]->fd(), now_);
    EXPECT_EQ(sent_count(), 1u);
}

}  // namespace
}  // namespace mobiked::dataplane
