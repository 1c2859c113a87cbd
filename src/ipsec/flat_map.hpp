// Open-addressing hash map (linear probing, power-of-two capacity, load at
// most 1/2, backward-shift deletion so there are no tombstones). Lookups
// touch one or two adjacent slots: constant cost whatever the size, which is
// what the SAD and the SPD cache need on the per-packet path. find() never
// allocates; insert() may grow the table (control path only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
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
    FlatMap() { slots_.resize(16); }

    std::size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }

    V* find(const K& key) {
        for (std::size_t i = index(key);; i = next(i)) {
            Slot& s = slots_[i];
            if (!s.used) return nullptr;
            if (s.key == key) return &s.value;
        }
    }
    const V* find(const K& key) const { return const_cast<FlatMap*>(this)->find(key); }

    // Inserts or replaces; returns the stored value.
    V& insert(const K& key, V value) {
        if ((count_ + 1) * 2 > slots_.size()) grow();
        for (std::size_t i = index(key);; i = next(i)) {
            Slot& s = slots_[i];
            if (!s.used) {
                s = Slot{key, std::move(value), true};
                ++count_;
                return s.value;
            }
            if (s.key == key) {
                s.value = std::move(value);
                return s.value;
            }
        }
    }

    bool erase(const K& key) {
        std::size_t i = index(key);
        for (;; i = next(i)) {
            if (!slots_[i].used) return false;
            if (slots_[i].key == key) break;
        }
        // Backward shift: pull later members of the probe run into the hole.
        for (std::size_t j = next(i);; j = next(j)) {
            if (!slots_[j].used) break;
            const std::size_t home = index(slots_[j].key);
            // Move j into hole i unless j's home lies cyclically in (i, j].
            const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (stays) continue;
            slots_[i] = std::move(slots_[j]);
            i = j;
        }
        slots_[i] = Slot{};
        --count_;
        return true;
    }

    void clear() {
        slots_.clear();
        slots_.resize(16);
        count_ = 0;
    }

    template <typename F>
    void for_each(F&& f) {
        for (Slot& s : slots_)
            if (s.used) f(s.key, s.value);
    }

    // Removes every entry for which pred(key, value) is true.
    template <typename P>
    std::size_t erase_if(P&& pred) {
        std::vector<K> doomed;
        for (Slot& s : slots_)
            if (s.used && pred(s.key, s.value)) doomed.push_back(s.key);
        for (const K& k : doomed) erase(k);
        return doomed.size();
    }

private:
    struct Slot {
        K key{};
        V value{};
        bool used = false;
    };

    std::size_t index(const K& key) const { return Hash{}(key) & (slots_.size() - 1); }
    std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }

    void grow() {
        std::vector<Slot> old = std::move(slots_);
        slots_.clear();
        slots_.resize(old.size() * 2);
        count_ = 0;
        for (Slot& s : old)
            if (s.used) insert(s.key, std::move(s.value));
    }

    std::vector<Slot> slots_;
    std::size_t count_ = 0;
};

}  // namespace mobiked::ipsec
