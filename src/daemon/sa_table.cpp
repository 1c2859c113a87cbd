#include "daemon/sa_table.hpp"

#include <algorithm>
#include <type_traits>

namespace mobiked::daemon {

namespace {

// A rekeyed CHILD_SA keeps its child_id, so the SPI decides when one is given.
bool names(const InstalledSa& e, const ike::DeleteChildSa& d) {
    if (d.spi_in != 0 || d.spi_out != 0) return e.sa.spi_in == d.spi_in || (d.spi_out != 0 && e.sa.spi_out == d.spi_out);
    return e.sa.child_id == d.child_id;
}

}  // namespace

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
    if (auto found = by_spi_.find(c.spi_in); found != by_spi_.end()) {
        auto it = found->second;
        // The SPI names the entry, not the IKE SA: it may change hands.
        const bool moves = it->sa.ike_sa_id != c.ike_sa_id;
        const std::uint64_t seq = moves ? unlink(it) : 0;
        wipe_keys(*it);
        *it = InstalledSa{c, now};
        if (moves) link(it, seq);
        return true;
    }
    auto it = entries_.insert(entries_.end(), InstalledSa{c, now});
    by_spi_.emplace(c.spi_in, it);
    by_ike_[c.ike_sa_id].push_back(Member{next_seq_++, it});
    return true;
}

const SaTable::Member* SaTable::match(const ike::DeleteChildSa& d) const {
    auto m = by_ike_.find(d.ike_sa_id);
    if (m == by_ike_.end()) return nullptr;
    auto hit = std::find_if(m->second.begin(), m->second.end(), [&](const Member& x) { return names(*x.it, d); });
    return hit == m->second.end() ? nullptr : &*hit;
}

const InstalledSa* SaTable::find(const ike::DeleteChildSa& d) const {
    const Member* hit = match(d);
    return hit ? &*hit->it : nullptr;
}

bool SaTable::remove(const ike::DeleteChildSa& d) {
    const Member* hit = match(d);
    if (!hit) return false;
    auto it = hit->it;
    unlink(it);
    by_spi_.erase(it->sa.spi_in);
    wipe_keys(*it);
    entries_.erase(it);
    return true;
}

bool SaTable::update(const ike::UpdateSaAddresses& u) {
    auto m = by_ike_.find(u.ike_sa_id);
    if (m == by_ike_.end()) return false;
    for (const Member& x : m->second) {
        x.it->sa.local = u.local;
        x.it->sa.remote = u.remote;
        x.it->sa.udp_encap = u.udp_encap;
    }
    return true;
}

std::size_t SaTable::remove_ike_sa(std::uint64_t ike_sa_id) {
    auto m = by_ike_.find(ike_sa_id);
    if (m == by_ike_.end()) return 0;
    const std::size_t n = m->second.size();
    for (const Member& x : m->second) {
        by_spi_.erase(x.it->sa.spi_in);
        wipe_keys(*x.it);
        entries_.erase(x.it);
    }
    by_ike_.erase(m);
    return n;
}

void SaTable::move_ike_sa(std::uint64_t from_ike_sa_id, std::uint64_t to_ike_sa_id) {
    if (from_ike_sa_id == to_ike_sa_id) return;
    auto m = by_ike_.find(from_ike_sa_id);
    if (m == by_ike_.end()) return;
    Members moving = std::move(m->second);
    by_ike_.erase(m);
    for (const Member& x : moving) x.it->sa.ike_sa_id = to_ike_sa_id;
    Members& to = by_ike_[to_ike_sa_id];
    if (to.empty()) {
        to = std::move(moving);
        return;
    }
    const auto mid = static_cast<std::ptrdiff_t>(to.size());
    to.insert(to.end(), moving.begin(), moving.end());
    std::inplace_merge(to.begin(), to.begin() + mid, to.end(), [](const Member& a, const Member& b) { return a.seq < b.seq; });
}

std::uint64_t SaTable::unlink(Entries::iterator it) {
    auto m = by_ike_.find(it->sa.ike_sa_id);
    auto x = std::find_if(m->second.begin(), m->second.end(), [&](const Member& y) { return y.it == it; });
    const std::uint64_t seq = x->seq;
    m->second.erase(x);
    if (m->second.empty()) by_ike_.erase(m);
    return seq;
}

void SaTable::link(Entries::iterator it, std::uint64_t seq) {
    Members& v = by_ike_[it->sa.ike_sa_id];
    auto at = std::upper_bound(v.begin(), v.end(), seq, [](std::uint64_t s, const Member& y) { return s < y.seq; });
    v.insert(at, Member{seq, it});
}

}  // namespace mobiked::daemon
