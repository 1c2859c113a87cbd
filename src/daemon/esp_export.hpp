// Key export for Wireshark: the "esp_sa" user access table (UAT) file, one
// record per direction of every installed CHILD_SA, in the 8-field format
// Wireshark/tshark 4.0 read from ~/.config/wireshark/esp_sa or accept as
// `-o uat:esp_sa:<record>`:
//   "IPv4","src","dst","0xSPI","<encr name>","0x<key>","<auth name>","0x<key>"
// The algorithm names must match Wireshark's value strings exactly.
#pragma once

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
};
EspSaExport wireshark_esp_sa(const std::vector<InstalledSa>& sas);

// Writes `dir`/esp_sa with mode 0600 (it holds traffic keys); creates `dir`
// (0700) if missing. Returns the file's path.
Result<std::string> write_esp_sa_file(const std::string& dir, const std::string& text);

}  // namespace mobiked::daemon
