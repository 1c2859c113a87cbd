// Arbitrary text through libconfig and the config translator. Credentials
// are never read: the loader refuses every path, so the run touches no files.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/config_file.hpp"

namespace {

class NoFiles final : public mobiked::daemon::CredentialLoader {
public:
    mobiked::Result<mobiked::daemon::CertificateFile> certificates(const std::string&) const override {
        return mobiked::Error{"no files while fuzzing"};
    }
    mobiked::Result<std::shared_ptr<mobiked::crypto::PrivateKey>> private_key(const std::string&) const override {
        return mobiked::Error{"no files while fuzzing"};
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const NoFiles creds;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto r = mobiked::daemon::parse_config_text(text, "fuzz.conf", "/nonexistent", creds);
    // Every message must carry a location prefix.
    for (const auto& e : r.errors)
        if (e.rfind("fuzz.conf:", 0) != 0) __builtin_trap();
    return 0;
}
