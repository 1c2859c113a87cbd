// The installed CHILD_SAs, as the engine's SaCommands leave them. Until the
// user-space data plane lands this is the record of what would be in the
// kernel SAD; listings and key export read it, and the data plane will be
// wired to the same commands.
#pragma once

#include <cstddef>
#include <cstdint>
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
    SaTable() = default;
    ~SaTable();  // wipes key material
    SaTable(const SaTable&) = delete;
    SaTable& operator=(const SaTable&) = delete;

    // Returns false when the command names no SA we have (logged by the caller);
    // an install replaces an entry with the same inbound SPI.
    bool apply(const ike::SaCommand& cmd, Time now);
    // Drops every SA of an IKE SA (it vanished without per-child deletes).
    std::size_t remove_ike_sa(std::uint64_t ike_sa_id);
    // An IKE rekey moved the CHILD_SAs to the successor IKE SA.
    void move_ike_sa(std::uint64_t from_ike_sa_id, std::uint64_t to_ike_sa_id) {
        for (auto& e : entries_)
            if (e.sa.ike_sa_id == from_ike_sa_id) e.sa.ike_sa_id = to_ike_sa_id;
    }

    const std::vector<InstalledSa>& entries() const { return entries_; }
    std::size_t size() const { return entries_.size(); }

private:
    bool install(const ike::InstallChildSa& c, Time now);
    bool remove(const ike::DeleteChildSa& d);
    bool update(const ike::UpdateSaAddresses& u);
    static void wipe_keys(InstalledSa& e);

    std::vector<InstalledSa> entries_;
};

}  // namespace mobiked::daemon
