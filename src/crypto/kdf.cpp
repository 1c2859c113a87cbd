// IKE and CHILD SA key derivation, RFC 7296 §2.14, §2.17, §2.18.
#include <initializer_list>

#include "crypto/prf.hpp"

namespace mobiked::crypto {
namespace {

Bytes concat(std::initializer_list<ByteView> parts) {
    Bytes out;
    for (auto p : parts) append(out, p);
    return out;
}

Bytes cut(const Bytes& keymat, std::size_t& pos, std::size_t n) {
    Bytes k(keymat.begin() + static_cast<std::ptrdiff_t>(pos),
            keymat.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
    return k;
}

// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
IkeKeys expand(const Prf& prf, Bytes& skeyseed, ByteView ni, ByteView nr, std::uint64_t spi_i,
               std::uint64_t spi_r, IkeKeySizes sizes) {
    std::uint8_t spis[16];
    store_be64(spis, spi_i);
    store_be64(spis + 8, spi_r);
    Bytes seed = concat({ni, nr, spis});
    const std::size_t p = prf.output_size();
    const std::size_t total = 3 * p + 2 * sizes.integ + 2 * sizes.encr;
    Bytes keymat = prf.plus(skeyseed, seed, total);
    wipe(skeyseed);
    IkeKeys k;
    if (keymat.size() != total)
        return k;  // beyond prf+'s 255 blocks: no usable transform asks this
    std::size_t pos = 0;
    k.sk_d = cut(keymat, pos, p);
    k.sk_ai = cut(keymat, pos, sizes.integ);
    k.sk_ar = cut(keymat, pos, sizes.integ);
    k.sk_ei = cut(keymat, pos, sizes.encr);
    k.sk_er = cut(keymat, pos, sizes.encr);
    k.sk_pi = cut(keymat, pos, p);
    k.sk_pr = cut(keymat, pos, p);
    wipe(keymat);
    return k;
}

}  // namespace

void IkeKeys::wipe_all() {
    for (Bytes* b : {&sk_d, &sk_ai, &sk_ar, &sk_ei, &sk_er, &sk_pi, &sk_pr}) wipe(*b);
}

IkeKeys derive_ike_keys(const Prf& prf, ByteView ni, ByteView nr, ByteView shared_secret,
                        std::uint64_t spi_i, std::uint64_t spi_r, IkeKeySizes sizes) {
    Bytes nonces = concat({ni, nr});
    Bytes skeyseed = prf.compute(nonces, shared_secret);
    return expand(prf, skeyseed, ni, nr, spi_i, spi_r, sizes);
}

IkeKeys derive_rekeyed_ike_keys(const Prf& old_prf, ByteView old_sk_d, const Prf& new_prf,
                                ByteView shared_secret, ByteView ni, ByteView nr,
                                std::uint64_t spi_i, std::uint64_t spi_r, IkeKeySizes sizes) {
    Bytes input = concat({shared_secret, ni, nr});
    Bytes skeyseed = old_prf.compute(old_sk_d, input);
    wipe(input);
    return expand(new_prf, skeyseed, ni, nr, spi_i, spi_r, sizes);
}

Bytes derive_child_keymat(const Prf& prf, ByteView sk_d, ByteView shared_secret, ByteView ni,
                          ByteView nr, std::size_t length) {
    Bytes seed = concat({shared_secret, ni, nr});
    Bytes keymat = prf.plus(sk_d, seed, length);
    wipe(seed);
    return keymat;
}

}  // namespace mobiked::crypto
