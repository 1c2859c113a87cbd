// Time in the sans-I/O core is a value handed in by the caller, never read from a clock.
#pragma once

#include <chrono>

namespace mobiked {

// Monotonic nanoseconds since an arbitrary epoch chosen by the caller.
using Duration = std::chrono::nanoseconds;
using Time = std::chrono::nanoseconds;
using namespace std::chrono_literals;

inline double to_ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace mobiked
