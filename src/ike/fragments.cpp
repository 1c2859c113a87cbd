// Protected messages on the wire: SK, or SKF fragments (RFC 7383).
#include "ike/engine_impl.hpp"

namespace mobiked::ike {

namespace {

constexpr std::uint16_t kMaxFragments = 64;
constexpr std::size_t kMaxReassembled = 64 * 1024;

// IKE bytes that fit an IP packet of `packet_size` on this path.
std::size_t max_message(const IkeSa& sa, std::size_t packet_size) {
    const std::size_t ip = sa.remote.address.is_v4() ? 20 : 40;
    const std::size_t marker = sa.remote.port == wire::kIkePort ? 0 : 4;  // non-ESP marker on 4500
    return packet_size > ip + 8 + marker + 200 ? packet_size - ip - 8 - marker : 200;
}

}  // namespace

std::vector<Bytes> Engine::Impl::protect_message(IkeSa& sa, const wire::Header& h, const std::vector<wire::Payload>& p) {
    if (!sa.peer_fragmentation || h.exchange == wire::ExchangeType::ike_sa_init)
        return {sa.codec->protect(h, p, *env.random)};
    auto frags = sa.codec->protect_fragmented(h, p, max_message(sa, sa.conn->fragment_size), *env.random);
    if (frags.empty()) return {sa.codec->protect(h, p, *env.random)};  // too big even for 64 fragments
    return frags;
}

std::optional<Engine::Impl::Opened> Engine::Impl::open_protected(IkeSa& sa, const Datagram& in, const wire::Header& h) {
    auto decoded = wire::decode_message(in.data);
    auto* msg = std::get_if<wire::Message>(&decoded);
    const wire::PayloadType last = msg && !msg->payloads.empty() ? msg->payloads.back().type : wire::PayloadType::none;
    if (last != wire::PayloadType::sk && last != wire::PayloadType::skf) {
        log_sa(LogLevel::debug, sa, "dropping malformed protected message from " + in.remote.to_string());
        return std::nullopt;
    }
    if (last == wire::PayloadType::sk) {
        const auto& sk = std::get<wire::EncryptedPayload>(msg->payloads.back().body);
        auto plain = sa.codec->unprotect(in.data, sk);
        if (!plain) {
            // Unauthenticated garbage must not change state (RFC 7296 §2.21.2).
            log_sa(LogLevel::debug, sa, "dropping message " + std::to_string(h.message_id) + ": " + plain.error());
            return std::nullopt;
        }
        return Opened{sk.inner_first, std::move(*plain), std::nullopt};
    }
    const auto& f = std::get<wire::EncryptedFragmentPayload>(msg->payloads.back().body);
    if (f.total_fragments == 0 || f.total_fragments > kMaxFragments || f.fragment_number == 0 ||
        f.fragment_number > f.total_fragments)
        return std::nullopt;
    auto plain = sa.codec->unprotect_fragment(in.data, f);
    if (!plain) {
        log_sa(LogLevel::debug, sa, "dropping fragment of message " + std::to_string(h.message_id) + ": " + plain.error());
        return std::nullopt;
    }
    auto& r = sa.reassembly;
    if (!r || r->message_id != h.message_id || r->response != h.is_response() || r->total != f.total_fragments) {
        r = std::make_unique<IkeSa::Reassembly>();
        r->message_id = h.message_id;
        r->response = h.is_response();
        r->total = f.total_fragments;
        r->parts.resize(f.total_fragments);
        r->have.resize(f.total_fragments, false);
    }
    const std::size_t k = f.fragment_number - 1u;
    if (r->have[k]) return std::nullopt;  // duplicate
    r->bytes += plain->size();
    if (r->bytes > kMaxReassembled) {
        r.reset();
        return std::nullopt;
    }
    r->parts[k] = std::move(*plain);
    r->have[k] = true;
    if (k == 0) {
        r->first = f.inner_first;
        r->first_datagram = in;
    }
    for (bool got : r->have)
        if (!got) return std::nullopt;
    Opened o;
    o.first = r->first;
    for (auto& part : r->parts) append(o.plain, part);
    o.raw = std::move(r->first_datagram);
    r.reset();
    return o;
}

}  // namespace mobiked::ike
