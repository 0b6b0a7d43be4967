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
// With --in-flight K, K submissions (Registry::submit_insert) are kept in flight instead, each
// completion submitting the next, under --durability none|group (none): the path of the
// "64 in flight" row of registry_bench, for a sampling profiler (perf record -g).
//
//   insert_cost [--n N] [--warmup W] [--metadata] [--in-flight K] [--durability none|group]
//               [--zero-fill-bytes B] (LogOptions::zero_fill_bytes; 0: append)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "procreg/registry.h"

namespace {

struct Args {
  std::size_t n = 20'000;
  std::size_t warmup = 2'000;
  bool metadata = false;      // each insert carries a one-key metadata map
  std::size_t in_flight = 0;  // 0: synchronous calls on one thread
  bool group_commit = false;
  std::uint64_t zero_fill = procreg::LogOptions{}.zero_fill_bytes;
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
    } else if (i + 1 < argc && flag == "--in-flight") {
      a.in_flight = std::strtoull(argv[++i], nullptr, 10);
    } else if (i + 1 < argc && flag == "--zero-fill-bytes") {
      a.zero_fill = std::strtoull(argv[++i], nullptr, 10);
    } else if (i + 1 < argc && flag == "--durability") {
      a.group_commit = std::string(argv[++i]) == "group";
    } else {
      std::fprintf(stderr,
                   "usage: insert_cost [--n N] [--warmup W] [--metadata] [--in-flight K] "
                   "[--durability none|group] [--zero-fill-bytes B]\n");
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

// Keeps `k` submissions in flight over inputs[from, to): each completion submits the next
// input. Returns when every one has completed.
void run_in_flight(procreg::Registry& reg, std::vector<Input>& inputs, std::size_t from,
                   std::size_t to, std::size_t k, const procreg::InsertOptions& io) {
  std::atomic<std::size_t> next{from};
  std::atomic<std::size_t> done{0};
  std::function<void()> issue = [&] {
    const std::size_t i = next.fetch_add(1);
    if (i >= to) return;
    reg.submit_insert(std::move(inputs[i].spec), std::move(inputs[i].node_pids), io,
                      [&](procreg::Result<std::uint64_t> r) {
                        if (!r.ok()) std::abort();
                        done.fetch_add(1);
                        issue();
                      });
  };
  for (std::size_t c = 0; c < k; ++c) issue();
  for (int spins = 0; done.load() < to - from && spins < 600'000; ++spins) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  if (done.load() < to - from) std::abort();  // 60 s with writes outstanding
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
  o.log.durability = args.group_commit ? Durability::kGroupCommit : Durability::kNone;
  o.log.zero_fill_bytes = args.zero_fill;
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
  if (args.in_flight > 0) {
    run_in_flight(**reg, inputs, 0, args.warmup, args.in_flight, io);
    const auto t0 = bench::Clock::now();
    run_in_flight(**reg, inputs, args.warmup, total, args.in_flight, io);
    const double s = std::chrono::duration<double>(bench::Clock::now() - t0).count();
    std::printf("%zu inserts (%s, %zu in flight): %.0f completions/s\n", args.n,
                args.group_commit ? "kGroupCommit" : "kNone", args.in_flight,
                static_cast<double>(args.n) / s);
    return 0;
  }
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
