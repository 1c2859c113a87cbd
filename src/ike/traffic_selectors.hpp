// Traffic selectors: conversion between wire and config forms, and the
// narrowing of RFC 7296 §2.9.
#pragma once

#include <optional>
#include <vector>

#include "ike/config.hpp"
#include "ike/engine.hpp"

namespace mobiked::ike {

wire::TrafficSelector to_wire(const TrafficSelectorRange& ts);
std::optional<TrafficSelectorRange> from_wire(const wire::TrafficSelector& ts);
std::vector<TrafficSelectorRange> from_wire(const std::vector<wire::TrafficSelector>& list);
wire::TsPayload to_payload(const std::vector<TrafficSelectorRange>& list);

// Configured selectors with `dynamic` replaced by `host` (a /32 or /128).
std::vector<TrafficSelectorRange> resolve(const std::vector<TsSpec>& specs, const IpAddress& host);

// Intersection of two selectors; nullopt if disjoint or of different families.
std::optional<TrafficSelectorRange> intersect(const TrafficSelectorRange& a, const TrafficSelectorRange& b);

// Responder's narrowing: every non-empty intersection of a proposed selector
// with a configured one, in the proposer's order.
std::vector<TrafficSelectorRange> narrow(const std::vector<TrafficSelectorRange>& proposed,
                                         const std::vector<TrafficSelectorRange>& configured);

// True if every selector in `inner` lies within some selector of `outer`.
bool is_subset(const std::vector<TrafficSelectorRange>& inner, const std::vector<TrafficSelectorRange>& outer);

std::string to_string(const std::vector<TrafficSelectorRange>& list);

}  // namespace mobiked::ike
