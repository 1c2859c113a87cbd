#include "daemon/sa_table.hpp"

#include <algorithm>
#include <type_traits>

namespace mobiked::daemon {

SaTable::~SaTable() {
    for (auto& e : entries_) wipe_keys(e);
}

void SaTable::wipe_keys(InstalledSa& e) {
    wipe(e.sa.inbound.encr_key);
    wipe(e.sa.inbound.integ_key);
    wipe(e.sa.outbound.encr_key);
    wipe(e.sa.outbound.integ_key);
}

bool SaTable::apply(const ike::SaCommand& cmd, Time now) {
    return std::visit(
        [&](const auto& c) -> bool {
            using T = std::decay_t<decltype(c)>;
            if constexpr (std::is_same_v<T, ike::InstallChildSa>) return install(c, now);
            else if constexpr (std::is_same_v<T, ike::DeleteChildSa>) return remove(c);
            else return update(c);
        },
        cmd);
}

bool SaTable::install(const ike::InstallChildSa& c, Time now) {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const InstalledSa& e) { return e.sa.spi_in == c.spi_in; });
    if (it != entries_.end()) {
        wipe_keys(*it);
        *it = InstalledSa{c, now};
    } else {
        entries_.push_back(InstalledSa{c, now});
    }
    return true;
}

// A rekeyed CHILD_SA keeps its child_id, so the SPI decides when one is given.
bool SaTable::remove(const ike::DeleteChildSa& d) {
    auto match = [&](const InstalledSa& e) {
        if (e.sa.ike_sa_id != d.ike_sa_id) return false;
        if (d.spi_in != 0 || d.spi_out != 0) return e.sa.spi_in == d.spi_in || (d.spi_out != 0 && e.sa.spi_out == d.spi_out);
        return e.sa.child_id == d.child_id;
    };
    auto it = std::find_if(entries_.begin(), entries_.end(), match);
    if (it == entries_.end()) return false;
    wipe_keys(*it);
    entries_.erase(it);
    return true;
}

bool SaTable::update(const ike::UpdateSaAddresses& u) {
    bool any = false;
    for (auto& e : entries_) {
        if (e.sa.ike_sa_id != u.ike_sa_id) continue;
        e.sa.local = u.local;
        e.sa.remote = u.remote;
        e.sa.udp_encap = u.udp_encap;
        any = true;
    }
    return any;
}

std::size_t SaTable::remove_ike_sa(std::uint64_t ike_sa_id) {
    std::size_t n = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->sa.ike_sa_id == ike_sa_id) {
            wipe_keys(*it);
            it = entries_.erase(it);
            ++n;
        } else {
            ++it;
        }
    }
    return n;
}

}  // namespace mobiked::daemon
