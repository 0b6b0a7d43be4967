// The writer's cost of one Registry::insert call, for an instruction profiler: N single
// inserts of distinct children (the entries built before the loop), Durability::kNone, into a
// fresh log in a temporary directory, one thread. Prints the wall rate; under callgrind,
// count only the calls themselves:
//
//   valgrind --tool=callgrind --toggle-collect='procreg::Registry::insert*' \
//       build/bench/insert_cost --n 20000
//
// and divide the total by N (each call's own cost, from the API to the hook hand-off).
//
//   insert_cost [--n N] [--warmup W] [--metadata]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "procreg/registry.h"

namespace {

struct Args {
  std::size_t n = 20'000;
  std::size_t warmup = 2'000;
  bool metadata = false;  // each insert carries a one-key metadata map
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--metadata") {
      a.metadata = true;
    } else if (i + 1 < argc && flag == "--n") {
      a.n = std::strtoull(argv[++i], nullptr, 10);
    } else if (i + 1 < argc && flag == "--warmup") {
      a.warmup = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: insert_cost [--n N] [--warmup W] [--metadata]\n");
      std::exit(2);
    }
  }
  return a;
}

struct Input {
  procreg::ChildSpec spec;
  procreg::NodePids node_pids;
};

Input make_input(std::size_t i) {
  char id[32];
  std::snprintf(id, sizeof id, "game_session_%08zu", i);
  return Input{procreg::make_spec(
                   id, "Elixir.MyApp.GameSession", "start_link",
                   {procreg::Value(static_cast<std::uint64_t>(i)), procreg::Value("eu-west")}),
               {{"node" + std::to_string(i % 7) + "@host", "<0." + std::to_string(i) + ".0>"}}};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace procreg;
  const Args args = parse(argc, argv);
  bench::TempDir dir;
  RegistryOptions o;
  o.hub = "bench";
  o.log_dir = dir.path();
  o.local_node = "node0@host";
  o.log.durability = Durability::kNone;
  o.janitor_interval = std::chrono::milliseconds(0);
  auto reg = Registry::open(o);
  if (!reg.ok()) {
    std::fprintf(stderr, "open: %s\n", reg.status().to_string().c_str());
    return 1;
  }
  InsertOptions io;
  if (args.metadata) io.metadata = {{"tag", Value("region-7")}};
  const std::size_t total = args.warmup + args.n;
  std::vector<Input> inputs;
  inputs.reserve(total);
  for (std::size_t i = 0; i < total; ++i) inputs.push_back(make_input(i));
  for (std::size_t i = 0; i < args.warmup; ++i) {
    if (!(*reg)->insert(std::move(inputs[i].spec), std::move(inputs[i].node_pids), io).ok()) {
      return 1;
    }
  }
  const auto t0 = bench::Clock::now();
  for (std::size_t i = args.warmup; i < total; ++i) {
    if (!(*reg)->insert(std::move(inputs[i].spec), std::move(inputs[i].node_pids), io).ok()) {
      return 1;
    }
  }
  const double s = std::chrono::duration<double>(bench::Clock::now() - t0).count();
  std::printf("%zu inserts (kNone, 1 thread): %.0f calls/s\n", args.n,
              static_cast<double>(args.n) / s);
  return 0;
}
