// ESP (RFC 4303) seal/open: round trips for every algorithm, mode and
// address family; the wire layout cross-checked against crypto's own AEAD
// and HMAC; replay, tampering, padding, selector and buffer failures.
#include <gtest/gtest.h>

#include <tuple>

#include "crypto/cipher.hpp"
#include "ipsec/esp.hpp"
#include "ipsec/ip.hpp"
#include "ipsec/selectors.hpp"
#include "test_util.hpp"

namespace mobiked::ipsec {
namespace {

using test::Algo;
using test::Buf;
using test::make_packet;
using test::make_params;
using test::make_sa;

constexpr Time kNow{0};

struct Pair {
    std::unique_ptr<crypto::Random> rng = crypto::make_seeded_random(7);
    std::unique_ptr<Sa> out;
    std::unique_ptr<Sa> in;
    Pair(const Algo& a, Mode mode, bool esn, bool outer_v6) {
        out = make_sa(make_params(a, Protocol::esp, mode, Direction::outbound, esn, outer_v6), rng.get());
        in = make_sa(make_params(a, Protocol::esp, mode, Direction::inbound, esn, outer_v6));
    }
};

// Strips the outer IP (and UDP) header the way the data plane does before open.
void to_esp(Buf& b, const PacketResult& r) { ASSERT_TRUE(b.pkt.pull_front(r.esp_offset)); }

// ---- round trips -----------------------------------------------------------

using RoundTripParam = std::tuple<int, Mode, bool, bool, bool>;  // algo, mode, outer v6, inner v6, esn

class EspRoundTrip : public ::testing::TestWithParam<RoundTripParam> {};

TEST_P(EspRoundTrip, SealThenOpenGivesTheSamePacket) {
    const auto [ai, mode, outer_v6, inner_v6, esn] = GetParam();
    const Algo& a = test::esp_algorithms()[static_cast<std::size_t>(ai)];
    Pair p(a, mode, esn, outer_v6);
    const char* src = mode == Mode::transport ? (outer_v6 ? "2001:db8::1" : "192.0.2.1")
                                              : (inner_v6 ? "fd00:1::5" : "10.1.0.5");
    const char* dst = mode == Mode::transport ? (outer_v6 ? "2001:db8::2" : "192.0.2.2")
                                              : (inner_v6 ? "fd00:2::9" : "10.2.0.9");
    for (std::size_t len : {0, 1, 2, 3, 13, 14, 15, 16, 17, 64, 512, 1420}) {
        const Bytes inner = make_packet(src, dst, ipproto::udp, 1000, 2000, len);
        Buf b(inner);
        const PacketResult s = esp::seal(*p.out, b.pkt, kNow);
        ASSERT_EQ(s.status, Status::ok) << status_name(s.status);
        const std::size_t outer_ip = outer_v6 ? 40 : 20;
        EXPECT_EQ(s.ip_header_len, outer_ip);
        EXPECT_EQ(s.esp_offset, outer_ip);
        auto oh = parse_ip_header(b.pkt.view());
        ASSERT_TRUE(oh);
        EXPECT_EQ(oh->protocol, ipproto::esp);
        EXPECT_EQ(oh->total_len, b.pkt.size());
        // Ciphertext (payload..next header) is a whole number of blocks, 4-aligned.
        const std::size_t body = b.pkt.size() - outer_ip - 8 - p.out->iv_size() - p.out->icv_size();
        EXPECT_EQ(body % p.out->block_size(), 0u);
        EXPECT_EQ(body % 4, 0u);
        to_esp(b, s);
        EXPECT_EQ(esp::peek_spi(b.pkt.view()), 0x11223344u);
        const PacketResult o = esp::open(*p.in, b.pkt, kNow);
        ASSERT_EQ(o.status, Status::ok) << status_name(o.status) << " len " << len;
        EXPECT_EQ(b.bytes(), inner) << "len " << len;
        EXPECT_EQ(o.next_header,
                  mode == Mode::tunnel ? (inner_v6 ? ipproto::ipv6 : ipproto::ipv4) : ipproto::udp);
    }
    EXPECT_EQ(p.out->counters().packets, 12u);
    EXPECT_EQ(p.in->counters().packets, 12u);
    EXPECT_EQ(p.in->replay().top(), 12u);
}

// Every algorithm x tunnel (4 inner/outer family pairs) and transport (2
// families) x 32/64-bit sequence numbers.
std::vector<RoundTripParam> round_trip_params() {
    std::vector<RoundTripParam> v;
    for (int a = 0; a < 6; ++a)
        for (bool esn : {false, true})
            for (bool ov6 : {false, true}) {
                for (bool iv6 : {false, true}) v.emplace_back(a, Mode::tunnel, ov6, iv6, esn);
                v.emplace_back(a, Mode::transport, ov6, ov6, esn);
            }
    return v;
}

std::string round_trip_name(const ::testing::TestParamInfo<RoundTripParam>& param_info) {
    const auto& [ai, mode, ov6, iv6, esn] = param_info.param;
    return test::esp_algorithms()[static_cast<std::size_t>(ai)].name +
           (mode == Mode::tunnel ? "_Tunnel" : "_Transport") + (ov6 ? "_Out6" : "_Out4") +
           (iv6 ? "_In6" : "_In4") + (esn ? "_Esn" : "_Seq32");
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, EspRoundTrip,
                         ::testing::ValuesIn(round_trip_params()), round_trip_name);

// ---- known answers: layout cross-checked against crypto/ --------------------

// The AEAD ESP payload must equal crypto::Aead's seal of payload||pad||pl||nh
// with nonce salt||seq and AAD SPI||seq (RFC 4106 §3-5).
void check_aead_layout(bool esn) {
    const Algo a = test::esp_algorithms()[0];
    Pair p(a, Mode::tunnel, esn, false);
    p.out->set_last_seq_sent(esn ? 0x00000002ffffffffULL : 41);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 5);  // 33 bytes
    Buf b(inner);
    const PacketResult s = esp::seal(*p.out, b.pkt, kNow);
    ASSERT_TRUE(s.ok());
    const Bytes wire = b.bytes();
    const std::uint64_t seq = esn ? 0x0000000300000000ULL : 42;
    const std::uint8_t* e = wire.data() + 20;
    EXPECT_EQ(load_be32(e), 0x11223344u);
    EXPECT_EQ(load_be32(e + 4), static_cast<std::uint32_t>(seq));
    EXPECT_EQ(load_be64(e + 8), seq);  // IV = 64-bit sequence number
    // Expected: 33 bytes + pad 1 + 2 = 36 (4-aligned).
    Bytes pt = inner;
    pt.insert(pt.end(), {1, 1, ipproto::ipv4});
    const Bytes key = test::pattern_key(20, 0x40);
    auto aead = crypto::make_aead(a.encr_id, ByteView(key.data(), 16));
    Bytes nonce(key.begin() + 16, key.end());
    Bytes iv(8);
    store_be64(iv.data(), seq);
    append(nonce, iv);
    Bytes aad(esn ? 12 : 8);
    store_be32(aad.data(), 0x11223344);
    if (esn) {
        store_be32(aad.data() + 4, static_cast<std::uint32_t>(seq >> 32));
        store_be32(aad.data() + 8, static_cast<std::uint32_t>(seq));
    } else {
        store_be32(aad.data() + 4, static_cast<std::uint32_t>(seq));
    }
    Bytes ct(pt.size() + 16);
    ASSERT_TRUE(aead->seal(nonce, aad, pt, ct.data()));
    Bytes expected(wire.begin(), wire.begin() + 20 + 16);
    append(expected, ct);
    EXPECT_EQ(to_hex(wire), to_hex(expected));
    EXPECT_EQ(wire.size(), 20u + 8 + 8 + 36 + 16);
}

TEST(EspLayout, GcmMatchesCryptoAeadWith32BitSeq) { check_aead_layout(false); }
TEST(EspLayout, GcmMatchesCryptoAeadWithEsnAad) { check_aead_layout(true); }

// CBC: the ICV is HMAC over SPI..ciphertext (+ Seq-hi for ESN, not sent),
// and the IV-decrypted ciphertext is payload || 1,2,3.. || pad length || nh.
void check_cbc_layout(bool esn) {
    const Algo a = test::esp_algorithms()[3];
    Pair p(a, Mode::tunnel, esn, false);
    p.out->set_last_seq_sent(esn ? 0x00000001ffffffffULL : 6);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 2);  // 30 bytes
    Buf b(inner);
    ASSERT_TRUE(esp::seal(*p.out, b.pkt, kNow).ok());
    const Bytes wire = b.bytes();
    const std::uint64_t seq = esn ? 0x0000000200000000ULL : 7;
    const std::size_t esp_len = 8 + 16 + 32 + 16;  // 30 + pad 0 + 2 = 32
    ASSERT_EQ(wire.size(), 20 + esp_len);
    const ByteView esp_part(wire.data() + 20, esp_len);
    Bytes icv_input(esp_part.begin(), esp_part.end() - 16);
    if (esn) {
        Bytes hi(4);
        store_be32(hi.data(), static_cast<std::uint32_t>(seq >> 32));
        append(icv_input, hi);
    }
    auto mac = crypto::make_mac(a.integ_id, test::pattern_key(32, 0x80));
    std::uint8_t icv[16];
    mac->compute(icv_input, icv);
    EXPECT_EQ(to_hex(ByteView(icv, 16)), to_hex(esp_part.subspan(esp_len - 16)));
    auto cbc = crypto::make_block_cipher(a.encr_id, test::pattern_key(16, 0x40));
    Bytes pt(32);
    ASSERT_TRUE(cbc->decrypt(esp_part.subspan(8, 16), esp_part.subspan(24, 32), pt.data()));
    Bytes expected = inner;
    expected.insert(expected.end(), {0, ipproto::ipv4});
    EXPECT_EQ(to_hex(pt), to_hex(expected));
}

TEST(EspLayout, CbcIcvMatchesCryptoMac) { check_cbc_layout(false); }
TEST(EspLayout, CbcIcvCoversSeqHiWithEsn) { check_cbc_layout(true); }

TEST(EspLayout, CbcPadsWithMonotonicBytesToTheBlockSize) {
    const Algo a = test::esp_algorithms()[3];
    Pair p(a, Mode::tunnel, false, false);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 0);  // 28 bytes
    Buf b(inner);
    ASSERT_TRUE(esp::seal(*p.out, b.pkt, kNow).ok());
    const Bytes wire = b.bytes();
    auto cbc = crypto::make_block_cipher(a.encr_id, test::pattern_key(16, 0x40));
    Bytes pt(32);
    ASSERT_TRUE(cbc->decrypt(ByteView(wire).subspan(28, 16), ByteView(wire).subspan(44, 32), pt.data()));
    EXPECT_EQ(to_hex(ByteView(pt).subspan(28)), "01020204");  // pad 1,2; pad length 2; next header 4
}

TEST(EspLayout, CbcIvsAreDistinctAndNotTheSequenceNumber) {
    Pair p(test::esp_algorithms()[3], Mode::tunnel, false, false);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 0);
    Buf a(inner), b(inner);
    ASSERT_TRUE(esp::seal(*p.out, a.pkt, kNow).ok());
    ASSERT_TRUE(esp::seal(*p.out, b.pkt, kNow).ok());
    const Bytes iv_a(a.pkt.data() + 28, a.pkt.data() + 44);
    const Bytes iv_b(b.pkt.data() + 28, b.pkt.data() + 44);
    EXPECT_NE(iv_a, iv_b);
    EXPECT_NE(to_hex(iv_a), "00000000000000000000000000000001");
    // A second SA with the same keys draws another IV key: other IVs.
    Pair q(test::esp_algorithms()[3], Mode::tunnel, false, false);
    q.rng = crypto::make_seeded_random(99);
    q.out = make_sa(make_params(test::esp_algorithms()[3], Protocol::esp, Mode::tunnel, Direction::outbound,
                                false),
                    q.rng.get());
    Buf c(inner);
    ASSERT_TRUE(esp::seal(*q.out, c.pkt, kNow).ok());
    EXPECT_NE(Bytes(c.pkt.data() + 28, c.pkt.data() + 44), iv_a);
}

TEST(EspLayout, TunnelOuterHeaderCopiesDscpAndDf) {
    Pair p(test::esp_algorithms()[0], Mode::tunnel, false, false);
    Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 10);
    inner[1] = 0xb8;  // DSCP EF
    inner[6] = 0x40;  // DF
    set_ipv4_checksum(inner.data());
    Buf b(inner);
    ASSERT_TRUE(esp::seal(*p.out, b.pkt, kNow).ok());
    const Bytes w = b.bytes();
    EXPECT_EQ(w[1], 0xb8);
    EXPECT_EQ(w[6] & 0x40, 0x40);
    EXPECT_EQ(w[8], 64);
    EXPECT_EQ(to_hex(ByteView(w).subspan(12, 8)), "c0000201c0000202");
    EXPECT_EQ(checksum_fold(checksum_add(0, ByteView(w).first(20))), 0xffff);  // valid checksum
}

TEST(EspLayout, UdpEncapsulationPutsEspAfterAUdpHeader) {
    Pair p(test::esp_algorithms()[0], Mode::tunnel, false, false);
    SaParams params = p.out->params();
    auto rng = crypto::make_seeded_random(1);
    auto out_params = make_params(test::esp_algorithms()[0], Protocol::esp, Mode::tunnel,
                                  Direction::outbound, false);
    out_params.udp_encap = true;
    auto out = make_sa(out_params);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 10);
    Buf b(inner);
    const PacketResult s = esp::seal(*out, b.pkt, kNow);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.ip_header_len, 20);
    EXPECT_EQ(s.esp_offset, 28);
    const Bytes w = b.bytes();
    EXPECT_EQ(w[9], ipproto::udp);
    EXPECT_EQ(load_be16(w.data() + 20), 4500);
    EXPECT_EQ(load_be16(w.data() + 22), 4500);
    EXPECT_EQ(load_be16(w.data() + 24), w.size() - 20);
    EXPECT_EQ(load_be16(w.data() + 26), 0);  // RFC 3948: zero checksum over IPv4
    EXPECT_EQ(load_be32(w.data() + 28), 0x11223344u);
    ASSERT_TRUE(b.pkt.pull_front(s.esp_offset));
    EXPECT_TRUE(esp::open(*p.in, b.pkt, kNow).ok());
    EXPECT_EQ(b.bytes(), inner);
}

TEST(EspLayout, UdpEncapsulationOverIpv6HasAValidChecksum) {
    auto params = make_params(test::esp_algorithms()[2], Protocol::esp, Mode::tunnel, Direction::outbound,
                              false, true);
    params.udp_encap = true;
    auto out = make_sa(params);
    Buf b(make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 33));
    ASSERT_TRUE(esp::seal(*out, b.pkt, kNow).ok());
    const Bytes w = b.bytes();
    std::uint32_t sum = checksum_add(0, ByteView(w).subspan(8, 32));
    sum += ipproto::udp;
    sum += static_cast<std::uint32_t>(w.size() - 40);
    sum = checksum_add(sum, ByteView(w).subspan(40));
    EXPECT_EQ(checksum_fold(sum), 0xffff);
}

TEST(EspLayout, TransportModeInsertsEspAfterTheIpHeader) {
    Pair p(test::esp_algorithms()[0], Mode::transport, false, false);
    const Bytes inner = make_packet("192.0.2.1", "192.0.2.2", ipproto::tcp, 1, 2, 100);
    Buf b(inner);
    const PacketResult s = esp::seal(*p.out, b.pkt, kNow);
    ASSERT_TRUE(s.ok());
    const Bytes w = b.bytes();
    EXPECT_EQ(w[9], ipproto::esp);
    EXPECT_EQ(load_be16(w.data() + 2), w.size());
    EXPECT_EQ(to_hex(ByteView(w).subspan(12, 8)), to_hex(ByteView(inner).subspan(12, 8)));
    EXPECT_EQ(w.size(), 20u + 8 + 8 + (120 + 2 + 2) + 16);  // 120 + 2 -> pad 2 to 124
    EXPECT_EQ(checksum_fold(checksum_add(0, ByteView(w).first(20))), 0xffff);
}

TEST(EspLayout, TransportIpv6WithExtensionHeadersIsUnsupported) {
    Pair p(test::esp_algorithms()[0], Mode::transport, false, true);
    Bytes pkt = make_packet("2001:db8::1", "2001:db8::2", ipproto::udp, 1, 2, 8);
    pkt[6] = ipproto::hopopts;
    Buf b(pkt);
    EXPECT_EQ(esp::seal(*p.out, b.pkt, kNow).status, Status::unsupported);
    EXPECT_EQ(p.out->counters().drop(Status::unsupported), 1u);
}

// ---- inbound failures ------------------------------------------------------

struct Sealed {
    Bytes esp;  // from the ESP header on
};

Bytes seal_one(Sa& out, const Bytes& inner) {
    Buf b(inner);
    const PacketResult s = esp::seal(out, b.pkt, kNow);
    EXPECT_TRUE(s.ok());
    b.pkt.pull_front(s.esp_offset);
    return b.bytes();
}

Status open_one(Sa& in, const Bytes& esp_packet, Bytes* out = nullptr) {
    Buf b(esp_packet);
    const PacketResult r = esp::open(in, b.pkt, kNow);
    if (out != nullptr) *out = b.bytes();
    return r.status;
}

class EspInbound : public ::testing::TestWithParam<int> {
protected:
    const Algo& algo() const { return test::esp_algorithms()[static_cast<std::size_t>(GetParam())]; }
};

TEST_P(EspInbound, DuplicateIsDroppedAsReplay) {
    Pair p(algo(), Mode::tunnel, false, false);
    const Bytes e = seal_one(*p.out, make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 40));
    EXPECT_EQ(open_one(*p.in, e), Status::ok);
    EXPECT_EQ(open_one(*p.in, e), Status::replay);
    EXPECT_EQ(p.in->counters().drop(Status::replay), 1u);
    EXPECT_EQ(p.in->counters().packets, 1u);
}

TEST_P(EspInbound, TamperedPacketsFailIntegrityAndDoNotMoveTheWindow) {
    Pair p(algo(), Mode::tunnel, true, false);
    const Bytes e = seal_one(*p.out, make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 40));
    for (std::size_t at : {std::size_t{4}, std::size_t{8}, e.size() / 2, e.size() - 1}) {
        Bytes bad = e;
        bad[at] ^= 0x01;
        EXPECT_EQ(open_one(*p.in, bad), Status::auth_failed) << "byte " << at;
    }
    EXPECT_EQ(p.in->counters().drop(Status::auth_failed), 4u);
    EXPECT_EQ(p.in->replay().top(), 0u);  // forged packets never slide the window
    EXPECT_EQ(open_one(*p.in, e), Status::ok);
}

TEST_P(EspInbound, WrongSpiAndTruncationAreRejected) {
    Pair p(algo(), Mode::tunnel, false, false);
    const Bytes e = seal_one(*p.out, make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 40));
    Bytes bad = e;
    bad[0] ^= 0x80;
    EXPECT_EQ(open_one(*p.in, bad), Status::unknown_spi);
    for (std::size_t n : {0, 4, 8, 20, 30}) EXPECT_EQ(open_one(*p.in, Bytes(e.begin(), e.begin() + n)), Status::malformed) << n;
}

TEST_P(EspInbound, TooOldAfterTheWindowSlid) {
    Pair p(algo(), Mode::tunnel, false, false);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 8);
    const Bytes first = seal_one(*p.out, inner);  // seq 1
    p.out->set_last_seq_sent(1024);
    const Bytes edge = seal_one(*p.out, inner);   // seq 1025: seq 1 is exactly 1024 below
    ASSERT_EQ(open_one(*p.in, edge), Status::ok);
    EXPECT_EQ(open_one(*p.in, first), Status::replay);
    EXPECT_EQ(p.in->counters().drop(Status::replay), 1u);
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, EspInbound, ::testing::Range(0, 6),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                             return test::esp_algorithms()[static_cast<std::size_t>(param_info.param)].name;
                         });

TEST(EspInboundWindow, OutOfOrderInsideAConfigurableWindow) {
    const Algo a = test::esp_algorithms()[0];
    auto rng = crypto::make_seeded_random(3);
    auto out = make_sa(make_params(a, Protocol::esp, Mode::tunnel, Direction::outbound, false), rng.get());
    auto in_params = make_params(a, Protocol::esp, Mode::tunnel, Direction::inbound, false);
    in_params.replay_window = 4096;
    auto in = make_sa(in_params);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 8);
    std::vector<Bytes> pkts;
    for (int i = 0; i < 5000; ++i) pkts.push_back(seal_one(*out, inner));
    ASSERT_EQ(open_one(*in, pkts[4999]), Status::ok);           // seq 5000
    EXPECT_EQ(open_one(*in, pkts[5000 - 4096]), Status::ok);    // seq 905: 4095 below
    EXPECT_EQ(open_one(*in, pkts[5000 - 4097]), Status::replay);  // seq 904: 4096 below
    EXPECT_EQ(open_one(*in, pkts[2500]), Status::ok);
    EXPECT_EQ(open_one(*in, pkts[2500]), Status::replay);
}

TEST(EspEsn, SequenceNumbersCrossTheTwoToThe32Boundary) {
    const Algo a = test::esp_algorithms()[3];  // CBC: Seq-hi only inside the ICV
    Pair p(a, Mode::tunnel, true, false);
    p.out->set_last_seq_sent(0xfffffffdULL);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 8);
    std::vector<Bytes> pkts;
    for (int i = 0; i < 4; ++i) pkts.push_back(seal_one(*p.out, inner));  // fffffffe .. 1_00000001
    EXPECT_EQ(load_be32(pkts[2].data() + 4), 0u);  // low half wrapped on the wire
    EXPECT_EQ(p.out->last_seq_sent(), 0x100000001ULL);
    // Receiver in the same epoch: accepts across the wrap, out of order too.
    p.in->set_replay_top_for_test(0xfffffff0ULL);
    EXPECT_EQ(open_one(*p.in, pkts[2]), Status::ok);
    EXPECT_EQ(p.in->replay().top(), 0x100000000ULL);
    EXPECT_EQ(open_one(*p.in, pkts[0]), Status::ok);  // late, pre-wrap: high half 0 inferred
    EXPECT_EQ(open_one(*p.in, pkts[3]), Status::ok);
    EXPECT_EQ(open_one(*p.in, pkts[1]), Status::ok);
    EXPECT_EQ(open_one(*p.in, pkts[2]), Status::replay);
    // Without ESN on the receiver the high half is guessed wrong: the ICV fails.
    auto no_esn = make_sa(make_params(a, Protocol::esp, Mode::tunnel, Direction::inbound, false));
    EXPECT_EQ(open_one(*no_esn, pkts[3]), Status::auth_failed);
}

TEST(EspEsn, AeadReceiverReconstructsTheHighHalf) {
    Pair p(test::esp_algorithms()[2], Mode::tunnel, true, false);
    p.out->set_last_seq_sent((std::uint64_t{5} << 32) | 0xffffffffULL);
    p.in->set_replay_top_for_test((std::uint64_t{5} << 32) | 0xfffffff0ULL);
    const Bytes e = seal_one(*p.out, make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 8));
    EXPECT_EQ(open_one(*p.in, e), Status::ok);
    EXPECT_EQ(p.in->replay().top(), std::uint64_t{6} << 32);
}

// ---- padding, dummy packets, selectors ---------------------------------------

// Builds an AEAD ESP packet by hand with an arbitrary plaintext trailer.
Bytes handmade_gcm(std::uint32_t seq, const Bytes& plaintext_with_trailer) {
    const Bytes key = test::pattern_key(20, 0x40);
    auto aead = crypto::make_aead(wire::encr::aes_gcm_16, ByteView(key.data(), 16));
    Bytes pkt(16);
    store_be32(pkt.data(), 0x11223344);
    store_be32(pkt.data() + 4, seq);
    store_be64(pkt.data() + 8, seq);
    Bytes nonce(key.begin() + 16, key.end());
    nonce.insert(nonce.end(), pkt.begin() + 8, pkt.end());
    Bytes ct(plaintext_with_trailer.size() + 16);
    EXPECT_TRUE(aead->seal(nonce, ByteView(pkt.data(), 8), plaintext_with_trailer, ct.data()));
    append(pkt, ct);
    return pkt;
}

TEST(EspPadding, WrongPadBytesAreDropped) {
    Pair p(test::esp_algorithms()[0], Mode::tunnel, false, false);
    Bytes pt = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 3);  // 31 bytes
    Bytes good = pt;
    good.insert(good.end(), {1, 2, 3, 3, ipproto::ipv4});
    Bytes bad = pt;
    bad.insert(bad.end(), {1, 2, 4, 3, ipproto::ipv4});
    Bytes too_long = pt;
    too_long.insert(too_long.end(), {1, 2, 3, 200, ipproto::ipv4});
    EXPECT_EQ(open_one(*p.in, handmade_gcm(1, good)), Status::ok);
    EXPECT_EQ(open_one(*p.in, handmade_gcm(2, bad)), Status::bad_padding);
    EXPECT_EQ(open_one(*p.in, handmade_gcm(3, too_long)), Status::bad_padding);
    EXPECT_EQ(p.in->counters().drop(Status::bad_padding), 2u);
}

TEST(EspPadding, DummyPacketIsAuthenticatedThenDroppedSilently) {
    Pair p(test::esp_algorithms()[0], Mode::tunnel, false, false);
    Bytes pt = {0xaa, 0xbb, 0, ipproto::none};
    EXPECT_EQ(open_one(*p.in, handmade_gcm(9, pt)), Status::dummy);
    EXPECT_EQ(p.in->replay().top(), 9u);
    EXPECT_EQ(p.in->counters().packets, 0u);
}

TEST(EspPadding, TfcPaddingAfterTheInnerPacketIsRemoved) {
    Pair p(test::esp_algorithms()[0], Mode::tunnel, false, false);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 3);  // 31 bytes
    Bytes pt = inner;
    pt.insert(pt.end(), 20, 0xee);  // RFC 4303 §2.7 TFC padding
    pt.insert(pt.end(), {1, 1, ipproto::ipv4});
    Bytes out;
    EXPECT_EQ(open_one(*p.in, handmade_gcm(1, pt), &out), Status::ok);
    EXPECT_EQ(out, inner);
}

TEST(EspSelectors, InnerPacketOutsideTheSaSelectorsIsDropped) {
    const Algo a = test::esp_algorithms()[0];
    auto out = make_sa(make_params(a, Protocol::esp, Mode::tunnel, Direction::outbound, false));
    auto in_params = make_params(a, Protocol::esp, Mode::tunnel, Direction::inbound, false);
    in_params.local_ts = {TrafficSelector{*AddressRange::from_prefix(test::ip("10.2.0.0"), 16)}};
    in_params.remote_ts = {TrafficSelector{*AddressRange::from_prefix(test::ip("10.1.0.0"), 16),
                                           ipproto::udp, 1000, 1999}};
    auto in = make_sa(in_params);
    EXPECT_EQ(open_one(*in, seal_one(*out, make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1500, 53, 8))),
              Status::ok);
    // Spoofed inner source (another site's address) under this SA: dropped.
    EXPECT_EQ(open_one(*in, seal_one(*out, make_packet("10.9.0.5", "10.2.0.9", ipproto::udp, 1500, 53, 8))),
              Status::selector_mismatch);
    EXPECT_EQ(open_one(*in, seal_one(*out, make_packet("10.1.0.5", "10.3.0.9", ipproto::udp, 1500, 53, 8))),
              Status::selector_mismatch);
    EXPECT_EQ(open_one(*in, seal_one(*out, make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 2500, 53, 8))),
              Status::selector_mismatch);
    EXPECT_EQ(open_one(*in, seal_one(*out, make_packet("10.1.0.5", "10.2.0.9", ipproto::tcp, 1500, 53, 8))),
              Status::selector_mismatch);
    EXPECT_EQ(in->counters().drop(Status::selector_mismatch), 4u);
    EXPECT_EQ(in->counters().packets, 1u);
}

// ---- buffers, lifetimes, sequence overflow -----------------------------------

TEST(EspBuffers, MissingHeadroomOrTailroomIsReportedNotOverrun) {
    Pair p(test::esp_algorithms()[3], Mode::tunnel, false, false);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 8);
    Buf no_head(inner, 10, 128);
    EXPECT_EQ(esp::seal(*p.out, no_head.pkt, kNow).status, Status::no_room);
    Buf no_tail(inner, 128, 8);
    EXPECT_EQ(esp::seal(*p.out, no_tail.pkt, kNow).status, Status::no_room);
    EXPECT_EQ(p.out->last_seq_sent(), 0u);  // no sequence number burnt
    Buf exact(inner, esp::headroom_needed(*p.out), esp::tailroom_needed(*p.out));
    EXPECT_TRUE(esp::seal(*p.out, exact.pkt, kNow).ok());
}

TEST(EspBuffers, WrongDirectionOrProtocolIsUnsupported) {
    Pair p(test::esp_algorithms()[0], Mode::tunnel, false, false);
    Buf b(make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 8));
    EXPECT_EQ(esp::seal(*p.in, b.pkt, kNow).status, Status::unsupported);
    EXPECT_EQ(esp::open(*p.out, b.pkt, kNow).status, Status::unsupported);
    Buf junk(Bytes{0x45, 0, 0});
    EXPECT_EQ(esp::seal(*p.out, junk.pkt, kNow).status, Status::malformed);
}

TEST(EspSequence, OverflowWithout64BitSeqRaisesRekeyThenRefuses) {
    Pair p(test::esp_algorithms()[0], Mode::tunnel, false, false);
    p.out->set_last_seq_sent(0xfffffffeULL);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 8);
    Buf b1(inner);
    const PacketResult r1 = esp::seal(*p.out, b1.pkt, kNow);  // seq 0xffffffff: the last one
    ASSERT_TRUE(r1.ok());
    EXPECT_TRUE(r1.events.has(SaEvent::seq_soft));
    Buf b2(inner);
    const PacketResult r2 = esp::seal(*p.out, b2.pkt, kNow);
    EXPECT_EQ(r2.status, Status::seq_overflow);
    EXPECT_TRUE(r2.events.has(SaEvent::seq_hard));
    EXPECT_TRUE(p.out->expired());
    Buf b3(inner);
    EXPECT_EQ(esp::seal(*p.out, b3.pkt, kNow).status, Status::expired);
    // With ESN the same counter simply continues.
    Pair q(test::esp_algorithms()[0], Mode::tunnel, true, false);
    q.out->set_last_seq_sent(0xffffffffULL);
    Buf b4(inner);
    const PacketResult r4 = esp::seal(*q.out, b4.pkt, kNow);
    EXPECT_TRUE(r4.ok());
    EXPECT_TRUE(r4.events.empty());
}

TEST(EspSequence, SoftMarginWarnsOnceBeforeExhaustion) {
    auto params = make_params(test::esp_algorithms()[0], Protocol::esp, Mode::tunnel, Direction::outbound, false);
    params.seq_soft_margin = 10;
    auto out = make_sa(params);
    out->set_last_seq_sent(0xffffffffULL - 12);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 8);
    int soft = 0;
    for (int i = 0; i < 5; ++i) {
        Buf b(inner);
        soft += esp::seal(*out, b.pkt, kNow).events.has(SaEvent::seq_soft) ? 1 : 0;
    }
    EXPECT_EQ(soft, 1);
}

TEST(EspLifetime, SoftAndHardPacketAndByteLimitsRaiseEventsOnce) {
    auto params = make_params(test::esp_algorithms()[0], Protocol::esp, Mode::tunnel, Direction::outbound, false);
    params.lifetime.soft_packets = 2;
    params.lifetime.hard_packets = 4;
    params.lifetime.soft_bytes = 100;  // inner bytes: 36 per packet
    auto out = make_sa(params);
    const Bytes inner = make_packet("10.1.0.5", "10.2.0.9", ipproto::udp, 1, 2, 8);
    std::vector<EventSet> ev;
    for (int i = 0; i < 5; ++i) {
        Buf b(inner);
        const PacketResult r = esp::seal(*out, b.pkt, kNow);
        ev.push_back(r.events);
        if (i < 4) EXPECT_TRUE(r.ok()) << i;
        else EXPECT_EQ(r.status, Status::expired);
    }
    EXPECT_TRUE(ev[0].empty());
    EXPECT_EQ(ev[1].to_string(), "soft_packets");
    EXPECT_EQ(ev[2].to_string(), "soft_bytes");  // 108 >= 100
    EXPECT_EQ(ev[3].to_string(), "hard_packets");
    EXPECT_TRUE(ev[3].any_hard());
    EXPECT_EQ(out->counters().drop(Status::expired), 1u);
}

TEST(EspLifetime, TimeLimitsFireAtTheirDeadlinesAndExpireInbound) {
    auto params = make_params(test::esp_algorithms()[0], Protocol::esp, Mode::tunnel, Direction::inbound, false);
    params.lifetime.soft_time = std::chrono::seconds(10);
    params.lifetime.hard_time = std::chrono::seconds(15);
    auto in = make_sa(params, nullptr, Time{std::chrono::seconds(100)});
    EXPECT_EQ(in->lifetime().next_deadline(), Time{std::chrono::seconds(110)});
    EXPECT_TRUE(in->poll(Time{std::chrono::seconds(109)}).empty());
    EXPECT_EQ(in->poll(Time{std::chrono::seconds(110)}).to_string(), "soft_time");
    EXPECT_TRUE(in->poll(Time{std::chrono::seconds(111)}).empty());
    EXPECT_EQ(in->lifetime().next_deadline(), Time{std::chrono::seconds(115)});
    EXPECT_EQ(in->poll(Time{std::chrono::seconds(120)}).to_string(), "hard_time");
    EXPECT_FALSE(in->lifetime().next_deadline());
    Buf b(Bytes(64, 0));
    EXPECT_EQ(esp::open(*in, b.pkt, Time{std::chrono::seconds(121)}).status, Status::expired);
}

TEST(EspSa, CreateRejectsBadParameters) {
    const Algo gcm = test::esp_algorithms()[0];
    auto p = make_params(gcm, Protocol::esp, Mode::tunnel, Direction::inbound, false);
    p.encr_key.pop_back();  // salt missing a byte
    EXPECT_FALSE(Sa::create(p, kNow));
    p = make_params(gcm, Protocol::esp, Mode::tunnel, Direction::inbound, false);
    p.integ_id = wire::integ::hmac_sha2_256_128;
    p.integ_key = Bytes(32, 1);
    EXPECT_FALSE(Sa::create(p, kNow));  // AEAD plus integrity
    const Algo cbc = test::esp_algorithms()[3];
    p = make_params(cbc, Protocol::esp, Mode::tunnel, Direction::inbound, false);
    p.integ_id = 0;
    p.integ_key.clear();
    EXPECT_FALSE(Sa::create(p, kNow));  // ESP without integrity
    p = make_params(cbc, Protocol::esp, Mode::tunnel, Direction::outbound, false);
    EXPECT_FALSE(Sa::create(p, kNow, nullptr));  // CBC outbound needs IVs
    p = make_params(gcm, Protocol::esp, Mode::tunnel, Direction::inbound, false);
    p.remote.address = test::ip("2001:db8::9");
    EXPECT_FALSE(Sa::create(p, kNow));  // mixed families
    p = make_params(gcm, Protocol::esp, Mode::tunnel, Direction::inbound, false);
    auto ok = Sa::create(p, kNow);
    ASSERT_TRUE(ok);
    EXPECT_TRUE((*ok)->params().encr_key.empty());  // key material not kept around
}

}  // namespace
}  // namespace mobiked::ipsec
