#include "ipsec/sad.hpp"

namespace mobiked::ipsec {

bool Sad::add(std::unique_ptr<Sa> sa, std::uint32_t ref) {
    const SaParams& p = sa->params();
    Map& m = map(p.direction, p.protocol);
    const std::uint64_t k = key(p.direction, p.spi, ref);
    if (m.find(k) != nullptr) return false;
    m.insert(k, std::move(sa));
    return true;
}

std::size_t Sad::size() const {
    std::size_t n = 0;
    for (const auto& by_proto : maps_)
        for (const Map& m : by_proto) n += m.size();
    return n;
}

}  // namespace mobiked::ipsec
