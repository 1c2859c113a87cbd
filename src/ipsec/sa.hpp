// One security association of the SAD (RFC 4301 §4.4.2): parameters, the
// per-SA cipher contexts (keyed once at creation), the outbound sequence
// counter or the inbound anti-replay window, lifetimes and counters.
//
// SaParams is what the daemon fills from the IKE engine's InstallChildSa,
// once per direction (ipsec/ does not depend on ike/).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/bytes.hpp"
#include "common/net.hpp"
#include "common/result.hpp"
#include "common/time.hpp"
#include "crypto/cipher.hpp"
#include "crypto/random.hpp"
#include "ipsec/constants.hpp"
#include "ipsec/lifetimes.hpp"
#include "ipsec/replay_window.hpp"
#include "ipsec/selectors.hpp"

namespace mobiked::ipsec {

enum class DfPolicy : std::uint8_t { copy, set, clear };  // outer IPv4 DF bit (RFC 4301 §8.1)

struct SaParams {
    std::uint32_t spi = 0;
    Protocol protocol = Protocol::esp;
    Mode mode = Mode::tunnel;
    Direction direction = Direction::outbound;

    // IANA ids as negotiated (RFC 7296 transform types 1, 3, 5).
    std::uint16_t encr_id = 0;       // ESP only; 0 for AH
    std::uint16_t encr_key_bits = 0;
    std::uint16_t integ_id = 0;      // 0 with AEAD
    Bytes encr_key;                  // AEAD: key || 4-byte salt, as InstallChildSa carries it
    Bytes integ_key;
    bool esn = false;

    // Outer addresses: tunnel endpoints (tunnel) or the hosts (transport).
    // With udp_encap the ports are the UDP encapsulation ports (RFC 3948).
    Endpoint local;
    Endpoint remote;
    bool udp_encap = false;

    // SA selectors, from this host's view (TSi/TSr mapped to local/remote).
    std::vector<TrafficSelector> local_ts;
    std::vector<TrafficSelector> remote_ts;

    LifetimeLimits lifetime;
    std::uint32_t replay_window = ReplayWindow::kDefaultSize;  // inbound only
    // The seq_soft event fires this many packets before the counter runs out.
    std::uint64_t seq_soft_margin = std::uint64_t{1} << 20;
    std::uint8_t outer_ttl = 64;
    DfPolicy df = DfPolicy::copy;
};

// Per-SA statistics. drops[] is indexed by Status (replay, auth_failed,
// selector_mismatch, bad_padding, ... ; ok stays 0).
struct SaCounters {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;  // inner (cleartext) bytes
    Time last_packet{};       // of the last one accounted (MOBIKE path liveness reads it)
    std::array<std::uint64_t, kStatusCount> drops{};
    std::uint64_t drop(Status s) const { return drops[static_cast<std::size_t>(s)]; }
};

// Outcome of one ESP/AH seal or open.
struct PacketResult {
    Status status = Status::ok;
    EventSet events;                 // lifetime events this packet raised (even on failure)
    std::uint16_t ip_header_len = 0; // seal: outer IP header length; UDP/ESP/AH follow
    std::uint16_t esp_offset = 0;    // seal (ESP): offset of the ESP header (after UDP if any)
    std::uint8_t next_header = 0;    // open: protocol of what was protected
    bool ok() const { return status == Status::ok; }
};

class Sa {
public:
    // Validates the parameters and keys the cipher contexts. Errors: unknown
    // or mismatched algorithms, wrong key sizes, AH with an encryption
    // transform, ESP without integrity. `rng` keys the CBC IV generator of
    // outbound CBC SAs (needed only then, and only during create): each IV is
    // AES_Kiv(sequence number) under a random per-SA key Kiv — unpredictable
    // as RFC 3602 §2.3 asks, unique per packet, and without a DRBG call per
    // packet (RAND_bytes cost ~0.8 µs, more than the cipher at 64 bytes).
    static mobiked::Result<std::unique_ptr<Sa>> create(SaParams params, Time now,
                                                       crypto::Random* rng = nullptr);

    const SaParams& params() const { return p_; }  // keys are wiped after create()
    std::uint32_t spi() const { return p_.spi; }
    const SaCounters& counters() const { return counters_; }
    const Lifetime& lifetime() const { return lifetime_; }
    const ReplayWindow& replay() const { return replay_; }
    std::uint64_t last_seq_sent() const { return seq_out_; }
    bool expired() const { return lifetime_.expired(); }

    // Time-based lifetime check; call at lifetime().next_deadline().
    EventSet poll(Time now) { return lifetime_.poll(now); }
    // Tests and migration: continue counting from `seq` (the next packet uses seq + 1).
    void set_last_seq_sent(std::uint64_t seq) { seq_out_ = seq; }
    void set_replay_top_for_test(std::uint64_t top);
    // MOBIKE: new outer addresses for the SA (UpdateSaAddresses).
    void update_endpoints(const Endpoint& local, const Endpoint& remote, bool udp_encap);
    // MOBIKEv2: a transport-mode SA's selectors hold the hosts' addresses and
    // move with them (inbound packets are checked against the new ones).
    void update_selectors(std::vector<TrafficSelector> local_ts, std::vector<TrafficSelector> remote_ts);

    // Transform geometry.
    bool aead() const { return aead_ != nullptr; }
    std::size_t iv_size() const { return iv_size_; }
    std::size_t icv_size() const { return icv_size_; }
    std::size_t block_size() const { return block_size_; }

private:
    friend struct EspOps;
    friend struct AhOps;

    Sa(SaParams p, Time now);

    // Shared by the transforms: count a drop; take the next outbound
    // sequence number (false when exhausted: seq_overflow); count a packet.
    PacketResult drop(Status s, EventSet events = {}) {
        ++counters_.drops[static_cast<std::size_t>(s)];
        return PacketResult{.status = s, .events = events};
    }
    bool next_seq(std::uint64_t& seq, EventSet& events);
    void account(std::size_t bytes, Time now, EventSet& events) {
        ++counters_.packets;
        counters_.bytes += bytes;
        counters_.last_packet = now;
        events.add(lifetime_.account(bytes, now));
    }
    // Selector check of a decapsulated packet (RFC 4301 §5.2 step 4).
    Status check_inner(ByteView ip_packet) const;

    SaParams p_;
    std::unique_ptr<crypto::Aead> aead_;
    std::unique_ptr<crypto::BlockCipher> cbc_;
    std::unique_ptr<crypto::Mac> mac_;
    std::unique_ptr<crypto::BlockCipher> iv_gen_;  // outbound CBC only
    std::array<std::uint8_t, 4> salt_{};
    std::size_t iv_size_ = 0;
    std::size_t icv_size_ = 0;
    std::size_t block_size_ = 4;

    std::uint64_t seq_out_ = 0;
    ReplayWindow replay_;
    Lifetime lifetime_;
    SaCounters counters_;
};

}  // namespace mobiked::ipsec
