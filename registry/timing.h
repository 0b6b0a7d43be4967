// procreg::replay: how the registry words a duration in its messages ("250 ms").
#pragma once

#include <chrono>
#include <string>

namespace procreg::replay {

inline std::string ms_text(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

}  // namespace procreg::replay
