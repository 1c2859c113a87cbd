// Key export for Wireshark: the "esp_sa" user access table (UAT) file, one
// record per direction of every installed CHILD_SA, in the 8-field format
// Wireshark/tshark 4.0 read from ~/.config/wireshark/esp_sa or accept as
// `-o uat:esp_sa:<record>`:
//   "IPv4","src","dst","0xSPI","<encr name>","0x<key>","<auth name>","0x<key>"
// The algorithm names must match Wireshark's value strings exactly.
//
// EspKeyArchive makes one export cover a whole session: besides the CHILD_SAs
// installed now it keeps the keys of recently deleted ones (replaced by a
// rekey, or closed) and every earlier pair of outer addresses a CHILD_SA used
// before a MOBIKE move, bounded in count and time (docs/wireshark.md).
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "daemon/sa_table.hpp"

namespace mobiked::daemon {

std::optional<std::string_view> wireshark_encr_name(std::uint16_t encr_id, std::uint16_t key_bits);
std::optional<std::string_view> wireshark_auth_name(std::uint16_t integ_id);

struct EspSaExport {
    std::string text;                  // file contents, one record per line
    std::size_t records = 0;
    std::vector<std::string> skipped;  // SAs with algorithms Wireshark cannot decrypt
    std::size_t retired = 0;           // deleted SAs (rekeyed or closed) included
};
EspSaExport wireshark_esp_sa(const SaTable::Entries& sas);

class EspKeyArchive {
public:
    struct Limits {
        std::size_t max_retired = 256;                // deleted CHILD_SAs kept (oldest dropped first)
        Duration retain = std::chrono::minutes(10);   // ... and for at most this long after the delete
        std::size_t max_paths = 8;                    // earlier address pairs kept per CHILD_SA
    };
    EspKeyArchive() = default;
    explicit EspKeyArchive(Limits l) : limits_(l) {}
    ~EspKeyArchive();  // wipes key material
    EspKeyArchive(const EspKeyArchive&) = delete;
    EspKeyArchive& operator=(const EspKeyArchive&) = delete;

    // Call before `table.apply(cmd)` / `table.remove_ike_sa(id)`: remembers the
    // keys of the SAs about to be deleted and the addresses about to be replaced.
    // O(CHILD_SAs of the command's IKE SA), as the table's own work.
    void before_apply(const ike::SaCommand& cmd, const SaTable& table, Time now);
    void before_remove_ike_sa(std::uint64_t ike_sa_id, const SaTable& table, Time now);

    // Records for the installed SAs (current and earlier addresses) and then for
    // the retired ones still kept. Expired entries are dropped first.
    EspSaExport wireshark(const SaTable::Entries& installed, Time now);

    std::size_t retired() const { return retired_.size(); }
    void expire(Time now);

private:
    using Path = std::pair<Endpoint, Endpoint>;  // local, remote
    using Key = std::pair<std::uint64_t, std::uint32_t>;  // IKE SA id, inbound SPI
    struct Retired {
        InstalledSa sa;            // keys and the last addresses
        std::vector<Path> earlier; // addresses before MOBIKE moves
        Time retired_at{};
    };
    void retire(const InstalledSa& e, Time now);
    static void wipe_keys(InstalledSa& e);

    Limits limits_{};
    std::deque<Retired> retired_;
    std::map<Key, std::vector<Path>> earlier_;  // installed SAs that moved
};

// IKE SA keys (daemon.export_ike_keys): Wireshark's "ikev2_decryption_table"
// UAT file, one record per IKE SA, 8 quoted fields:
//   <SPIi hex>,<SPIr hex>,<SK_ei hex>,<SK_er hex>,"<encr name>",<SK_ai hex>,<SK_ar hex>,"<integ name>"
// (byte fields as bare hex, "" when empty: a quoted value would be read as
// text; SPIs as 16 hex digits; SK_e* with the AEAD salt;
// names are Wireshark's, e.g. "AES-GCM-128 with 16 octet ICV [RFC5282]",
// "NONE [RFC4306]").
std::optional<std::string_view> wireshark_ikev2_encr_name(std::uint16_t encr_id, std::uint16_t key_bits);
std::optional<std::string_view> wireshark_ikev2_integ_name(std::uint16_t integ_id);
EspSaExport wireshark_ikev2_table(const std::vector<ike::IkeSaKeys>& sas);

// Writes `dir`/`name` with mode 0600 (it holds keys); creates `dir` (0700) if
// missing. Returns the file's path.
Result<std::string> write_uat_file(const std::string& dir, const std::string& name, const std::string& text);

// Writes `dir`/esp_sa with mode 0600 (it holds traffic keys); creates `dir`
// (0700) if missing. Returns the file's path.
Result<std::string> write_esp_sa_file(const std::string& dir, const std::string& text);

}  // namespace mobiked::daemon
