// libFuzzer target: the MOBIKEv2 Version parameter decoder (notification data
// of MOBIKE_SUPPORTED / MOBIKE_UNSUPPORTED_VERSION, untrusted). Never throws;
// a parameter that decodes re-encodes to a prefix-equal form and decodes to
// the same versions; anything else reads as version 1.
#include <cstddef>
#include <cstdint>

#include "wire/mobike_version.hpp"

using namespace mobiked;
using namespace mobiked::wire::mobike;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto d = decode_version_parameter(ByteView(data, size));
    if (d.status != VersionParameter::Status::ok) {
        if (d.versions.size() != 1 || d.versions[0] != kVersion1) __builtin_trap();
        return 0;
    }
    if (d.versions.empty() || d.versions.size() > 255 || d.versions.size() + kHeaderSize > size) __builtin_trap();
    const Bytes again = encode_version_parameter(d.versions);
    if (again.size() % 4 != 0) __builtin_trap();
    const auto d2 = decode_version_parameter(again);
    if (d2.status != VersionParameter::Status::ok || d2.versions != d.versions) __builtin_trap();
    // The canonical form is what was sent, minus or plus zero padding.
    for (std::size_t i = 0; i < kHeaderSize + d.versions.size(); ++i)
        if (again[i] != data[i]) __builtin_trap();
    return 0;
}
