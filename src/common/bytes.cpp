#include "common/bytes.hpp"

#include <openssl/crypto.h>

namespace mobiked {

std::string to_hex(ByteView v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(v.size() * 2);
    for (auto b : v) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 0xf]);
    }
    return s;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Bytes from_hex(std::string_view hex, bool* ok) {
    Bytes out;
    if (ok) *ok = false;
    if (hex.size() % 2) return {};
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) return {};
        out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    if (ok) *ok = true;
    return out;
}

bool equal_ct(ByteView a, ByteView b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(Bytes& b) {
    if (!b.empty()) OPENSSL_cleanse(b.data(), b.size());
    Bytes().swap(b);  // and give the memory back: SAs are many, keys small
}

bool Reader::need(std::size_t n) {
    if (failed_ || data_.size() - pos_ < n) {
        failed_ = true;
        return false;
    }
    return true;
}

bool Reader::u8(std::uint8_t& v) {
    if (!need(1)) return false;
    v = data_[pos_++];
    return true;
}
bool Reader::u16(std::uint16_t& v) {
    if (!need(2)) return false;
    v = load_be16(data_.data() + pos_);
    pos_ += 2;
    return true;
}
bool Reader::u32(std::uint32_t& v) {
    if (!need(4)) return false;
    v = load_be32(data_.data() + pos_);
    pos_ += 4;
    return true;
}
bool Reader::u64(std::uint64_t& v) {
    if (!need(8)) return false;
    v = load_be64(data_.data() + pos_);
    pos_ += 8;
    return true;
}
bool Reader::bytes(std::size_t n, ByteView& v) {
    if (!need(n)) return false;
    v = data_.subspan(pos_, n);
    pos_ += n;
    return true;
}
bool Reader::bytes(std::size_t n, Bytes& v) {
    ByteView view;
    if (!bytes(n, view)) return false;
    v.assign(view.begin(), view.end());
    return true;
}
bool Reader::skip(std::size_t n) {
    if (!need(n)) return false;
    pos_ += n;
    return true;
}

void Writer::u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
}
void Writer::u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
}
void Writer::u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
}
void Writer::patch_u16(std::size_t at, std::uint16_t v) { store_be16(out_.data() + at, v); }
void Writer::patch_u32(std::size_t at, std::uint32_t v) { store_be32(out_.data() + at, v); }

std::uint16_t load_be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t load_be32(const std::uint8_t* p) {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
std::uint64_t load_be64(const std::uint8_t* p) {
    return std::uint64_t(load_be32(p)) << 32 | load_be32(p + 4);
}
void store_be16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
void store_be32(std::uint8_t* p, std::uint32_t v) {
    store_be16(p, static_cast<std::uint16_t>(v >> 16));
    store_be16(p + 2, static_cast<std::uint16_t>(v));
}
void store_be64(std::uint8_t* p, std::uint64_t v) {
    store_be32(p, static_cast<std::uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<std::uint32_t>(v));
}

}  // namespace mobiked
