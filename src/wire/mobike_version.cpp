#include "wire/mobike_version.hpp"

#include <stdexcept>

namespace mobiked::wire::mobike {

Bytes encode_version_parameter(std::span<const std::uint8_t> versions) {
    if (versions.empty() || versions.size() > 255)
        throw std::length_error("Version parameter needs 1-255 versions");
    Bytes out(version_parameter_length(versions.size()), 0);
    store_be16(out.data(), kParamVersion);
    out[2] = static_cast<std::uint8_t>(versions.size());
    for (std::size_t i = 0; i < versions.size(); ++i) out[kHeaderSize + i] = versions[i];
    return out;
}

VersionParameter decode_version_parameter(ByteView data) {
    VersionParameter r;
    auto malformed = [&](std::string why) {
        r.status = VersionParameter::Status::malformed;
        r.versions = {kVersion1};
        r.problem = std::move(why);
        return r;
    };
    if (data.empty()) {
        r.versions = {kVersion1};
        return r;
    }
    if (data.size() < kHeaderSize) return malformed(std::to_string(data.size()) + " octets, shorter than TYPE and NBR");
    const std::uint16_t type = load_be16(data.data());
    if (type != kParamVersion) return malformed("unknown parameter TYPE " + std::to_string(type));
    const std::size_t nbr = data[2];
    if (nbr == 0) return malformed("NBR is 0");
    if (kHeaderSize + nbr > data.size())
        return malformed("NBR " + std::to_string(nbr) + " but only " + std::to_string(data.size() - kHeaderSize) +
                         " version octets");
    const std::size_t trailing = data.size() - kHeaderSize - nbr;
    if (trailing > kMaxTrailingZeros) return malformed(std::to_string(trailing) + " octets after the versions");
    for (std::size_t i = kHeaderSize + nbr; i < data.size(); ++i)
        if (data[i] != 0) return malformed("non-zero padding");
    r.status = VersionParameter::Status::ok;
    r.versions.assign(data.begin() + kHeaderSize, data.begin() + static_cast<std::ptrdiff_t>(kHeaderSize + nbr));
    return r;
}

std::string versions_text(std::span<const std::uint8_t> versions) {
    std::string s;
    for (auto v : versions) {
        if (!s.empty()) s += ",";
        s += v == kVersionNone ? std::string("none") : std::to_string(v);
    }
    return s.empty() ? "-" : s;
}

}  // namespace mobiked::wire::mobike
