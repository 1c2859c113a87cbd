// The installed CHILD_SAs, as the engine's SaCommands leave them: the record
// listings and key export read (the data plane gets the same commands).
//
// Every command costs O(1) on average or O(CHILD_SAs of its IKE SA): a
// gateway rekeys 100 000 CHILD_SAs through here (bench/handshake/many.sh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "common/time.hpp"
#include "ike/engine.hpp"

namespace mobiked::daemon {

struct InstalledSa {
    ike::InstallChildSa sa;
    Time installed_at{};
};

class SaTable {
public:
    // In install order (a replacement keeps its place); a list so removing one
    // SA moves no other and the indexes' iterators stay valid.
    using Entries = std::list<InstalledSa>;

    SaTable() = default;
    ~SaTable();  // wipes key material
    SaTable(const SaTable&) = delete;
    SaTable& operator=(const SaTable&) = delete;

    // Returns false when the command names no SA we have (logged by the caller);
    // an install replaces the entry with the same inbound SPI, whatever its IKE SA.
    bool apply(const ike::SaCommand& cmd, Time now);
    // Drops every SA of an IKE SA (it vanished without per-child deletes).
    std::size_t remove_ike_sa(std::uint64_t ike_sa_id);
    // An IKE rekey moved the CHILD_SAs to the successor IKE SA.
    void move_ike_sa(std::uint64_t from_ike_sa_id, std::uint64_t to_ike_sa_id);

    // The entry apply(d) would remove, or null; valid until the next change.
    const InstalledSa* find(const ike::DeleteChildSa& d) const;
    // f(const InstalledSa&) for each CHILD_SA of the IKE SA, in install order.
    template <typename F>
    void for_each_child(std::uint64_t ike_sa_id, F&& f) const {
        if (auto m = by_ike_.find(ike_sa_id); m != by_ike_.end())
            for (const Member& x : m->second) f(static_cast<const InstalledSa&>(*x.it));
    }

    const Entries& entries() const { return entries_; }
    std::size_t size() const { return entries_.size(); }

private:
    // seq is the install order: an IKE rekey merges two IKE SAs' children,
    // and a delete takes the first match in install order.
    struct Member {
        std::uint64_t seq;
        Entries::iterator it;
    };
    using Members = std::vector<Member>;  // ascending seq; never empty in by_ike_

    bool install(const ike::InstallChildSa& c, Time now);
    bool remove(const ike::DeleteChildSa& d);
    bool update(const ike::UpdateSaAddresses& u);
    const Member* match(const ike::DeleteChildSa& d) const;
    // Takes `it` out of its IKE SA's members; returns its seq.
    std::uint64_t unlink(Entries::iterator it);
    void link(Entries::iterator it, std::uint64_t seq);
    static void wipe_keys(InstalledSa& e);

    Entries entries_;
    std::unordered_map<std::uint32_t, Entries::iterator> by_spi_;  // inbound SPI: unique in the table
    std::unordered_map<std::uint64_t, Members> by_ike_;
    std::uint64_t next_seq_ = 0;
};

}  // namespace mobiked::daemon
