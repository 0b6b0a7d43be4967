// The registry against its executable specification (tests/model): seeded random workloads
// over every API call, compared op by op with the reference model (results, events written,
// hook events), then replayed and reopened. A failure prints the seed and a minimised op
// sequence. tools/model-check runs the long version (millions of ops).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "model/checker.h"

namespace procreg::model {
namespace {

BOOST_AUTO_TEST_SUITE(model)

BOOST_AUTO_TEST_CASE(random_workloads_match_the_reference_model) {
  constexpr std::uint64_t kSeeds[] = {1, 2, 3, 20261206};
  constexpr std::size_t kOps = 25'000;
  for (const std::uint64_t seed : kSeeds) {
    const std::optional<std::string> failure = check_seed(seed, kOps);
    BOOST_TEST(!failure.has_value(), failure.value_or(""));
  }
}

BOOST_AUTO_TEST_CASE(a_difference_is_reported_with_its_seed_and_a_minimised_sequence) {
  // The model is made to see every third child's inserts with another pid: the check must
  // fail, and the report must name the seed and shrink the workload to a handful of ops.
  CheckOptions options;
  options.perturb_model = [](Op& op) {
    if (op.kind == OpKind::kInsert && op.spec.id == "c3" && !op.node_pids.empty()) {
      op.node_pids.front().pid = "px";
    }
  };
  Generator gen(7, false);
  std::vector<Op> ops;
  for (int i = 0; i < 3'000; ++i) ops.push_back(gen.next());
  const std::optional<Mismatch> mismatch = check(ops, options);
  BOOST_REQUIRE(mismatch.has_value());
  BOOST_TEST(mismatch->op < ops.size());
  const std::vector<Op> small = minimise(ops, *mismatch, options);
  BOOST_TEST(small.size() <= 3u, small.size() << " ops left");
  BOOST_TEST(check(small, options).has_value());
  BOOST_TEST(!check(small).has_value());  // unperturbed, the same ops agree
  const std::string text = report(7, small, *mismatch, options);
  BOOST_TEST(text.find("seed 7") != std::string::npos, text);
  BOOST_TEST(text.find("insert(S(c3") != std::string::npos, text);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::model
