// Small builders for payloads and fields the exchanges all need.
#pragma once

#include "wire/message.hpp"

namespace mobiked::ike {

inline wire::Payload notify_payload(std::uint16_t type, Bytes data = {}) {
    wire::NotifyPayload n;
    n.type = type;
    n.data = std::move(data);
    return {wire::PayloadType::notify, false, std::move(n)};
}

inline Bytes be16(std::uint16_t v) { return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)}; }

// ESP/AH SPIs on the wire (4 bytes) and IKE SPIs in proposals (8 bytes).
inline Bytes spi_bytes(std::uint32_t spi) {
    Bytes b(4);
    store_be32(b.data(), spi);
    return b;
}

inline Bytes spi8(std::uint64_t spi) {
    Bytes b(8);
    store_be64(b.data(), spi);
    return b;
}

}  // namespace mobiked::ike
