#include "ipsec/sa.hpp"

#include <algorithm>
#include <cstring>

#include "wire/constants.hpp"

namespace mobiked::ipsec {
namespace {

mobiked::Status setup_esp(const SaParams& p, std::unique_ptr<crypto::Aead>& aead,
                          std::unique_ptr<crypto::BlockCipher>& cbc, std::array<std::uint8_t, 4>& salt) {
    auto encr = crypto::encr_info(p.encr_id, p.encr_key_bits);
    if (!encr) return Error{"unsupported ESP encryption transform"};
    if (p.encr_key.size() != encr->key_size + encr->salt_size)
        return Error{"ESP encryption key has the wrong size"};
    const ByteView key(p.encr_key.data(), encr->key_size);
    if (encr->aead) {
        if (p.integ_id != 0) return Error{"AEAD with a separate integrity transform"};
        aead = crypto::make_aead(p.encr_id, key);
        if (!aead) return Error{"AEAD setup failed"};
        std::memcpy(salt.data(), p.encr_key.data() + encr->key_size, 4);
        return {};
    }
    cbc = crypto::make_block_cipher(p.encr_id, key);
    if (!cbc) return Error{"cipher setup failed"};
    if (p.integ_id == 0) return Error{"ESP without integrity is not allowed"};
    return {};
}

}  // namespace

Sa::Sa(SaParams p, Time now)
    : p_(std::move(p)),
      replay_(p_.replay_window, p_.esn),
      lifetime_(p_.lifetime, now) {}

mobiked::Result<std::unique_ptr<Sa>> Sa::create(SaParams params, Time now, crypto::Random* rng) {
    std::unique_ptr<Sa> sa(new Sa(std::move(params), now));
    SaParams& p = sa->p_;
    if (p.local.address.family() != p.remote.address.family())
        return Error{"SA endpoints of different families"};
    if (p.protocol == Protocol::esp) {
        auto st = setup_esp(p, sa->aead_, sa->cbc_, sa->salt_);
        if (!st) return Error{st.error()};
        auto encr = *crypto::encr_info(p.encr_id, p.encr_key_bits);
        sa->iv_size_ = encr.iv_size;
        sa->block_size_ = std::max<std::size_t>(4, encr.block_size);
        sa->icv_size_ = encr.icv_size;
        if (!encr.aead && p.direction == Direction::outbound) {
            if (rng == nullptr) return Error{"CBC outbound SA needs a random source for IVs"};
            Bytes iv_key = rng->bytes(16);
            sa->iv_gen_ = crypto::make_block_cipher(wire::encr::aes_cbc, iv_key);
            wipe(iv_key);
            if (!sa->iv_gen_) return Error{"IV generator setup failed"};
        }
    } else if (p.encr_id != 0) {
        return Error{"AH has no encryption transform"};
    }
    if (p.integ_id != 0) {
        auto integ = crypto::integ_info(p.integ_id);
        if (!integ) return Error{"unsupported integrity transform"};
        if (p.integ_key.size() != integ->key_size) return Error{"integrity key has the wrong size"};
        sa->mac_ = crypto::make_mac(p.integ_id, p.integ_key);
        if (!sa->mac_) return Error{"integrity setup failed"};
        sa->icv_size_ = integ->icv_size;
    } else if (p.protocol == Protocol::ah) {
        return Error{"AH needs an integrity transform"};
    }
    wipe(p.encr_key);
    wipe(p.integ_key);
    p.encr_key.clear();
    p.integ_key.clear();
    return sa;
}

bool Sa::next_seq(std::uint64_t& seq, EventSet& events) {
    const std::uint64_t max = p_.esn ? ~std::uint64_t{0} : 0xffffffffULL;
    if (seq_out_ >= max) {
        // RFC 4303 §3.3.3: the counter must not cycle; a new SA is needed.
        events.add(lifetime_.raise(SaEvent::seq_hard));
        return false;
    }
    seq = ++seq_out_;
    if (max - seq <= p_.seq_soft_margin) events.add(lifetime_.raise(SaEvent::seq_soft));
    return true;
}

Status Sa::check_inner(ByteView ip_packet) const {
    auto sel = extract_selector(ip_packet);
    if (!sel) return Status::malformed;
    const FlowSelector f = orient(*sel, Direction::inbound);
    return selectors_match(p_.local_ts, p_.remote_ts, f) ? Status::ok : Status::selector_mismatch;
}

void Sa::set_replay_top_for_test(std::uint64_t top) {
    replay_ = ReplayWindow(p_.replay_window, p_.esn);
    if (top != 0) replay_.update(top);
}

void Sa::update_endpoints(const Endpoint& local, const Endpoint& remote, bool udp_encap) {
    p_.local = local;
    p_.remote = remote;
    p_.udp_encap = udp_encap;
}

void Sa::update_selectors(std::vector<TrafficSelector> local_ts, std::vector<TrafficSelector> remote_ts) {
    p_.local_ts = std::move(local_ts);
    p_.remote_ts = std::move(remote_ts);
}

std::string_view status_name(Status s) {
    switch (s) {
        case Status::ok: return "ok";
        case Status::malformed: return "malformed";
        case Status::no_room: return "no_room";
        case Status::unknown_spi: return "unknown_spi";
        case Status::replay: return "replay";
        case Status::auth_failed: return "auth_failed";
        case Status::bad_padding: return "bad_padding";
        case Status::selector_mismatch: return "selector_mismatch";
        case Status::seq_overflow: return "seq_overflow";
        case Status::expired: return "expired";
        case Status::dummy: return "dummy";
        case Status::unsupported: return "unsupported";
        case Status::crypto_error: return "crypto_error";
    }
    return "?";
}

}  // namespace mobiked::ipsec
