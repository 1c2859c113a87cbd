// The data plane with TUN offloads on: a TSO super-packet read from A's TUN
// leaves as one ESP packet per segment, and B, given the whole receive batch,
// hands its TUN one coalesced super-packet carrying the same bytes.
#include <gtest/gtest.h>

#include "common/bytes.hpp"
#include "crypto/random.hpp"
#include "dataplane/dataplane.hpp"
#include "dataplane/offload.hpp"
#include "ipsec/ip.hpp"
#include "test_support.hpp"

namespace mobiked::dataplane {
namespace {

using namespace test;

// Reads and writes carry a virtio_net_hdr, as with IFF_VNET_HDR: `written`
// holds each packet with its vnet header.
class OffloadTun final : public FakeTun {
public:
    OffloadTun() : FakeTun("off0") {}
    bool offloads() const override { return true; }
    bool write(ByteView p) override {
        Bytes b(kVnetHeaderSize, 0);
        b.insert(b.end(), p.begin(), p.end());
        written.push_back(std::move(b));
        return true;
    }
    bool write_with_header(ByteView p) override {
        written.emplace_back(p.begin(), p.end());
        return true;
    }
};

constexpr std::size_t kMss = 1380;  // segments of 1420 bytes fit the SA's inner MTU (1438)
constexpr std::uint32_t kSeq = 0x10000000;

// vnet header + IPv4 + TCP 10.1.0.1:5000 -> 10.2.0.1:80 (ACK|PSH) carrying
// `payload`, as the kernel hands a TSO packet to the TUN: NEEDS_CSUM with
// only the pseudo-header sum in the TCP checksum field (0 here: the
// segmenter computes every segment's checksum from scratch).
Bytes tso_packet(const Bytes& payload) {
    const std::size_t len = 20 + 20 + payload.size();
    Bytes p(kVnetHeaderSize + len, 0);
    VnetHeader h;
    h.flags = vnet::kNeedsCsum;
    h.gso_type = vnet::kGsoTcpV4;
    h.hdr_len = 40;
    h.gso_size = kMss;
    h.csum_start = 20;
    h.csum_offset = 16;
    write_vnet_header(h, p.data());
    std::uint8_t* ipv4 = p.data() + kVnetHeaderSize;
    ipsec::write_ipv4_header(ipv4, ip("10.1.0.1"), ip("10.2.0.1"), ipsec::ipproto::tcp, len, 0, true, 64, 7);
    std::uint8_t* tcp = ipv4 + 20;
    store_be16(tcp, 5000);
    store_be16(tcp + 2, 80);
    store_be32(tcp + 4, kSeq);
    store_be32(tcp + 8, 1);
    tcp[12] = 5 << 4;
    tcp[13] = 0x18;  // ACK | PSH
    store_be16(tcp + 14, 512);
    std::copy(payload.begin(), payload.end(), tcp + 20);
    return p;
}

class OffloadPathTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto ta = std::make_unique<OffloadTun>(), tb = std::make_unique<OffloadTun>();
        tun_a_ = ta.get();
        tun_b_ = tb.get();
        DataPlaneHooks ha;
        ha.send_udp_batch = [this](std::span<const OutDatagram> b) {
            batches_.push_back(b.size());
            for (const auto& d : b) sent_.push_back(Datagram{d.local, d.remote, Bytes(d.data.begin(), d.data.end())});
            return b.size();
        };
        a_ = std::make_unique<DataPlane>(DataPlaneOptions{}, std::move(ha), rng_.get(), std::move(ta));
        b_ = std::make_unique<DataPlane>(DataPlaneOptions{}, DataPlaneHooks{}, rng_.get(), std::move(tb));
        ASSERT_TRUE(a_->install(tunnel_child_sa(true), now_));
        ASSERT_TRUE(b_->install(tunnel_child_sa(false), now_));
        for (std::size_t i = 0; i < payload_.size(); ++i) payload_[i] = static_cast<std::uint8_t>(i * 7 + 3);
    }

    void to_b(bool batch) {
        if (batch) b_->begin_rx_batch();
        for (const auto& s : sent_) b_->on_udp_esp(s.remote, s.local, s.data, now_);
        if (batch) b_->end_rx_batch();
    }

    std::unique_ptr<crypto::Random> rng_ = crypto::make_system_random();
    Time now_{std::chrono::seconds(1)};
    OffloadTun* tun_a_ = nullptr;
    OffloadTun* tun_b_ = nullptr;
    std::unique_ptr<DataPlane> a_, b_;
    std::vector<std::size_t> batches_;
    std::vector<Datagram> sent_;
    Bytes payload_ = Bytes(20000);
};

TEST_F(OffloadPathTest, SuperPacketLeavesAsSegmentsAndArrivesCoalesced) {
    tun_a_->queued.push_back(tso_packet(payload_));
    a_->on_readable(tun_a_->fd(), now_);
    const std::size_t segments = (payload_.size() + kMss - 1) / kMss;
    ASSERT_EQ(sent_.size(), segments);
    EXPECT_EQ(batches_, std::vector<std::size_t>{segments});  // one batch: one GSO send in the daemon
    EXPECT_EQ(a_->counters().tun_packets_in, segments);
    for (std::size_t i = 0; i + 1 < segments; ++i) EXPECT_EQ(sent_[i].data.size(), sent_[0].data.size());

    to_b(true);
    ASSERT_EQ(tun_b_->written.size(), 1u);
    const Bytes& w = tun_b_->written[0];
    const auto h = parse_vnet_header(w);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->gso_type, vnet::kGsoTcpV4);
    EXPECT_EQ(h->gso_size, kMss);
    const ByteView ipv4 = ByteView(w).subspan(kVnetHeaderSize);
    ASSERT_EQ(ipv4.size(), 40 + payload_.size());
    EXPECT_EQ(load_be16(ipv4.data() + 2), ipv4.size());
    EXPECT_EQ(load_be32(ipv4.data() + 24), kSeq);
    EXPECT_TRUE(std::equal(payload_.begin(), payload_.end(), ipv4.begin() + 40));
    EXPECT_EQ(b_->counters().tun_packets_out, segments);
}

TEST_F(OffloadPathTest, WithoutABatchEverySegmentIsWrittenAlone) {
    tun_a_->queued.push_back(tso_packet(payload_));
    a_->on_readable(tun_a_->fd(), now_);
    to_b(false);
    const std::size_t segments = (payload_.size() + kMss - 1) / kMss;
    ASSERT_EQ(tun_b_->written.size(), segments);
    Bytes joined;
    for (const Bytes& w : tun_b_->written) {
        const auto h = parse_vnet_header(w);
        ASSERT_TRUE(h);
        EXPECT_EQ(h->gso_type, vnet::kGsoNone);
        EXPECT_EQ(h->flags, 0);
        joined.insert(joined.end(), w.begin() + kVnetHeaderSize + 40, w.end());
    }
    EXPECT_EQ(joined, payload_);
}

TEST_F(OffloadPathTest, MalformedReadsAreCountedNotSealed) {
    Bytes bad = tso_packet(payload_);
    bad[kVnetHeaderSize] = 0x65;
    tun_a_->queued.push_back(bad);
    tun_a_->queued.push_back(Bytes(4, 0));  // shorter than a vnet header
    a_->on_readable(tun_a_->fd(), now_);
    EXPECT_TRUE(sent_.empty());
    EXPECT_EQ(a_->counters().drops[static_cast<std::size_t>(Drop::malformed)], 2u);
}

TEST_F(OffloadPathTest, ManySuperPacketsFlushBetweenReads) {
    for (int i = 0; i < 5; ++i) tun_a_->queued.push_back(tso_packet(payload_));
    a_->on_readable(tun_a_->fd(), now_);
    const std::size_t segments = (payload_.size() + kMss - 1) / kMss;
    EXPECT_EQ(sent_.size(), 5 * segments);
    std::size_t total = 0;
    for (auto n : batches_) {
        EXPECT_LE(n, 128u);
        total += n;
    }
    EXPECT_EQ(total, 5 * segments);
}

}  // namespace
}  // namespace mobiked::dataplane
