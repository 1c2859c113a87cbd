// CHILD_SA negotiation shared by IKE_AUTH and CREATE_CHILD_SA (RFC 7296 §1.3,
// §2.9 traffic-selector narrowing, §2.17 keying material).
#include <algorithm>

#include "crypto/cipher.hpp"
#include "ike/engine_impl.hpp"
#include "ike/payload_helpers.hpp"
#include "ike/traffic_selectors.hpp"

namespace mobiked::ike {

namespace {



std::vector<TrafficSelectorRange> ts_of(const std::vector<wire::Payload>& p, wire::PayloadType t) {
    const auto* pl = wire::find_payload(p, t);
    return pl ? from_wire(std::get<wire::TsPayload>(pl->body).selectors) : std::vector<TrafficSelectorRange>{};
}

struct KeySizes {
    std::size_t encr = 0, integ = 0;
};

std::optional<KeySizes> child_key_sizes(const Selected& s) {
    auto e = crypto::encr_info(s.encr, s.encr_key_bits);
    if (!e) return std::nullopt;
    KeySizes k{e->key_size + e->salt_size, 0};
    if (!e->aead) {
        auto i = crypto::integ_info(s.integ);
        if (!i) return std::nullopt;
        k.integ = i->key_size;
    }
    return k;
}

ChildSaKeys cut_keys(const Selected& s, ByteView keymat, std::size_t& at, const KeySizes& k) {
    ChildSaKeys out;
    out.encr_id = s.encr;
    out.encr_key_bits = s.encr_key_bits;
    out.integ_id = s.integ;
    out.encr_key = to_bytes(keymat.subspan(at, k.encr));
    at += k.encr;
    out.integ_key = to_bytes(keymat.subspan(at, k.integ));
    at += k.integ;
    return out;
}

}  // namespace

std::optional<ChildRequest> Engine::Impl::make_child_request(const IkeSa& sa, ChildPtr child,
                                                             const PacketTrigger* trigger) {
    ChildRequest req;
    req.config = child;
    req.local_ts = resolve(child->local_ts, sa.local.address);
    // Asking for an inner address, we cannot name it yet: offer the whole
    // family for our side and let the gateway narrow it to the lease.
    for (std::size_t k = 0; k < req.local_ts.size(); ++k)
        if (child->local_ts[k].dynamic && !sa.conn->request_virtual_ips.empty())
            req.local_ts[k].range = AddressRange::any(sa.conn->request_virtual_ips.front());
    req.remote_ts = resolve(child->remote_ts, sa.remote.address);
    if (trigger) {
        req.local_ts.insert(req.local_ts.begin(), trigger->local);
        req.remote_ts.insert(req.remote_ts.begin(), trigger->remote);
    }
    req.transport = child->mode == IpsecMode::transport;
    req.spi_in = allocate_esp_spi();
    return req;
}

void Engine::Impl::append_child_request(const ChildRequest& req, std::vector<wire::Payload>& p, bool with_ke) const {
    wire::SaPayload sa_pl{with_ke ? req.config->esp_proposals : without_ke(req.config->esp_proposals)};
    for (auto& prop : sa_pl.proposals) {
        prop.protocol = wire::ProtocolId::esp;
        prop.spi = spi_bytes(req.spi_in);
    }
    if (req.transport) p.push_back(notify_payload(wire::notify::use_transport_mode));
    p.push_back({wire::PayloadType::sa, false, std::move(sa_pl)});
    p.push_back({wire::PayloadType::ts_i, false, to_payload(req.local_ts)});
    p.push_back({wire::PayloadType::ts_r, false, to_payload(req.remote_ts)});
}

ChildOutcome Engine::Impl::negotiate_child(IkeSa& sa, const std::vector<wire::Payload>& request, Time now,
                                           bool with_ke) {
    ChildOutcome outcome;
    const auto* sa_pl = wire::find_payload(request, wire::PayloadType::sa);
    auto tsi = ts_of(request, wire::PayloadType::ts_i), tsr = ts_of(request, wire::PayloadType::ts_r);
    if (!sa_pl || tsi.empty() || tsr.empty()) {
        outcome.error_notify = wire::notify::invalid_syntax;
        return outcome;
    }
    const auto offered = with_ke ? std::get<wire::SaPayload>(sa_pl->body).proposals
                                 : without_ke(std::get<wire::SaPayload>(sa_pl->body).proposals);
    const bool wants_transport = wire::find_notify(request, wire::notify::use_transport_mode) != nullptr;
    outcome.error_notify = wire::notify::ts_unacceptable;
    for (const ChildConfig& cfg : sa.conn->children) {
        // TSi is the initiator's side: our remote selectors; TSr our local ones.
        auto n_i = narrow(tsi, resolve(cfg.remote_ts, peer_host(sa)));
        auto n_r = narrow(tsr, resolve(cfg.local_ts, sa.local.address));
        if (n_i.empty() || n_r.empty()) continue;
        auto sel = select_proposal(with_ke ? cfg.esp_proposals : without_ke(cfg.esp_proposals), offered);
        if (!sel || sel->spi.size() != 4) {
            outcome.error_notify = wire::notify::no_proposal_chosen;
            continue;
        }
        ChildSa c;
        c.id = next_child_id++;
        c.config = ChildPtr(sa.conn, &cfg);
        c.proposal = *sel;
        c.spi_out = load_be32(sel->spi.data());
        c.spi_in = allocate_esp_spi();
        c.proposal.spi = spi_bytes(c.spi_in);
        c.mode = wants_transport && cfg.mode == IpsecMode::transport ? IpsecMode::transport : IpsecMode::tunnel;
        c.local_ts = n_r;
        c.remote_ts = n_i;
        c.established_at = now;
        outcome.narrowed = n_i.size() < tsi.size() || n_r.size() < tsr.size();
        outcome.child = std::move(c);
        outcome.error_notify = 0;
        return outcome;
    }
    return outcome;
}

void Engine::Impl::append_child_response(const ChildSa& child, bool narrowed, std::vector<wire::Payload>& p) const {
    if (child.mode == IpsecMode::transport) p.push_back(notify_payload(wire::notify::use_transport_mode));
    p.push_back({wire::PayloadType::sa, false, wire::SaPayload{{child.proposal.to_proposal(wire::ProtocolId::esp)}}});
    p.push_back({wire::PayloadType::ts_i, false, to_payload(child.remote_ts)});
    p.push_back({wire::PayloadType::ts_r, false, to_payload(child.local_ts)});
    if (narrowed) p.push_back(notify_payload(wire::notify::additional_ts_possible));
}

std::optional<ChildSa> Engine::Impl::accept_child_response(IkeSa& /*sa*/, const ChildRequest& req,
                                                           const std::vector<wire::Payload>& p, std::string& why,
                                                           Time now, bool with_ke) {
    const auto* sa_pl = wire::find_payload(p, wire::PayloadType::sa);
    if (!sa_pl) {
        why = "no SA payload";
        for (const auto& pl : p)
            if (const auto* n = std::get_if<wire::NotifyPayload>(&pl.body); n && wire::notify::is_error(n->type))
                why = "peer answered " + wire::notify_name(n->type);
        return std::nullopt;
    }
    const auto& props = std::get<wire::SaPayload>(sa_pl->body).proposals;
    auto sel = props.size() == 1 ? accept_reply(with_ke ? req.config->esp_proposals : without_ke(req.config->esp_proposals),
                                                        props.front()) : std::nullopt;
    if (!sel || sel->spi.size() != 4) {
        why = "peer chose an ESP proposal we did not offer";
        return std::nullopt;
    }
    auto tsi = ts_of(p, wire::PayloadType::ts_i), tsr = ts_of(p, wire::PayloadType::ts_r);
    if (tsi.empty() || tsr.empty() || !is_subset(tsi, req.local_ts) || !is_subset(tsr, req.remote_ts)) {
        why = "peer's traffic selectors are not within ours";
        return std::nullopt;
    }
    ChildSa c;
    c.id = next_child_id++;
    c.config = req.config;
    c.proposal = *sel;
    c.spi_in = req.spi_in;
    c.spi_out = load_be32(sel->spi.data());
    c.proposal.spi = spi_bytes(c.spi_in);
    const bool transport = req.transport && wire::find_notify(p, wire::notify::use_transport_mode);
    c.mode = transport ? IpsecMode::transport : IpsecMode::tunnel;
    c.local_ts = tsi;
    c.remote_ts = tsr;
    c.established_at = now;
    return c;
}

std::uint32_t Engine::Impl::install_child(IkeSa& sa, ChildSa child, Time now, Output& out, bool exchange_initiator,
                                          ByteView shared_secret, ByteView ni, ByteView nr) {
    auto sizes = child_key_sizes(child.proposal);
    if (!sizes) {
        release_esp_spi(child.spi_in);
        emit(out, Event::Kind::child_failed, sa, child.config->name + ": unsupported algorithms", now);
        return 0;
    }
    const std::size_t total = 2 * (sizes->encr + sizes->integ);
    // IKE_AUTH's child uses the IKE_SA_INIT nonces; CREATE_CHILD_SA its own.
    if (ni.empty()) {
        ni = sa.nonce_i;
        nr = sa.nonce_r;
    }
    Bytes keymat = crypto::derive_child_keymat(*sa.prf, sa.keys.sk_d, shared_secret, ni, nr, total);
    // KEYMAT order (§2.17): initiator-to-responder keys first.
    std::size_t at = 0;
    ChildSaKeys i_to_r = cut_keys(child.proposal, keymat, at, *sizes);
    ChildSaKeys r_to_i = cut_keys(child.proposal, keymat, at, *sizes);
    wipe(keymat);

    InstallChildSa cmd;
    cmd.ike_sa_id = sa.id;
    cmd.child_id = child.id;
    cmd.child_name = child.config->name;
    cmd.spi_in = child.spi_in;
    cmd.spi_out = child.spi_out;
    cmd.mode = child.mode;
    cmd.esn = child.proposal.esn == wire::esn::yes;
    cmd.udp_encap = sa.nat_local || sa.nat_remote || sa.conn->encap_force;
    cmd.local = sa.local;
    cmd.remote = sa.remote;
    cmd.inbound = exchange_initiator ? std::move(r_to_i) : std::move(i_to_r);
    cmd.outbound = exchange_initiator ? std::move(i_to_r) : std::move(r_to_i);
    cmd.local_ts = child.local_ts;
    cmd.remote_ts = child.remote_ts;
    cmd.lifetimes = child.config->lifetimes;
    out.commands.push_back(std::move(cmd));
    log_sa(LogLevel::info, sa, "CHILD_SA " + child.config->name + " established: SPIs " + to_hex(spi_bytes(child.spi_in)) +
                                   "_i " + to_hex(spi_bytes(child.spi_out)) + "_o, " + child.proposal.to_string() +
                                   ", " + to_string(child.local_ts) + " === " + to_string(child.remote_ts));
    emit(out, Event::Kind::child_established, sa, child.config->name, now);
    set_lifetimes(sa, child, now);
    if (child.mode == IpsecMode::transport) {  // MOBIKEv2 moves rewrite selectors naming these
        child.host_local = sa.local.address;
        child.host_remote = sa.remote.address;
    }
    const std::uint32_t id = child.id;
    sa.children.push_back(std::move(child));
    return id;
}

}  // namespace mobiked::ike
