// State of one IKE SA and its CHILD_SAs inside the engine (not part of the API).
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "crypto/key_exchange.hpp"
#include "crypto/prf.hpp"
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
    Selected proposal;
    std::uint32_t spi_in = 0;
    std::uint32_t spi_out = 0;
    IpsecMode mode = IpsecMode::tunnel;
    std::vector<TrafficSelectorRange> local_ts;
    std::vector<TrafficSelectorRange> remote_ts;
    Time established_at{};
};

// A request we sent and have not had answered, kept for retransmission.
struct PendingRequest {
    std::uint32_t message_id = 0;
    wire::ExchangeType exchange = wire::ExchangeType::informational;
    Bytes datagram;
    unsigned retransmits = 0;
    Time sent_at{};
    Time next_retransmit{};
    // What the exchange was for, so the response is processed in context.
    enum class Purpose { ike_sa_init, ike_auth, delete_ike, delete_child, liveness, create_child } purpose =
        Purpose::liveness;
    std::vector<std::uint32_t> child_ids;  // delete_child
};

// The initiator's first CHILD_SA while IKE_AUTH is in flight.
struct ChildRequest {
    ChildPtr config;
    std::uint32_t spi_in = 0;
    std::vector<TrafficSelectorRange> local_ts;
    std::vector<TrafficSelectorRange> remote_ts;
    bool transport = false;
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

    Identity local_id;
    Identity remote_id;
    std::vector<std::uint16_t> peer_signature_hashes;
    bool peer_sent_certreq = false;

    bool nat_local = false;   // we are behind a NAT
    bool nat_remote = false;  // the peer is behind a NAT
    bool peer_mobike = false;

    // Message IDs (RFC 7296 §2.2), window size 1.
    std::uint32_t next_request_id = 0;
    std::uint32_t next_peer_request_id = 0;
    std::optional<PendingRequest> pending;
    std::deque<PendingRequest::Purpose> queued;  // exchanges waiting for the window
    std::vector<std::uint32_t> queued_child_deletes;
    // Last response we sent and the request it answered, for retransmitted requests.
    std::optional<std::uint32_t> last_response_id;
    Bytes last_request;
    Bytes last_response;

    std::optional<ChildRequest> child_request;
    std::vector<ChildSa> children;

    Time created_at{};
    Time established_at{};
    Time last_inbound{};
    Time delete_at{};  // half-open expiry or deleting-state cleanup

    std::uint64_t our_spi() const { return initiator ? spi_i : spi_r; }
    ChildSa* find_child_by_spi_in(std::uint32_t spi);
    ChildSa* find_child_by_spi_out(std::uint32_t spi);
    ChildSa* find_child(std::uint32_t id);
};

}  // namespace mobiked::ike
