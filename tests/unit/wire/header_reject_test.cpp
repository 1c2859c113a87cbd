// Header and chain-level rejection rules (RFC 7296 §3.1, §3.2, §2.5).
#include "wire_test_util.hpp"

namespace mobiked::wire::test {
namespace {

Bytes valid_message() {
    return encode_message(sample_header(ExchangeType::ike_sa_init, 0, flags::initiator),
                          sample_ike_sa_init_payloads());
}

TEST(WireHeader, DecodeHeaderAloneGivesSpisAndLength) {
    Bytes bytes = valid_message();
    auto h = ok_value(decode_header(bytes));
    EXPECT_EQ(h.spi_i, 0x0102030405060708ULL);
    EXPECT_EQ(h.length, bytes.size());
    EXPECT_EQ(h.next_payload, PayloadType::sa);
}

TEST(WireHeader, RejectsOtherMajorVersions) {
    for (std::uint8_t version : {0x10, 0x30, 0x00, 0xf0}) {
        Bytes bytes = valid_message();
        bytes[17] = version;
        auto e = error_of(decode_message(bytes));
        EXPECT_EQ(e.kind, DecodeError::Kind::invalid_major_version) << int(version);
        EXPECT_EQ(e.payload_type, 0);
        EXPECT_EQ(error_of(decode_header(bytes)).kind, DecodeError::Kind::invalid_major_version);
    }
}

TEST(WireHeader, AcceptsHigherMinorVersion) {
    Bytes bytes = valid_message();
    bytes[17] = 0x21;
    EXPECT_EQ(ok_value(decode_message(bytes)).header.minor_version, 1);
}

TEST(WireHeader, RejectsLengthFieldDifferentFromDatagram) {
    Bytes bytes = valid_message();
    for (std::uint32_t length : {0u, 27u, 28u, static_cast<std::uint32_t>(bytes.size() - 1),
                                 static_cast<std::uint32_t>(bytes.size() + 1), 0xffffffffu}) {
        Bytes b = bytes;
        store_be32(b.data() + 24, length);
        auto e = error_of(decode_message(b));
        EXPECT_EQ(e.kind, DecodeError::Kind::invalid_syntax) << length;
        EXPECT_EQ(e.payload_type, 0) << length;
    }
}

TEST(WireHeader, RejectsShortDatagrams) {
    Bytes bytes = valid_message();
    for (std::size_t n = 0; n < kHeaderSize; ++n) {
        EXPECT_EQ(error_of(decode_header(ByteView(bytes).first(n))).kind,
                  DecodeError::Kind::invalid_syntax);
    }
}

TEST(WireHeader, RejectsOversizedDatagram) {
    Bytes big =
        raw_message(PayloadType::vendor_id, raw_payload(PayloadType::none, filled(1, 65000)));
    append(big, filled(0, kMaxMessageSize + 1 - big.size()));
    store_be32(big.data() + 24, static_cast<std::uint32_t>(big.size()));
    EXPECT_EQ(error_of(decode_message(big)).kind, DecodeError::Kind::invalid_syntax);
}

TEST(WireHeader, UnknownFlagBitsAreIgnoredAndNotSent) {
    Bytes bytes = valid_message();
    bytes[19] |= 0xc7;
    auto m = ok_value(decode_message(bytes));
    EXPECT_EQ(m.header.flags, flags::initiator);
    Header h = m.header;
    h.flags = 0xff;
    EXPECT_EQ(encode_message(h, {})[19], flags::initiator | flags::version | flags::response);
}

// Every strict prefix of a valid message, with its length field patched to
// match, must be rejected without reading past the end (ASan watches).
TEST(WireHeader, EveryTruncationIsRejected) {
    Bytes full = valid_message();
    for (std::size_t n = 0; n < full.size(); ++n) {
        Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_TRUE(std::holds_alternative<DecodeError>(decode_message(cut))) << n;
        if (n >= kHeaderSize) {
            store_be32(cut.data() + 24, static_cast<std::uint32_t>(n));
            EXPECT_TRUE(std::holds_alternative<DecodeError>(decode_message(cut)))
                << "patched " << n;
        }
    }
}

TEST(WireHeader, EveryTruncationOfInnerChainIsRejected) {
    auto inner = sample_ike_auth_inner();
    Bytes full = encode_payload_chain(inner);
    for (std::size_t n = 0; n < full.size(); ++n) {
        auto d = decode_payload_chain(PayloadType::id_i, ByteView(full).first(n));
        EXPECT_TRUE(std::holds_alternative<DecodeError>(d)) << n;
    }
}

// Corrupting any single byte may or may not be detected, but must never
// crash or read out of bounds; whatever decodes must re-encode losslessly.
TEST(WireHeader, SingleByteCorruptionIsSafe) {
    Bytes full = valid_message();
    for (std::size_t i = 0; i < full.size(); ++i) {
        for (std::uint8_t x : {0x01, 0x80, 0xff}) {
            Bytes b = full;
            b[i] ^= x;
            auto d = decode_message(b);
            if (auto* m = std::get_if<Message>(&d)) {
                EXPECT_EQ(ok_value(decode_message(encode_message(m->header, m->payloads))), *m)
                    << i;
            }
        }
    }
}

}  // namespace
}  // namespace mobiked::wire::test
