#include "daemon/config_file.hpp"

namespace mobiked::daemon {
namespace {

class FileCredentialLoader final : public CredentialLoader {
public:
    Result<CertificateFile> certificates(const std::string& path) const override {
        auto certs = crypto::Certificate::load_pem_file(path);
        if (!certs) return Error{"cannot load certificates from " + path + ": " + certs.error()};
        if (certs->empty()) return Error{"no certificate in " + path};
        Bytes subject = certs->front().subject_der();
        return CertificateFile{std::move(*certs), std::move(subject)};
    }

    Result<std::shared_ptr<crypto::PrivateKey>> private_key(const std::string& path) const override {
        auto key = crypto::PrivateKey::load_file(path);
        // The crypto layer's message names the file and the failure, never key bytes.
        if (!key) return Error{"cannot load private key from " + path + ": " + key.error()};
        return std::make_shared<crypto::PrivateKey>(std::move(*key));
    }
};

}  // namespace

std::unique_ptr<CredentialLoader> make_file_credential_loader() {
    return std::make_unique<FileCredentialLoader>();
}

}  // namespace mobiked::daemon
