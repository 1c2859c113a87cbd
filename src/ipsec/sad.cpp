#include "ipsec/sad.hpp"

namespace mobiked::ipsec {

bool Sad::add(std::unique_ptr<Sa> sa) {
    const SaParams& p = sa->params();
    const std::uint64_t k = key(p.direction, p.protocol, p.spi);
    if (map_.find(k) != nullptr) return false;
    map_.insert(k, std::move(sa));
    return true;
}

}  // namespace mobiked::ipsec
