// libFuzzer target: decode_payload_chain (the decrypted SK body). The first
// input byte chooses the first payload type, the rest is the chain. A chain
// that decodes must survive encode -> decode unchanged.
#include <cstddef>
#include <cstdint>
#include <variant>

#include "wire/message.hpp"

using namespace mobiked;
using namespace mobiked::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const auto first_type = static_cast<PayloadType>(data[0]);
    auto first = decode_payload_chain(first_type, ByteView(data + 1, size - 1));
    auto* payloads = std::get_if<std::vector<Payload>>(&first);
    if (payloads == nullptr) return 0;
    (void)describe(Header{}, *payloads);
    Bytes encoded = encode_payload_chain(*payloads);
    const PayloadType again_first = payloads->empty() ? PayloadType::none : payloads->front().type;
    auto second = decode_payload_chain(again_first, encoded);
    auto* payloads2 = std::get_if<std::vector<Payload>>(&second);
    if (payloads2 == nullptr || *payloads2 != *payloads) __builtin_trap();
    return 0;
}
