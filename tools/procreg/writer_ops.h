// procreg command: what `procreg serve` does for its writer beside serving it.
//
// AdminOps answers the admin requests its stats endpoint takes (StatsEndpoint::Handler):
//   "snapshot"  starts Registry::snapshot() on a thread of its own and answers at once
//               {"started": true, "target": SEQ} (or {"started": false, "error"}); its outcome
//               shows in the stats as "snapshot_job": {"running", "seq", "file", "error"}, which
//               `procreg snapshot` polls, so the serve loop (and /healthz) never waits for it;
//   "compact"   runs Registry::compact() and answers {"compacted": N} or {"error"}.
// Both need the admin role (every request has it without CURVE). DurableWarnings says on
// stderr when durable hook subscribers near the retention bound, and when one is cut off.
//
// Thread safety: AdminOps' methods from the serve loop's thread; the job runs on its own.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "procreg/registry.h"

namespace procreg::cli {

class AdminOps {
 public:
  explicit AdminOps(Registry& registry) : registry_(registry) {}
  ~AdminOps();  // waits for a snapshot under way
  AdminOps(const AdminOps&) = delete;
  AdminOps& operator=(const AdminOps&) = delete;

  // The answer to `request`, or nullopt for a request that is not an admin op.
  std::optional<nlohmann::ordered_json> handle(std::string_view request, bool admin);
  // {"running", "seq", "file", "error"} of the last snapshot asked for (all empty: none).
  nlohmann::ordered_json snapshot_job() const;

 private:
  Registry& registry_;
  std::thread job_;
  mutable std::mutex mu_;
  bool running_ = false;                                              // under mu_
  nlohmann::ordered_json result_ = nlohmann::ordered_json::object();  // under mu_
};

class DurableWarnings {
 public:
  explicit DurableWarnings(std::uint64_t bound) : bound_(bound) {}
  void check(const RegistryStats& s);

 private:
  const std::uint64_t bound_;
  bool warned_near_ = false;
  std::uint64_t cut_off_ = 0;
};

}  // namespace procreg::cli
