// libFuzzer target: decode_message on arbitrary datagrams. Whatever decodes
// must re-encode to bytes that decode to the same message, and re-encoding
// that must be byte-identical (the encoder is canonical).
#include <cstddef>
#include <cstdint>
#include <variant>

#include "wire/message.hpp"

using namespace mobiked;
using namespace mobiked::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto first = decode_message(ByteView(data, size));
    auto* m = std::get_if<Message>(&first);
    if (m == nullptr) return 0;
    (void)describe(*m);
    Bytes encoded = encode_message(m->header, m->payloads);
    auto second = decode_message(encoded);
    auto* m2 = std::get_if<Message>(&second);
    if (m2 == nullptr || !(*m2 == *m)) __builtin_trap();
    if (encode_message(m2->header, m2->payloads) != encoded) __builtin_trap();
    return 0;
}
