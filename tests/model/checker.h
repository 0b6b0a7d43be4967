// The model check: a workload run op by op on a real Registry (its own log in a temporary
// directory, a fake clock, hooks subscribed) and on the RegistryModel side by side. After
// every op it compares the call's result, the last sequence number (so an event is written
// exactly when the model says the state or the hooks changed) and the hook events fired;
// every few hundred ops and at the end every table's dump_all; at the end the registry
// replayed from its log (open_replay) and reopened as writer must equal the model too.
//
// Thread safety: each call owns what it opens.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/workload.h"

namespace procreg::model {

struct Mismatch {
  std::size_t op = 0;  // index of the op after which it showed (ops.size(): the final checks)
  std::string what;
};

struct CheckOptions {
  bool final_checks = true;  // replay and reopen at the end
  std::size_t full_compare_every = 256;
  // For the checker's own tests: changes an op before the model (only) sees it, so that the
  // two sides differ on purpose.
  std::function<void(Op&)> perturb_model;
};

// The first difference between the registry and the model on `ops`, or none.
std::optional<Mismatch> check(const std::vector<Op>& ops, const CheckOptions& options = {});

// A shorter workload that still fails: ops after the failing one are dropped, then chunks
// and single ops are removed while check() still finds a mismatch. Bounded by `budget` runs
// and `deadline`.
std::vector<Op> minimise(std::vector<Op> ops, const Mismatch& first,
                         const CheckOptions& options = {}, std::size_t budget = 400,
                         std::chrono::seconds deadline = std::chrono::seconds(120));

// A report of a failure: the seed, the mismatch, and the minimised sequence, one op a line.
std::string report(std::uint64_t seed, const std::vector<Op>& minimised, const Mismatch& mismatch,
                   const CheckOptions& options = {});

// Generates `count` ops from `seed` and checks them; on a mismatch, returns report().
std::optional<std::string> check_seed(std::uint64_t seed, std::size_t count,
                                      const CheckOptions& options = {});

}  // namespace procreg::model
