// ipsec/ micro-benchmarks: ESP seal/open per packet next to the bare AEAD
// (or CBC+HMAC) cost, the bare AES-GCM cost through each AEAD backend
// (OpenSSL, Intel ipsec-mb; ESP itself uses the process's choice, so run it
// once per MOBIKED_AEAD value), and SPD-cache / SPD / SAD lookups at 10, 1 000 and
// 100 000 entries. Second lookup argument: 0 = keys drawn uniformly from
// all entries (large tables pay their cache misses: memory-bound), 1 = a hot
// set of 64 keys spread over the whole table (the algorithmic cost: how a
// flow-heavy data plane sees it, with active flows cache-resident).
#include <benchmark/benchmark.h>

#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "crypto/cipher.hpp"
#include "crypto/random.hpp"
#include "ipsec/esp.hpp"
#include "ipsec/ip.hpp"
#include "ipsec/outbound.hpp"
#include "ipsec/sad.hpp"
#include "ipsec/spd.hpp"
#include "ipsec/spd_cache.hpp"
#include "wire/constants.hpp"

using namespace mobiked;
using namespace mobiked::ipsec;

namespace {

constexpr Time kNow{0};

struct Algo {
    std::uint16_t encr_id, key_bits, integ_id;
};
const Algo kAlgos[] = {
    {wire::encr::aes_gcm_16, 128, 0},
    {wire::encr::chacha20_poly1305, 0, 0},
    {wire::encr::aes_cbc, 128, wire::integ::hmac_sha2_256_128},
    {wire::encr::aes_gcm_16, 256, 0},
};
const char* kAlgoNames[] = {"aes128gcm", "chacha20poly1305", "aes128cbc_sha256", "aes256gcm"};

// "aes128gcm/ipsec-mb": which backend this process's make_aead() picked.
std::string algo_label(int i) {
    std::string l = kAlgoNames[i];
    if (crypto::encr_info(kAlgos[i].encr_id, kAlgos[i].key_bits)->aead)
        l += "/" + std::string(crypto::to_string(crypto::aead_backend(kAlgos[i].encr_id)));
    return l;
}

SaParams params(const Algo& a, Direction d, std::uint32_t spi = 0x1000) {
    SaParams p;
    p.spi = spi;
    p.direction = d;
    p.mode = Mode::tunnel;
    p.encr_id = a.encr_id;
    p.encr_key_bits = a.key_bits;
    auto info = crypto::encr_info(a.encr_id, a.key_bits);
    p.encr_key = Bytes(info->key_size + info->salt_size, 0x42);
    p.integ_id = a.integ_id;
    if (a.integ_id) p.integ_key = Bytes(crypto::integ_info(a.integ_id)->key_size, 0x17);
    p.local = {*IpAddress::parse("192.0.2.1"), 4500};
    p.remote = {*IpAddress::parse("192.0.2.2"), 4500};
    if (d == Direction::inbound) std::swap(p.local, p.remote);
    p.local_ts = {TrafficSelector{AddressRange::any(IpAddress::Family::v4)}};
    p.remote_ts = p.local_ts;
    return p;
}

// An IPv4/UDP packet of exactly `total` bytes.
Bytes inner_packet(std::size_t total) {
    Bytes p(total, 0xab);
    write_ipv4_header(p.data(), *IpAddress::parse("10.1.0.1"), *IpAddress::parse("10.2.0.1"), ipproto::udp,
                      total, 0, false, 64, 0);
    store_be16(p.data() + 20, 1000);
    store_be16(p.data() + 22, 2000);
    return p;
}

void BM_EspSeal(benchmark::State& state) {
    const Algo& a = kAlgos[state.range(0)];
    const auto size = static_cast<std::size_t>(state.range(1));
    auto rng = crypto::make_system_random();
    auto sa = std::move(*Sa::create(params(a, Direction::outbound), kNow, rng.get()));
    const Bytes inner = inner_packet(size);
    Bytes storage(size + 256);
    for (auto _ : state) {
        std::memcpy(storage.data() + 128, inner.data(), size);
        PacketBuffer pkt(storage, 128, size);
        const PacketResult r = esp::seal(*sa, pkt, kNow);
        benchmark::DoNotOptimize(r);
        if (!r.ok()) state.SkipWithError("seal failed");
    }
    state.SetLabel(algo_label(static_cast<int>(state.range(0))));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void BM_EspOpen(benchmark::State& state) {
    const Algo& a = kAlgos[state.range(0)];
    const auto size = static_cast<std::size_t>(state.range(1));
    auto rng = crypto::make_system_random();
    auto out = std::move(*Sa::create(params(a, Direction::outbound), kNow, rng.get()));
    // 256 distinct sealed packets; the inbound SA is renewed (untimed) after
    // each pass so the replay window never rejects them.
    constexpr std::size_t kRing = 256;
    const Bytes inner = inner_packet(size);
    std::vector<Bytes> sealed;
    for (std::size_t i = 0; i < kRing; ++i) {
        Bytes st(size + 256);
        std::memcpy(st.data() + 128, inner.data(), size);
        PacketBuffer pkt(st, 128, size);
        const PacketResult r = esp::seal(*out, pkt, kNow);
        pkt.pull_front(r.esp_offset);
        sealed.push_back(to_bytes(pkt.view()));
    }
    std::unique_ptr<Sa> in;
    Bytes storage(size + 256);
    std::size_t i = kRing;
    for (auto _ : state) {
        if (i == kRing) {
            state.PauseTiming();
            in = std::move(*Sa::create(params(a, Direction::inbound), kNow));
            i = 0;
            state.ResumeTiming();
        }
        const Bytes& e = sealed[i++];
        std::memcpy(storage.data() + 128, e.data(), e.size());
        PacketBuffer pkt(storage, 128, e.size());
        const PacketResult r = esp::open(*in, pkt, kNow);
        benchmark::DoNotOptimize(r);
        if (!r.ok()) state.SkipWithError("open failed");
    }
    state.SetLabel(algo_label(static_cast<int>(state.range(0))));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// The cipher alone on the same plaintext size (payload + ESP trailer), same
// copy-in as above: the floor under seal.
void BM_BareCipher(benchmark::State& state) {
    const Algo& a = kAlgos[state.range(0)];
    const auto size = static_cast<std::size_t>(state.range(1));
    auto info = *crypto::encr_info(a.encr_id, a.key_bits);
    const Bytes key(info.key_size, 0x42);
    const std::size_t body = info.aead ? (size + 2 + 3) / 4 * 4 : (size + 2 + 15) / 16 * 16;
    const Bytes inner = inner_packet(size);
    Bytes buf(body + 64);
    std::uint8_t nonce[12] = {1, 2, 3, 4};
    std::uint8_t aad[8] = {0, 0, 0x10, 0, 0, 0, 0, 1};
    std::uint8_t iv[16] = {};
    std::uint8_t icv[32];
    std::uint64_t seq = 0;
    if (info.aead) {
        auto aead = crypto::make_aead(a.encr_id, key);
        for (auto _ : state) {
            std::memcpy(buf.data(), inner.data(), size);
            store_be64(nonce + 4, ++seq);
            benchmark::DoNotOptimize(aead->seal(nonce, aad, {buf.data(), body}, buf.data()));
        }
    } else {
        auto cbc = crypto::make_block_cipher(a.encr_id, key);
        auto mac = crypto::make_mac(a.integ_id, Bytes(32, 0x17));
        for (auto _ : state) {
            std::memcpy(buf.data(), inner.data(), size);
            benchmark::DoNotOptimize(cbc->encrypt(iv, {buf.data(), body}, buf.data()));
            mac->compute({buf.data(), body}, icv);
            benchmark::ClobberMemory();
        }
    }
    state.SetLabel(algo_label(static_cast<int>(state.range(0))));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// AES-GCM alone through one named backend, whatever MOBIKED_AEAD says, on
// the ESP body size (payload + trailer, 4-aligned) with an 8-byte SPI||seq
// AAD. Open authenticates what an identical context sealed beforehand.
void BM_BareAead(benchmark::State& state) {
    const auto backend = static_cast<crypto::AeadBackend>(state.range(0));
    const int algo = static_cast<int>(state.range(1));
    const bool open = state.range(2) != 0;
    const auto size = static_cast<std::size_t>(state.range(3));
    const auto info = *crypto::encr_info(kAlgos[algo].encr_id, kAlgos[algo].key_bits);
    auto aead = crypto::make_aead(kAlgos[algo].encr_id, Bytes(info.key_size, 0x42), backend);
    if (!aead) {
        state.SkipWithError(("backend unavailable: " + crypto::aead_selection().reason).c_str());
        return;
    }
    const std::size_t body = (size + 2 + 3) / 4 * 4;
    const Bytes inner = inner_packet(size);
    Bytes sealed(body + 16), buf(body + 16);
    std::uint8_t nonce[12] = {1, 2, 3, 4};
    const std::uint8_t aad[8] = {0, 0, 0x10, 0, 0, 0, 0, 1};
    std::memcpy(sealed.data(), inner.data(), size);
    aead->seal(nonce, aad, {sealed.data(), body}, sealed.data());
    std::uint64_t seq = 0;
    for (auto _ : state) {
        if (open) {
            std::memcpy(buf.data(), sealed.data(), sealed.size());
            const bool ok = aead->open(nonce, aad, buf, buf.data());
            benchmark::DoNotOptimize(ok);
            if (!ok) state.SkipWithError("open failed");
        } else {
            std::memcpy(buf.data(), inner.data(), size);
            store_be64(nonce + 4, ++seq);
            benchmark::DoNotOptimize(aead->seal(nonce, aad, {buf.data(), body}, buf.data()));
        }
    }
    state.SetLabel(std::string(kAlgoNames[algo]) + "/" + (open ? "open/" : "seal/") +
                   std::string(crypto::to_string(backend)));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void packet_args(benchmark::internal::Benchmark* b) {
    for (int a = 0; a < static_cast<int>(std::size(kAlgos)); ++a)
        for (int size : {64, 512, 1420}) b->Args({a, size});
}

void aead_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"backend", "algo", "open", "size"});
    for (int algo : {0, 3})
        for (int open : {0, 1})
            for (int size : {64, 512, 1420})
                for (auto be : {crypto::AeadBackend::openssl, crypto::AeadBackend::ipsec_mb})
                    b->Args({static_cast<int>(be), algo, open, size});
}

BENCHMARK(BM_BareCipher)->Apply(packet_args);
BENCHMARK(BM_BareAead)->Apply(aead_args);
BENCHMARK(BM_EspSeal)->Apply(packet_args);
BENCHMARK(BM_EspOpen)->Apply(packet_args);

// ---- lookups -------------------------------------------------------------------
//
// What keeps these figures honest: every iteration looks up the next of
// 65 536 keys drawn in random order from the whole population (hot:0), so a
// large table pays for its memory as a data plane with that many active
// flows or SAs would; and every world checks, untimed, that each query finds
// the entry it should (an SPD answering the final DISCARD for everything, or
// a map missing on every key, would be fast and meaningless).

constexpr std::size_t kQueries = 1 << 16;

FlowSelector flow_for(std::uint32_t i, std::uint16_t port) {
    FlowSelector f;
    f.local = IpAddress::v4(0xc0a80001);                  // 192.168.0.1
    f.remote = IpAddress::v4(0x0a000000u | (i << 8) | 7);  // 10.x.y.7 in policy i's /24
    f.protocol = ipproto::tcp;
    f.local_port = port;
    f.remote_port = 443;
    return f;
}

std::vector<std::uint32_t> random_indices(std::size_t n, bool hot = false) {
    std::mt19937 rng(42);
    std::vector<std::uint32_t> hot_set(64);
    for (auto& x : hot_set) x = static_cast<std::uint32_t>(rng() % n);
    std::vector<std::uint32_t> v(kQueries);
    for (auto& x : v) x = hot ? hot_set[rng() % hot_set.size()] : static_cast<std::uint32_t>(rng() % n);
    return v;
}

// N PROTECT policies for distinct /24s, behind two IKE BYPASS entries and
// ahead of a final ANY DISCARD.
struct SpdWorld {
    Spd spd;
    std::vector<FlowSelector> queries;
    std::vector<Policy::Id> expected;  // per query: the PROTECT policy of its /24
    explicit SpdWorld(std::size_t n, bool hot) {
        for (std::uint16_t port : {500, 4500}) {
            Policy ike;
            ike.action = Action::bypass;
            ike.protocol = ProtocolSelector::of(ipproto::udp);
            ike.local_port = PortSelector::port(port);
            spd.add(ike);
        }
        std::vector<Policy::Id> ids;
        for (std::uint32_t i = 0; i < n; ++i) {
            Policy p;
            p.action = Action::protect;
            p.remote = *AddressSelector::prefix(IpAddress::v4(0x0a000000u | (i << 8)), 24);
            ids.push_back(spd.add(p));
        }
        spd.add(Policy{});  // ANY -> DISCARD
        for (std::uint32_t i : random_indices(n, hot)) {
            queries.push_back(flow_for(i, 40000));
            expected.push_back(ids[i]);
        }
    }
    bool check() const {
        for (std::size_t q = 0; q < kQueries; ++q) {
            const Policy* p = spd.lookup(Direction::outbound, queries[q]);
            if (p == nullptr || p->id != expected[q] || p->action != Action::protect) return false;
        }
        return true;
    }
};

// The SPD-O decision without the cache: the ordered search and a read of
// the action it decides (what the caller does next).
void BM_SpdLookup(benchmark::State& state) {
    const SpdWorld w(static_cast<std::size_t>(state.range(0)), state.range(1) != 0);
    if (!w.check()) return state.SkipWithError("SPD lookups miss their policies");
    std::size_t i = 0;
    for (auto _ : state) {
        const Policy* p = w.spd.lookup(Direction::outbound, w.queries[i++ & (kQueries - 1)]);
        benchmark::DoNotOptimize(p->action);
    }
}

void BM_SpdCacheLookup(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    SpdCache cache;
    auto key_of = [](std::uint32_t i) {
        return FlowKey::of(flow_for(i % 65536, static_cast<std::uint16_t>(1024 + i / 65536)));
    };
    for (std::uint32_t i = 0; i < n; ++i)
        cache.insert(key_of(i),
                     CacheEntry{.action = Action::protect, .policy = 1, .spi = i, .generation = 1});
    std::vector<FlowKey> keys;
    std::vector<std::uint32_t> want;
    for (std::uint32_t i : random_indices(n, state.range(1) != 0)) {
        keys.push_back(key_of(i));
        want.push_back(i);
    }
    for (std::size_t q = 0; q < kQueries; ++q) {
        const CacheEntry* e = cache.find(keys[q], 1);
        if (e == nullptr || e->spi != want[q])
            return state.SkipWithError("cache lookups miss their entries");
    }
    std::size_t i = 0;
    for (auto _ : state) {
        const CacheEntry* e = cache.find(keys[i++ & (kQueries - 1)], 1);
        benchmark::DoNotOptimize(e);
    }
}

// The per-packet outbound path as the data plane runs it: selector -> key -> cache probe.
void BM_OutboundDecideCached(benchmark::State& state) {
    SpdWorld w(static_cast<std::size_t>(state.range(0)), state.range(1) != 0);
    SpdCache cache;
    OutboundPolicy out(w.spd, cache);
    for (const Policy& p : w.spd.policies())
        if (p.action == Action::protect)
            out.bind(p.id, SaSelector{TrafficSelector{AddressRange::any(IpAddress::Family::v4)},
                                      TrafficSelector{p.remote.range}},
                     p.id);
    for (const FlowSelector& f : w.queries) out.decide(f);  // warm the cache
    for (std::size_t q = 0; q < kQueries; ++q) {
        const OutboundDecision d = out.decide(w.queries[q]);
        if (!d.from_cache || d.kind != OutboundDecision::Kind::protect || d.policy != w.expected[q])
            return state.SkipWithError("cached decisions are not the SPD's");
    }
    std::size_t i = 0;
    for (auto _ : state) {
        const OutboundDecision d = out.decide(w.queries[i++ & (kQueries - 1)]);
        benchmark::DoNotOptimize(d);
    }
}

// n SAs of one direction. Inbound SPIs are ours (distinct); outbound SPIs
// are the peers' and collide in pairs (SAs 2k and 2k+1 carry the same SPI,
// as two peers choosing the same value would), told apart by the installer's
// ref. Built once per size: keying 100 000 SAs takes seconds.
struct SadWorld {
    Sad sad;
    std::vector<std::uint32_t> spi, ref;
    bool complete = true;  // every add() succeeded
};

SadWorld& sad_world(std::size_t n, Direction d) {
    static std::map<std::pair<std::size_t, Direction>, std::unique_ptr<SadWorld>> worlds;
    auto& w = worlds[{n, d}];
    if (w) return *w;
    w = std::make_unique<SadWorld>();
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint32_t ours = 0xc0000000u | (i * 2654435761u >> 2);
        const std::uint32_t spi =
            d == Direction::inbound ? ours : 0x10000000u | ((i / 2) * 2246822519u >> 4);
        w->spi.push_back(spi);
        w->ref.push_back(ours);
        w->complete &= w->sad.add(std::move(*Sa::create(params(kAlgos[0], d, spi), kNow)), ours);
    }
    return *w;
}

void BM_SadInbound(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    SadWorld& w = sad_world(n, Direction::inbound);
    std::vector<std::uint32_t> spis;
    for (std::uint32_t k : random_indices(n, state.range(1) != 0)) spis.push_back(w.spi[k]);
    for (std::uint32_t spi : spis) {
        const Sa* sa = w.sad.find(Direction::inbound, Protocol::esp, spi);
        if (!w.complete || sa == nullptr || sa->spi() != spi)
            return state.SkipWithError("inbound SAs missing");
    }
    std::size_t i = 0;
    for (auto _ : state) {
        Sa* sa = w.sad.find_inbound(Protocol::esp, spis[i++ & (kQueries - 1)]);
        benchmark::DoNotOptimize(sa);
    }
}

void BM_SadOutbound(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    SadWorld& w = sad_world(n, Direction::outbound);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> keys;  // (peer's SPI, ref)
    for (std::uint32_t k : random_indices(n, state.range(1) != 0))
        keys.emplace_back(w.spi[k], w.ref[k]);
    for (auto [spi, ref] : keys) {
        const Sa* sa = w.sad.find(Direction::outbound, Protocol::esp, spi, ref);
        if (!w.complete || sa == nullptr || sa->spi() != spi)
            return state.SkipWithError("outbound SAs missing");
    }
    std::size_t i = 0;
    for (auto _ : state) {
        const auto& [spi, ref] = keys[i++ & (kQueries - 1)];
        Sa* sa = w.sad.find(Direction::outbound, Protocol::esp, spi, ref);
        benchmark::DoNotOptimize(sa);
    }
}

// What a CHILD_SA install and delete cost the SPD: the data plane inserts
// the SA's policy at the front and removes it with the SA. One iteration is
// one insert + remove pair with n policies present (the SpdWorld); the
// inserted policy's remote host cycles through 1 024 addresses in
// 172.16.0.0/22, outside the world's /24s (10.0.0.0 - 11.134.159.255).
void BM_SpdInsertFrontRemove(benchmark::State& state) {
    SpdWorld w(static_cast<std::size_t>(state.range(0)), false);
    const Policy::Id front = w.spd.policies().front().id;
    Policy p;
    p.action = Action::protect;
    p.local = AddressSelector::range_of(IpAddress::v4(0xc0a80000), IpAddress::v4(0xc0a8ffff));
    p.label = "child";
    auto host = [](std::uint32_t i) { return IpAddress::v4(0xac100000u | (i & 1023)); };
    FlowSelector f = flow_for(0, 40000);
    f.remote = host(5);
    p.remote = AddressSelector::single(host(5));
    const auto id = w.spd.insert_before(front, p);
    const bool inserted = id && w.spd.lookup(Direction::outbound, f)->id == *id;
    if (!inserted || !w.spd.remove(*id) ||
        w.spd.lookup(Direction::outbound, f)->action != Action::discard || !w.check())
        return state.SkipWithError("insert at the front or remove went wrong");
    std::uint32_t i = 0;
    for (auto _ : state) {
        p.remote = AddressSelector::single(host(i++));
        const auto added = w.spd.insert_before(front, p);
        benchmark::DoNotOptimize(w.spd.remove(*added));
    }
}

void lookup_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"entries", "hot"});
    for (int hot : {0, 1})
        for (int n : {10, 1000, 100000}) b->Args({n, hot});
}

BENCHMARK(BM_SpdCacheLookup)->Apply(lookup_args);
BENCHMARK(BM_SpdLookup)->Apply(lookup_args);
BENCHMARK(BM_SpdInsertFrontRemove)->ArgName("entries")->Arg(10)->Arg(1000)->Arg(100000);
BENCHMARK(BM_OutboundDecideCached)->Apply(lookup_args);
BENCHMARK(BM_SadInbound)->Apply(lookup_args);
BENCHMARK(BM_SadOutbound)->Apply(lookup_args);

}  // namespace

BENCHMARK_MAIN();
