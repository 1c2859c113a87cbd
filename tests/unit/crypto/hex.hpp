// Test helper: hex literals for known-answer vectors.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "common/bytes.hpp"

namespace mobiked::crypto::test {

// Spaces are allowed so vectors can be copied in the RFCs' grouped layout.
inline Bytes h(std::string_view hex) {
    std::string compact;
    for (char c : hex)
        if (c != ' ' && c != '\n') compact.push_back(c);
    bool ok = false;
    Bytes out = from_hex(compact, &ok);
    if (!ok) throw std::invalid_argument("bad hex in test vector");
    return out;
}

}  // namespace mobiked::crypto::test
