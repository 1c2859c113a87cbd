// The fuzzers' seed corpora under tests/fuzz/corpus/wire_*/ are encoder
// output for a few representative messages. This test keeps them in step
// with the encoder; run with MOBIKED_WRITE_CORPUS=1 to (re)write them.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "wire_test_util.hpp"

namespace mobiked::wire::test {
namespace {

namespace fs = std::filesystem;

std::map<std::string, Bytes> message_seeds() {
    std::map<std::string, Bytes> seeds;
    seeds["ike_sa_init_request"] =
        encode_message(sample_header(ExchangeType::ike_sa_init, 0, flags::initiator),
                       sample_ike_sa_init_payloads());
    seeds["ike_auth_sk"] = encode_message(
        sample_header(ExchangeType::ike_auth, 1, flags::initiator),
        {make(PayloadType::sk, EncryptedPayload{PayloadType::id_i, filled(0xa5, 96)})});
    seeds["ike_auth_skf"] =
        encode_message(sample_header(ExchangeType::ike_auth, 1, flags::response),
                       {make(PayloadType::skf,
                             EncryptedFragmentPayload{PayloadType::id_r, 1, 2, filled(0x5a, 64)})});
    seeds["informational_empty"] =
        encode_message(sample_header(ExchangeType::informational, 4, flags::response), {});
    // Not a valid exchange, but it puts every payload layout in front of the fuzzer.
    seeds["every_payload_plain"] = encode_message(
        sample_header(ExchangeType::create_child_sa, 2, flags::initiator), sample_ike_auth_inner());
    return seeds;
}

std::map<std::string, Bytes> chain_seeds() {
    std::map<std::string, Bytes> seeds;
    auto add = [&](const std::string& name, const std::vector<Payload>& payloads) {
        Bytes b{static_cast<std::uint8_t>(payloads.front().type)};
        append(b, encode_payload_chain(payloads));
        seeds[name] = b;
    };
    add("ike_auth_inner", sample_ike_auth_inner());
    add("ike_sa_init_chain", sample_ike_sa_init_payloads());
    add("informational_delete", {make(PayloadType::del, DeletePayload{ProtocolId::ike, {}})});
    return seeds;
}

Bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void check_or_write(const std::string& dir, const std::map<std::string, Bytes>& seeds) {
    const fs::path base = fs::path(MOBIKED_SOURCE_DIR) / "tests/fuzz/corpus" / dir;
    const bool write = std::getenv("MOBIKED_WRITE_CORPUS") != nullptr;
    for (const auto& [name, bytes] : seeds) {
        const fs::path file = base / name;
        if (write) {
            fs::create_directories(base);
            std::ofstream(file, std::ios::binary)
                .write(reinterpret_cast<const char*>(bytes.data()),
                       static_cast<std::streamsize>(bytes.size()));
        }
        EXPECT_EQ(to_hex(read_file(file)), to_hex(bytes))
            << file << " is stale; rerun with MOBIKED_WRITE_CORPUS=1";
    }
}

TEST(WireSeedCorpus, MessageSeedsDecodeAndAreCurrent) {
    auto seeds = message_seeds();
    for (const auto& [name, bytes] : seeds) {
        EXPECT_TRUE(std::holds_alternative<Message>(decode_message(bytes))) << name;
    }
    check_or_write("wire_message", seeds);
}

TEST(WireSeedCorpus, ChainSeedsDecodeAndAreCurrent) {
    auto seeds = chain_seeds();
    for (const auto& [name, bytes] : seeds) {
        auto d =
            decode_payload_chain(static_cast<PayloadType>(bytes[0]), ByteView(bytes).subspan(1));
        EXPECT_TRUE(std::holds_alternative<std::vector<Payload>>(d)) << name;
    }
    check_or_write("wire_chain", seeds);
}

}  // namespace
}  // namespace mobiked::wire::test
