#include "ike/sk_codec.hpp"

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
    if (!e || encr_out.size() != e->key_size + e->salt_size || encr_in.size() != encr_out.size())
        return nullptr;
    std::unique_ptr<SkCodec> c(new SkCodec);
    c->info_ = *e;
    if (e->aead) {
        c->aead_out_ = crypto::make_aead(algs.encr, encr_out.first(e->key_size));
        c->aead_in_ = crypto::make_aead(algs.encr, encr_in.first(e->key_size));
        c->salt_out_ = to_bytes(encr_out.subspan(e->key_size));
        c->salt_in_ = to_bytes(encr_in.subspan(e->key_size));
        if (!c->aead_out_ || !c->aead_in_) return nullptr;
    } else {
        c->cbc_out_ = crypto::make_block_cipher(algs.encr, encr_out);
        c->cbc_in_ = crypto::make_block_cipher(algs.encr, encr_in);
        c->mac_out_ = crypto::make_mac(algs.integ, integ_out);
        c->mac_in_ = crypto::make_mac(algs.integ, integ_in);
        if (!c->cbc_out_ || !c->cbc_in_ || !c->mac_out_ || !c->mac_in_) return nullptr;
    }
    return c;
}

std::size_t SkCodec::overhead() const {
    const std::size_t icv = info_.aead ? info_.icv_size : mac_out_->icv_size();
    return wire::kHeaderSize + wire::kGenericHeaderSize + info_.iv_size + icv + info_.block_size;
}

std::size_t SkCodec::icv_size() const { return info_.aead ? info_.icv_size : mac_out_->icv_size(); }

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
    if (info_.aead) {
        // RFC 5282 §3.1: the IV must not repeat under one key; a counter guarantees it.
        store_be64(iv, ++iv_counter_);
        Bytes nonce = salt_out_;
        append(nonce, ByteView(iv, info_.iv_size));
        aead_out_->seal(nonce, ByteView(out.data(), iv_at), plain, ct);
    } else {
        // CBC IVs must be unpredictable (RFC 7296 §3.14), so random, not a counter.
        random.fill({iv, info_.iv_size});
        cbc_out_->encrypt(ByteView(iv, info_.iv_size), plain, ct);
        mac_out_->compute(ByteView(out.data(), out.size() - icv), out.data() + out.size() - icv);
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
    const std::size_t icv = info_.aead ? info_.icv_size : mac_in_->icv_size();
    if (body_len < info_.iv_size + icv + 1 || body_len > datagram.size())
        return Error{"encrypted payload too short"};
    const std::size_t ct_len = body_len - info_.iv_size - icv;
    if (ct_len % info_.block_size != 0) return Error{"ciphertext not a multiple of the block size"};
    // SK/SKF is the last payload, so its body is the datagram's tail.
    const std::size_t body_at = datagram.size() - body_len;
    ByteView iv = datagram.subspan(body_at, info_.iv_size);
    Bytes plain(ct_len);
    if (info_.aead) {
        Bytes nonce = salt_in_;
        append(nonce, iv);
        if (!aead_in_->open(nonce, datagram.first(body_at), datagram.subspan(body_at + info_.iv_size, ct_len + icv),
                            plain.data()))
            return Error{"integrity check failed"};
    } else {
        if (!mac_in_->verify(datagram.first(datagram.size() - icv), datagram.last(icv)))
            return Error{"integrity check failed"};
        cbc_in_->decrypt(iv, datagram.subspan(body_at + info_.iv_size, ct_len), plain.data());
    }
    const std::size_t pad = plain.back();
    if (pad + 1 > plain.size()) return Error{"invalid padding length"};
    plain.resize(plain.size() - pad - 1);
    return plain;
}

}  // namespace mobiked::ike
