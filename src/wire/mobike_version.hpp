// MOBIKEv2 Version parameter (draft-mglt-ipsecme-mobikev2 §7.4.1): the
// notification data of MOBIKE_SUPPORTED and MOBIKE_UNSUPPORTED_VERSION.
//
//   TYPE (16 bits, 1 = Version) | NBR (8 bits) | NBR x VERS (8 bits each) | PADDING
//
// PADDING makes the parameter a multiple of 32 bits (the draft's prose; its
// formula L = (NBR+1)%4 contradicts it for NBR 1 and 3, see shared/specs
// §4): pad = (4 - (3 + NBR) % 4) % 4 octets, so NBR 1-4 give 4, 8, 8, 8
// octets. Decoders accept 0-3 trailing zero octets whatever NBR says (a
// literal reading of the draft sends 6 octets for NBR 1).
//
// Pure functions over byte spans. The data is ignorable (RFC 4555 §4.2.1):
// a malformed parameter is reported, never an INVALID_SYNTAX; the caller
// logs it and assumes version 1.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.hpp"

namespace mobiked::wire::mobike {

inline constexpr std::uint16_t kParamVersion = 1;  // TYPE of the Version parameter
inline constexpr std::uint8_t kVersion1 = 1;       // MOBIKE (RFC 4555)
inline constexpr std::uint8_t kVersion2 = 2;       // MOBIKEv2 (transport mode)
inline constexpr std::uint8_t kVersionNone = 255;  // only in MOBIKE_UNSUPPORTED_VERSION: give up MOBIKEv2
inline constexpr std::size_t kHeaderSize = 3;      // TYPE + NBR
inline constexpr std::size_t kMaxTrailingZeros = 3;

// Octets of zero padding after NBR versions: 0, 3, 2, 1 for NBR 1-4.
constexpr std::size_t version_padding(std::size_t nbr) { return (4 - (kHeaderSize + nbr) % 4) % 4; }
// Length of an encoded Version parameter with NBR versions.
constexpr std::size_t version_parameter_length(std::size_t nbr) {
    return kHeaderSize + nbr + version_padding(nbr);
}

// Encodes the versions in the order given. Requires 1 <= versions.size() <= 255
// (a caller bug otherwise: throws std::length_error).
Bytes encode_version_parameter(std::span<const std::uint8_t> versions);

struct VersionParameter {
    enum class Status : std::uint8_t {
        empty,      // no data: the peer speaks RFC 4555, version 1 only
        ok,         // a well-formed Version parameter
        malformed,  // ignored: version 1 assumed, `problem` says why
    };
    Status status = Status::empty;
    // ok: the versions as sent (NBR of them); empty / malformed: {1}.
    std::vector<std::uint8_t> versions;
    std::string problem;

    bool present() const { return status == Status::ok; }
};

// Decodes notification data. Bounded: never reads past `data`, allocates at
// most NBR (<= 255) octets. Malformed: shorter than TYPE+NBR, TYPE not 1,
// NBR 0, NBR larger than the data, more than 3 octets after the versions, or
// a non-zero padding octet.
VersionParameter decode_version_parameter(ByteView data);

// "1,2" style, for logs; "none" for 255.
std::string versions_text(std::span<const std::uint8_t> versions);

}  // namespace mobiked::wire::mobike
