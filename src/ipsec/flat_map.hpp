// Open-addressing hash map (linear probing, power-of-two capacity, load at
// most 1/2, backward-shift deletion so there are no tombstones), with one
// control byte per slot beside the slots: 0 when empty, else 0x80 | seven
// bits of the key's hash. A probe reads eight control bytes as one word and
// compares a slot's key only where those bits agree, so a lookup touches the
// control word and, almost always, the one slot holding its key - whatever
// the size. Without the control bytes each probe step is a data-dependent
// branch; in a large table the probe runs vary at random and those branches
// mispredict, which is most of what a lookup costs once the slot is fetched.
// find() never allocates; insert() may grow the table (control path only).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace mobiked::ipsec {

// 64-bit mixer (the splitmix64 finaliser): cheap and good enough for keys
// an attacker cannot choose freely (SPIs we allocate, flows we already accept).
inline std::uint64_t mix64(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

template <typename K, typename V, typename Hash>
class FlatMap {
public:
    FlatMap() { reset(kMinCapacity); }

    std::size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }

    V* find(const K& key) {
        const std::size_t i = position(key);
        return i == kAbsent ? nullptr : &slots_[i].value;
    }
    const V* find(const K& key) const {
        const std::size_t i = position(key);
        return i == kAbsent ? nullptr : &slots_[i].value;
    }

    // Inserts or replaces; returns the stored value.
    V& insert(const K& key, V value) {
        if (V* v = find(key)) {
            *v = std::move(value);
            return *v;
        }
        if ((count_ + 1) * 2 > capacity()) grow();
        const std::size_t h = Hash{}(key);
        for (std::size_t i = h & mask_;; i = (i + kGroup) & mask_) {
            if (const std::uint64_t e = empties(load_group(i)); e != 0) {
                const std::size_t j = (i + lane(e)) & mask_;
                slots_[j] = Slot{key, std::move(value)};
                set_ctrl(j, static_cast<std::uint8_t>(tag_of(h)));
                ++count_;
                return slots_[j].value;
            }
        }
    }

    bool erase(const K& key) {
        std::size_t i = position(key);
        if (i == kAbsent) return false;
        // Backward shift: pull later members of the probe run into the hole.
        for (std::size_t j = next(i);; j = next(j)) {
            if (ctrl_[j] == 0) break;
            const std::size_t home = Hash{}(slots_[j].key) & mask_;
            // Move j into hole i unless j's home lies cyclically in (i, j].
            const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (stays) continue;
            slots_[i] = std::move(slots_[j]);
            set_ctrl(i, ctrl_[j]);
            i = j;
        }
        slots_[i] = Slot{};
        set_ctrl(i, 0);
        --count_;
        return true;
    }

    void clear() { reset(kMinCapacity); }

    template <typename F>
    void for_each(F&& f) {
        for (std::size_t i = 0; i < capacity(); ++i)
            if (ctrl_[i] != 0) f(slots_[i].key, slots_[i].value);
    }

    // Removes every entry for which pred(key, value) is true.
    template <typename P>
    std::size_t erase_if(P&& pred) {
        std::vector<K> doomed;
        for_each([&](const K& k, V& v) {
            if (pred(k, v)) doomed.push_back(k);
        });
        for (const K& k : doomed) erase(k);
        return doomed.size();
    }

private:
    static constexpr std::size_t kGroup = 8;  // control bytes per probe word
    static constexpr std::size_t kMinCapacity = 16;
    static constexpr std::uint64_t kLsbs = 0x0101010101010101ULL;
    static constexpr std::uint64_t kMsbs = 0x8080808080808080ULL;

    struct Pair {
        K key{};
        V value{};
    };
    // A slot whose size is a power of two up to a cache line is aligned to
    // it, so reading one never touches two lines.
    static constexpr std::size_t kSlotAlign =
        sizeof(Pair) <= 64 && std::has_single_bit(sizeof(Pair)) ? sizeof(Pair) : alignof(Pair);
    struct alignas(kSlotAlign) Slot {
        K key{};
        V value{};
    };

    static std::uint64_t tag_of(std::size_t h) {
        return 0x80 | (static_cast<std::uint64_t>(h) >> 57);
    }
    static std::size_t lane(std::uint64_t mask) {
        return static_cast<std::size_t>(std::countr_zero(mask)) / 8;
    }
    // 0x80 in each byte of `group` equal to `tag` (exact: no borrow between bytes).
    static std::uint64_t matches(std::uint64_t group, std::uint64_t tag) {
        const std::uint64_t x = group ^ (kLsbs * tag);
        return ~(((x & ~kMsbs) + ~kMsbs) | x | ~kMsbs);
    }
    // 0x80 in each empty byte: full bytes always have their top bit set.
    static std::uint64_t empties(std::uint64_t group) { return ~group & kMsbs; }

    static constexpr std::size_t kAbsent = ~std::size_t{0};
    std::size_t position(const K& key) const {
        const std::size_t h = Hash{}(key);
        const std::uint64_t tag = tag_of(h);
        // Most keys sit in their home slot: fetch it while the control word
        // is read, rather than after.
        __builtin_prefetch(&slots_[h & mask_]);
        for (std::size_t i = h & mask_;; i = (i + kGroup) & mask_) {
            const std::uint64_t group = load_group(i);
            for (std::uint64_t m = matches(group, tag); m != 0; m &= m - 1) {
                const std::size_t j = (i + lane(m)) & mask_;
                if (slots_[j].key == key) return j;
            }
            if (empties(group) != 0) return kAbsent;
        }
    }

    std::size_t capacity() const { return mask_ + 1; }
    std::size_t next(std::size_t i) const { return (i + 1) & mask_; }

    // The kGroup control bytes from i on, wrapping: ctrl_ ends with a copy
    // of its first kGroup - 1 bytes. Byte k of the word is slot i + k.
    std::uint64_t load_group(std::size_t i) const {
        std::uint64_t g;
        std::memcpy(&g, ctrl_.data() + i, sizeof g);
        if constexpr (std::endian::native == std::endian::big) g = __builtin_bswap64(g);
        return g;
    }
    void set_ctrl(std::size_t i, std::uint8_t c) {
        ctrl_[i] = c;
        if (i < kGroup - 1) ctrl_[capacity() + i] = c;
    }

    void reset(std::size_t capacity) {
        slots_ = std::vector<Slot>(capacity);
        ctrl_.assign(capacity + kGroup - 1, 0);
        mask_ = capacity - 1;
        count_ = 0;
    }

    void grow() {
        std::vector<Slot> old = std::move(slots_);
        const std::vector<std::uint8_t> old_ctrl = std::move(ctrl_);
        reset(old.size() * 2);
        for (std::size_t i = 0; i < old.size(); ++i)
            if (old_ctrl[i] != 0) insert(old[i].key, std::move(old[i].value));
    }

    std::vector<Slot> slots_;
    std::vector<std::uint8_t> ctrl_;
    std::size_t mask_ = 0;
    std::size_t count_ = 0;
};

}  // namespace mobiked::ipsec
