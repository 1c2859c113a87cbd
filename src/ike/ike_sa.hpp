// State of one IKE SA and its CHILD_SAs inside the engine (not part of the API).
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "common/heap_optional.hpp"
#include "crypto/key_exchange.hpp"
#include "crypto/prf.hpp"
#include "ike/address_pool.hpp"
#include "ike/engine.hpp"
#include "ike/proposals.hpp"
#include "ike/sk_codec.hpp"

namespace mobiked::ike {

// SAs share the (immutable) configuration they were made with; a reload
// builds new objects and leaves existing SAs on theirs.
using ConnPtr = std::shared_ptr<const ConnectionConfig>;
using ChildPtr = std::shared_ptr<const ChildConfig>;  // aliases its connection's ownership

struct ChildSa {
    std::uint32_t id = 0;
    ChildPtr config;
    Time rekey_at{};   // soft lifetime (with jitter); Time{} = never
    Time expire_at{};  // hard lifetime
    std::uint32_t replaced_by = 0;  // set once a rekey made its successor: being closed
    bool rekeying = false;          // our CREATE_CHILD_SA rekeying it is in flight
    // A rekey of this child that the peer started while ours was in flight
    // (RFC 7296 §2.8.1): the SA it created and the nonces of that exchange.
    std::uint32_t peer_rekey_child = 0;
    Bytes peer_rekey_ni, peer_rekey_nr;
    Selected proposal;
    std::uint32_t spi_in = 0;
    std::uint32_t spi_out = 0;
    IpsecMode mode = IpsecMode::tunnel;
    std::vector<TrafficSelectorRange> local_ts;
    std::vector<TrafficSelectorRange> remote_ts;
    // Transport mode: the host addresses its selectors were made with, so a
    // MOBIKEv2 move knows which single-address selectors to rewrite.
    IpAddress host_local;
    IpAddress host_remote;
    Time established_at{};
};

// A request we sent and have not had answered, kept for retransmission.
struct PendingRequest {
    std::uint32_t message_id = 0;
    wire::ExchangeType exchange = wire::ExchangeType::informational;
    std::vector<Bytes> datagrams;  // one, or the SKF fragments (RFC 7383)
    unsigned retransmits = 0;
    Time sent_at{};
    Time last_sent{};  // any (re)send: the MOBIKE path probe pace counts from it
    Time next_retransmit{};
    // What the exchange was for, so the response is processed in context.
    enum class Purpose {
        ike_sa_init,
        ike_auth,
        delete_ike,
        delete_child,
        liveness,
        create_child,
        rekey_child,
        rekey_ike,
        delete_rekeyed_ike,  // deletes an IKE SA whose children moved to its successor
        update_addresses,    // MOBIKE UPDATE_SA_ADDRESSES (original initiator)
        return_routability,  // MOBIKE COOKIE2 check of a peer's new address
        announce_addresses,  // MOBIKE ADDITIONAL_*_ADDRESS after our address set changed
    } purpose = Purpose::liveness;
    std::vector<std::uint32_t> child_ids;  // delete_child
};

// An exchange waiting for the window, with what it needs to be built.
struct QueuedExchange {
    PendingRequest::Purpose purpose = PendingRequest::Purpose::liveness;
    std::uint32_t child_id = 0;  // delete_child / rekey_child: which CHILD_SA
    ChildPtr config;             // create_child: which child configuration
    std::uint16_t ke_group = 0;  // PFS group the peer asked for (INVALID_KE_PAYLOAD retry)
    unsigned retries = 0;
    bool operator==(const QueuedExchange& o) const {
        return purpose == o.purpose && child_id == o.child_id && config == o.config;
    }
};

// The initiator's first CHILD_SA while IKE_AUTH is in flight.
struct ChildRequest {
    ChildPtr config;
    std::uint32_t spi_in = 0;
    std::vector<TrafficSelectorRange> local_ts;
    std::vector<TrafficSelectorRange> remote_ts;
    bool transport = false;
};

// Our CREATE_CHILD_SA in flight: what we offered, to process the answer.
struct CreateChildContext {
    PendingRequest::Purpose purpose = PendingRequest::Purpose::create_child;
    ChildRequest child;                // create_child / rekey_child
    std::uint32_t rekeyed_child = 0;   // rekey_child
    Bytes nonce;                       // our Ni
    std::uint16_t ke_group = 0;        // PFS / IKE rekey group, 0 = none
    std::unique_ptr<crypto::KeyExchange> ke;
    std::uint64_t new_ike_spi = 0;     // rekey_ike: our SPI of the new IKE SA
    unsigned ke_retries = 0;
};

struct IkeSa {
    std::uint64_t id = 0;
    ConnPtr conn;
    bool initiator = false;
    IkeState state = IkeState::created;
    std::uint64_t spi_i = 0;
    std::uint64_t spi_r = 0;
    Endpoint local;
    Endpoint remote;
    // Where the request being answered came from: its response goes back there
    // (RFC 7296 §2.11), also when that is not `remote` (a MOBIKE path probe
    // from the peer's new address, RFC 4555 §3.5).
    Endpoint request_local;
    Endpoint request_remote;

    // IKE_SA_INIT material, kept until AUTH is verified.
    Selected proposal;
    std::uint16_t ke_group = 0;
    std::unique_ptr<crypto::KeyExchange> ke;
    Bytes nonce_i, nonce_r;
    Bytes init_request;   // IKE_SA_INIT request as sent (AUTH signs it)
    Bytes init_response;  // IKE_SA_INIT response as sent
    Bytes cookie;         // initiator: the responder's cookie to echo
    unsigned invalid_ke_retries = 0;

    std::unique_ptr<crypto::Prf> prf;
    crypto::IkeKeys keys;
    std::unique_ptr<SkCodec> codec;
    std::unique_ptr<IkeSaKeys> export_keys;  // Config::export_ike_keys only

    Identity local_id;
    Identity remote_id;
    std::vector<std::uint16_t> peer_signature_hashes;
    bool peer_sent_certreq = false;

    bool nat_local = false;   // we are behind a NAT
    bool nat_remote = false;  // the peer is behind a NAT
    bool peer_mobike = false;
    std::uint8_t mobike_version = 0;  // negotiated (1, 2, ...); 0 = none
    // Initiator: IKE_AUTH drew MOBIKE_UNSUPPORTED_VERSION and the SA restarted
    // at IKE_SA_INIT offering mobike_offer (empty: no MOBIKE_SUPPORTED).
    bool mobike_restarted = false;
    std::vector<std::uint8_t> mobike_offer;
    std::vector<IpAddress> peer_addresses;  // ADDITIONAL_*_ADDRESS the peer announced
    bool peer_fragmentation = false;        // IKEV2_FRAGMENTATION_SUPPORTED received (RFC 7383)
    // A fragmented message being put together (RFC 7383 §2.6), bounded in
    // fragments and bytes; a newer message ID or another total resets it.
    struct Reassembly {
        std::uint32_t message_id = 0;
        bool response = false;
        std::uint16_t total = 0;
        std::size_t bytes = 0;
        wire::PayloadType first = wire::PayloadType::none;
        std::vector<Bytes> parts;
        std::vector<bool> have;
        Datagram first_datagram;
    };
    std::unique_ptr<Reassembly> reassembly;  // rare: kept off the SA's own footprint
    std::vector<IpAddress> virtual_ips;     // CP: ours (client) or the peer's lease (gateway)
    std::vector<std::string> leased_from;   // gateway: pools to release on deletion
    Bytes cookie2;                          // our COOKIE2 awaiting its echo
    bool update_again = false;              // moved again while an update was in flight
    // probe_paths(): the pairs the request in flight goes to instead of
    // local/remote until one answers (and answered_by_probe while that answer
    // is handled: it says nothing about the current pair).
    std::vector<std::pair<Endpoint, Endpoint>> probe_pairs;
    bool answered_by_probe = false;

    // Message IDs (RFC 7296 §2.2), window size 1.
    std::uint32_t next_request_id = 0;
    std::uint32_t next_peer_request_id = 0;
    HeapOptional<PendingRequest> pending;  // on the heap: most SAs idle, see heap_optional.hpp
    // Exchanges waiting for the window; a vector, since an empty std::deque
    // already costs 512 bytes and there are many SAs with nothing queued.
    std::vector<QueuedExchange> queued;
    HeapOptional<CreateChildContext> create_child;
    // Last response we sent and the request it answered, for retransmitted requests.
    std::optional<std::uint32_t> last_response_id;
    // SHA-256 of it: a retransmission is recognised without keeping it (inline:
    // a heap block per idle SA cost more than the 32 bytes).
    std::array<std::uint8_t, 32> last_request_digest{};
    std::vector<Bytes> last_response;
    bool last_request_update = false;  // it carried UPDATE_SA_ADDRESSES

    HeapOptional<ChildRequest> child_request;
    std::vector<ChildSa> children;

    Time created_at{};
    Time established_at{};
    Time rekey_at{};     // IKE SA soft lifetime (with jitter)
    bool rekeyed = false;  // replaced by a successor IKE SA; only its Delete remains
    Time last_inbound{};
    Time delete_at{};  // half-open expiry or deleting-state cleanup
    // MOBIKE path liveness (initiator): the current path counts as alive from
    // the later of the last inbound message and the move onto it.
    Time path_alive_at{};
    Time announce_at{};          // our address list changed: announce it then
    bool path_failed = false;    // reported; cleared by anything from the peer or a move
    bool announce_due = false;   // peer has not been sent our current address list
    // MOBIKE initiator: the peer's last NAT_DETECTION_DESTINATION_IP (first 8
    // bytes), i.e. our address as it sees it; a change on a path probe is a
    // NAT mapping change (RFC 4555 §3.10) and calls for an update.
    std::uint64_t natd_seen = 0;

    std::uint64_t our_spi() const { return initiator ? spi_i : spi_r; }
    ChildSa* find_child_by_spi_in(std::uint32_t spi);
    ChildSa* find_child_by_spi_out(std::uint32_t spi);
    ChildSa* find_child(std::uint32_t id);
};

}  // namespace mobiked::ike
