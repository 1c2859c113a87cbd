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
std::string render_loaded(const nlohmann::json& j);
std::string render_exported(const nlohmann::json& j);

}  // namespace mobiked::cli
