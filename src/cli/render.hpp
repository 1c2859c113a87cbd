// Human-readable output for mobikectl, modelled on swanctl's listings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mobiked::cli {

// Each renders a successful reply of its command; missing fields print as "-".
std::string render_status(const nlohmann::json& j);
std::string render_conns(const nlohmann::json& j);
std::string render_sas(const nlohmann::json& j);
std::string render_ike_sa(const nlohmann::json& sa);
std::string render_move(const nlohmann::json& j);
std::string render_terminated(const nlohmann::json& j);
std::string render_rekey(const nlohmann::json& j);
// One line of `monitor` output for an event object.
std::string render_event(const nlohmann::json& e);
std::string render_loaded(const nlohmann::json& j);
std::string render_exported(const nlohmann::json& j);

}  // namespace mobiked::cli
