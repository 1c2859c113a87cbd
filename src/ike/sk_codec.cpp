#include "ike/sk_codec.hpp"

#include <algorithm>

namespace mobiked::ike {

std::optional<crypto::IkeKeySizes> SkCodec::key_sizes(const Selected& algs) {
    auto e = crypto::encr_info(algs.encr, algs.encr_key_bits);
    if (!e) return std::nullopt;
    crypto::IkeKeySizes s;
    s.encr = e->key_size + e->salt_size;
    if (!e->aead) {
        auto i = crypto::integ_info(algs.integ);
        if (!i) return std::nullopt;
        s.integ = i->key_size;
    }
    return s;
}

std::unique_ptr<SkCodec> SkCodec::make(const Selected& algs, ByteView encr_out, ByteView integ_out,
                                       ByteView encr_in, ByteView integ_in) {
    auto e = crypto::encr_info(algs.encr, algs.encr_key_bits);
    if (!e || encr_out.size() != e->key_size + e->salt_size || encr_in.size() != encr_out.size() ||
        encr_out.size() > 255)
        return nullptr;
    std::unique_ptr<SkCodec> c(new SkCodec);
    c->info_ = *e;
    c->encr_id_ = algs.encr;
    c->encr_len_ = static_cast<std::uint8_t>(encr_out.size());
    // The contexts are made once here to check algorithms and keys, then freed:
    // each message keys its own (seal_body / open_body).
    if (e->aead) {
        if (!crypto::make_aead(algs.encr, encr_out.first(e->key_size)) ||
            !crypto::make_aead(algs.encr, encr_in.first(e->key_size)))
            return nullptr;
        c->icv_ = static_cast<std::uint8_t>(e->icv_size);
        integ_out = integ_in = {};
    } else {
        auto mo = crypto::make_mac(algs.integ, integ_out);
        if (!crypto::make_block_cipher(algs.encr, encr_out) || !crypto::make_block_cipher(algs.encr, encr_in) || !mo ||
            !crypto::make_mac(algs.integ, integ_in) || integ_out.size() != integ_in.size() || integ_out.size() > 255)
            return nullptr;
        c->integ_id_ = algs.integ;
        c->integ_len_ = static_cast<std::uint8_t>(integ_out.size());
        c->icv_ = static_cast<std::uint8_t>(mo->icv_size());
    }
    c->keys_.reserve(2 * (encr_out.size() + integ_out.size()));
    for (ByteView k : {encr_out, integ_out, encr_in, integ_in}) append(c->keys_, k);
    return c;
}

SkCodec::~SkCodec() { wipe(keys_); }

ByteView SkCodec::encr_key(bool out) const {
    return ByteView(keys_).subspan(out ? 0 : encr_len_ + integ_len_, encr_len_);
}

ByteView SkCodec::integ_key(bool out) const {
    return ByteView(keys_).subspan((out ? 0 : encr_len_ + integ_len_) + encr_len_, integ_len_);
}

std::size_t SkCodec::overhead() const {
    return wire::kHeaderSize + wire::kGenericHeaderSize + info_.iv_size + icv_ + info_.block_size;
}

std::size_t SkCodec::icv_size() const { return icv_; }

static Bytes pad_plaintext(Bytes plain, std::size_t block) {
    // Pad so that payloads | padding | pad length fills whole cipher blocks.
    const std::size_t pad = (block - (plain.size() + 1) % block) % block;
    plain.insert(plain.end(), pad, 0);
    plain.push_back(static_cast<std::uint8_t>(pad));
    return plain;
}

void SkCodec::seal_body(Bytes& out, Bytes plain, crypto::Random& random) {
    const std::size_t icv = icv_size();
    const std::size_t iv_at = out.size();
    out.resize(out.size() + info_.iv_size + plain.size() + icv);
    std::uint8_t* iv = out.data() + iv_at;
    std::uint8_t* ct = iv + info_.iv_size;
    // A context that cannot be made (out of memory) leaves a zero body the peer rejects.
    if (info_.aead) {
        // RFC 5282 §3.1: the IV must not repeat under one key; a counter guarantees it.
        store_be64(iv, ++iv_counter_);
        const ByteView key = encr_key(true);
        Bytes nonce = to_bytes(key.subspan(info_.key_size));
        append(nonce, ByteView(iv, info_.iv_size));
        auto aead = crypto::make_aead(encr_id_, key.first(info_.key_size));
        if (!aead || !aead->seal(nonce, ByteView(out.data(), iv_at), plain, ct))
            std::fill(ct, out.data() + out.size(), std::uint8_t{0});
    } else {
        // CBC IVs must be unpredictable (RFC 7296 §3.14), so random, not a counter.
        random.fill({iv, info_.iv_size});
        auto cbc = crypto::make_block_cipher(encr_id_, encr_key(true));
        auto mac = crypto::make_mac(integ_id_, integ_key(true));
        if (cbc && mac) {
            cbc->encrypt(ByteView(iv, info_.iv_size), plain, ct);
            mac->compute(ByteView(out.data(), out.size() - icv), out.data() + out.size() - icv);
        } else {
            std::fill(ct, out.data() + out.size(), std::uint8_t{0});
        }
    }
    wipe(plain);
}

Bytes SkCodec::protect(const wire::Header& header, const std::vector<wire::Payload>& inner, crypto::Random& random) {
    const wire::PayloadType first = inner.empty() ? wire::PayloadType::none : inner.front().type;
    Bytes plain = pad_plaintext(wire::encode_payload_chain(inner), info_.block_size);
    Bytes out = wire::encode_sk_prefix(header, first, info_.iv_size + plain.size() + icv_size());
    seal_body(out, std::move(plain), random);
    return out;
}

std::vector<Bytes> SkCodec::protect_fragmented(const wire::Header& header, const std::vector<wire::Payload>& inner,
                                               std::size_t max_datagram, crypto::Random& random) {
    Bytes whole = protect(header, inner, random);
    if (whole.size() <= max_datagram) return {std::move(whole)};
    // Room for plaintext in one fragment: datagram minus header, SKF header
    // (8), IV, ICV, and a block of padding, rounded down to whole blocks.
    const std::size_t fixed = wire::kHeaderSize + 8 + info_.iv_size + icv_size() + 1;
    if (max_datagram <= fixed + info_.block_size) return {};
    const std::size_t room = (max_datagram - fixed) / info_.block_size * info_.block_size - 1;
    const Bytes chain = wire::encode_payload_chain(inner);
    const std::size_t total = (chain.size() + room - 1) / room;
    if (total == 0 || total > 64) return {};
    const wire::PayloadType first = inner.empty() ? wire::PayloadType::none : inner.front().type;
    std::vector<Bytes> out;
    for (std::size_t k = 0; k < total; ++k) {
        const std::size_t at = k * room, len = std::min(room, chain.size() - at);
        Bytes plain = pad_plaintext(Bytes(chain.begin() + static_cast<std::ptrdiff_t>(at),
                                          chain.begin() + static_cast<std::ptrdiff_t>(at + len)),
                                    info_.block_size);
        Bytes dg = wire::encode_skf_prefix(header, k == 0 ? first : wire::PayloadType::none,
                                           static_cast<std::uint16_t>(k + 1), static_cast<std::uint16_t>(total),
                                           info_.iv_size + plain.size() + icv_size());
        seal_body(dg, std::move(plain), random);
        out.push_back(std::move(dg));
    }
    return out;
}

Result<Bytes> SkCodec::unprotect(ByteView datagram, const wire::EncryptedPayload& sk) {
    return open_body(datagram, sk.body.size());
}

Result<Bytes> SkCodec::unprotect_fragment(ByteView datagram, const wire::EncryptedFragmentPayload& skf) {
    return open_body(datagram, skf.body.size());
}

Result<Bytes> SkCodec::open_body(ByteView datagram, std::size_t body_len) {
    const std::size_t icv = icv_;
    if (body_len < info_.iv_size + icv + 1 || body_len > datagram.size())
        return Error{"encrypted payload too short"};
    const std::size_t ct_len = body_len - info_.iv_size - icv;
    if (ct_len % info_.block_size != 0) return Error{"ciphertext not a multiple of the block size"};
    // SK/SKF is the last payload, so its body is the datagram's tail.
    const std::size_t body_at = datagram.size() - body_len;
    ByteView iv = datagram.subspan(body_at, info_.iv_size);
    Bytes plain(ct_len);
    if (info_.aead) {
        const ByteView key = encr_key(false);
        Bytes nonce = to_bytes(key.subspan(info_.key_size));
        append(nonce, iv);
        auto aead = crypto::make_aead(encr_id_, key.first(info_.key_size));
        if (!aead) return Error{"out of memory"};
        if (!aead->open(nonce, datagram.first(body_at), datagram.subspan(body_at + info_.iv_size, ct_len + icv),
                            plain.data()))
            return Error{"integrity check failed"};
    } else {
        auto mac = crypto::make_mac(integ_id_, integ_key(false));
        auto cbc = crypto::make_block_cipher(encr_id_, encr_key(false));
        if (!mac || !cbc) return Error{"out of memory"};
        if (!mac->verify(datagram.first(datagram.size() - icv), datagram.last(icv)))
            return Error{"integrity check failed"};
        cbc->decrypt(iv, datagram.subspan(body_at + info_.iv_size, ct_len), plain.data());
    }
    const std::size_t pad = plain.back();
    if (pad + 1 > plain.size()) return Error{"invalid padding length"};
    plain.resize(plain.size() - pad - 1);
    return plain;
}

}  // namespace mobiked::ike
