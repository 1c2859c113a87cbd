// Protocol numbers, modes and the result codes shared by every ipsec/ unit.
// One header for every constant (WireGuard's messages.h), so logs, counters
// and the CLI name things the same way.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mobiked::ipsec {

// IANA protocol numbers used by the transforms.
namespace ipproto {
inline constexpr std::uint8_t hopopts = 0;
inline constexpr std::uint8_t icmp = 1;
inline constexpr std::uint8_t ipv4 = 4;  // IP-in-IP: ESP next header in IPv4 tunnel mode
inline constexpr std::uint8_t tcp = 6;
inline constexpr std::uint8_t udp = 17;
inline constexpr std::uint8_t ipv6 = 41;
inline constexpr std::uint8_t routing = 43;
inline constexpr std::uint8_t fragment = 44;
inline constexpr std::uint8_t esp = 50;
inline constexpr std::uint8_t ah = 51;
inline constexpr std::uint8_t icmpv6 = 58;
inline constexpr std::uint8_t none = 59;  // "no next header": ESP dummy packet (RFC 4303 §2.6)
inline constexpr std::uint8_t dstopts = 60;
inline constexpr std::uint8_t mobility = 135;
inline constexpr std::uint8_t sctp = 132;
}  // namespace ipproto

inline constexpr std::uint16_t kNatTPort = 4500;  // RFC 3948

enum class Protocol : std::uint8_t { esp = ipproto::esp, ah = ipproto::ah };
enum class Mode : std::uint8_t { tunnel, transport };
enum class Direction : std::uint8_t { inbound, outbound };

// Outcome of one per-packet operation. Every value except `ok` means the
// packet was not produced and the buffer content is unspecified (but stays
// inside the caller's buffer).
enum class Status : std::uint8_t {
    ok,
    malformed,          // truncated or inconsistent headers
    no_room,            // caller's buffer lacks headroom or tailroom
    unknown_spi,        // no SA for the SPI (SAD miss)
    replay,             // duplicate or left of the anti-replay window
    auth_failed,        // ICV / AEAD tag mismatch
    bad_padding,        // ESP padding bytes not 1, 2, 3, ... (RFC 4303 §2.4)
    selector_mismatch,  // inner packet outside the SA's traffic selectors (RFC 4301 §5.2)
    seq_overflow,       // outbound counter exhausted: rekey needed (RFC 4303 §3.3.3)
    expired,            // hard lifetime reached: SA unusable
    dummy,              // ESP next header 59 (TFC dummy): dropped silently
    unsupported,        // header layout we do not handle (documented per function)
    crypto_error,       // the crypto backend refused (never expected once keyed)
};
inline constexpr std::size_t kStatusCount = static_cast<std::size_t>(Status::crypto_error) + 1;
std::string_view status_name(Status s);

}  // namespace mobiked::ipsec
