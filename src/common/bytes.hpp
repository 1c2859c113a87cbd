// Byte buffers and bounds-checked readers/writers shared by every codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mobiked {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline Bytes to_bytes(ByteView v) { return Bytes(v.begin(), v.end()); }
inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline ByteView as_view(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline void append(Bytes& out, ByteView v) { out.insert(out.end(), v.begin(), v.end()); }

std::string to_hex(ByteView v);
// Returns an empty vector and sets ok=false on odd length or non-hex characters.
Bytes from_hex(std::string_view hex, bool* ok = nullptr);

// Constant-time comparison for MACs and AUTH values.
bool equal_ct(ByteView a, ByteView b);

// Overwrites key material before release; the compiler may not elide it.
void wipe(Bytes& b);

// A reader that never reads past its span. Every accessor returns false once
// the data runs out, and the reader stays failed, so a parser can check once
// at the end of a structure instead of after every field.
class Reader {
public:
    explicit Reader(ByteView data) : data_(data) {}

    bool u8(std::uint8_t& v);
    bool u16(std::uint16_t& v);
    bool u32(std::uint32_t& v);
    bool u64(std::uint64_t& v);
    bool bytes(std::size_t n, ByteView& v);
    bool bytes(std::size_t n, Bytes& v);
    bool skip(std::size_t n);

    std::size_t remaining() const { return failed_ ? 0 : data_.size() - pos_; }
    std::size_t position() const { return pos_; }
    ByteView rest() const { return failed_ ? ByteView{} : data_.subspan(pos_); }
    bool ok() const { return !failed_; }

private:
    bool need(std::size_t n);
    ByteView data_;
    std::size_t pos_ = 0;
    bool failed_ = false;
};

// Big-endian appender; patch_u16/u32 fill length fields written as placeholders.
class Writer {
public:
    explicit Writer(Bytes& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(v); }
    void u16(std::uint16_t v);
    void u32(std::uint32_t v);
    void u64(std::uint64_t v);
    void bytes(ByteView v) { append(out_, v); }
    void zeros(std::size_t n) { out_.insert(out_.end(), n, 0); }
    std::size_t size() const { return out_.size(); }
    void patch_u16(std::size_t at, std::uint16_t v);
    void patch_u32(std::size_t at, std::uint32_t v);

private:
    Bytes& out_;
};

std::uint16_t load_be16(const std::uint8_t* p);
std::uint32_t load_be32(const std::uint8_t* p);
std::uint64_t load_be64(const std::uint8_t* p);
void store_be16(std::uint8_t* p, std::uint16_t v);
void store_be32(std::uint8_t* p, std::uint32_t v);
void store_be64(std::uint8_t* p, std::uint64_t v);

}  // namespace mobiked
