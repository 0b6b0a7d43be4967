// A program the process tests run (tests/plugin/process_test.cc), not an example of the API.
//
// bus_replica: a replica of a hub in its own process. Starts a procreg::Replica on the bus,
// waits until it caught up with the writer, optionally writes through it (remote writes to the
// writer's command channel, each read back at once from the replica: read-your-writes), then
// follows the hub, printing its progress, until --until-seq is applied, SIGINT/SIGTERM, or
// --seconds pass. On exit it writes its state as canonical text to --dump.
//
//   bus_replica --bus EP --replay EP [flags]
//
//   --bus EP          the writer's PUB, or a proxy's backend (XPUB)              required
//   --replay EP       the writer's replay service                                required
//   --command EP      the writer's command channel (needed for --writes)
//   --hub NAME        the hub id                                                 demo
//   --node NAME       this replica's local node                                  r1
//   --writes N        inserts through the replica once caught up                 0
//   --until-seq S     exit once sequence S is applied
//   --dump F          on exit, write every table as canonical text (harness/canonical_text.h)
//   --timeout-s T     bound on catching up and on each remote write              60
//   --seconds S       exit after S seconds (0: no limit)                         0
//
// Output, one line per notable thing:
//   started hub=.. node=.. bus=..
//   caught_up applied=.. epoch=..
//   write seq=.. child=..           (per remote write)  then  writes done count=.. last_seq=..
//   applied <seq>                   (whenever the applied sequence moved, checked every 50 ms)
//   epoch <e> resyncs=..            (the writer started a new log)
//   dump rows=.. file=..
//   stopped applied=.. epoch=.. snapshots=.. resyncs=.. gaps=.. repaired=..
// Exit status: 0 after a clean stop, 1 on an error (message on stderr), 2 on bad flags.
#include <memory>
#include <string>

#include <zmq.hpp>

#include "harness/canonical_text.h"
#include "harness/flags.h"
#include "procreg/registry.h"
#include "procreg/replica.h"
#include "tools/common/files.h"
#include "tools/common/signals.h"

namespace {

using namespace procreg;
using namespace procreg::harness;
using namespace procreg::tools;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* const kProgram = "bus_replica";

int run(int argc, char** argv, const Signals& signals) {
  const Flags flags(argc, argv,
                    {"bus", "replay", "command", "hub", "node", "writes", "until-seq", "dump",
                     "timeout-s", "seconds"});
  ReplicaOptions options;
  options.hub = flags.str("hub", "demo");
  options.local_node = flags.str("node", "r1");
  options.bus_endpoint = flags.required("bus");
  options.replay_endpoint = flags.required("replay");
  options.command_endpoint = flags.str("command");
  options.request_timeout = milliseconds(1'000);
  const std::uint64_t writes = flags.u64("writes", 0);
  const std::uint64_t until = flags.u64("until-seq", ~std::uint64_t{0});  // default: never
  const auto timeout = std::chrono::seconds(flags.u64("timeout-s", 60));
  const std::uint64_t seconds = flags.u64("seconds", 0);
  const auto deadline =
      seconds == 0 ? Clock::time_point::max() : Clock::now() + std::chrono::seconds(seconds);
  if (writes > 0 && options.command_endpoint.empty()) {
    throw std::invalid_argument("--writes needs --command");
  }

  zmq::context_t context;
  auto started = Replica::start(context, options);
  if (!started.ok()) return fail(kProgram, "cannot start: " + started.status().to_string());
  std::unique_ptr<Replica> replica = std::move(*started);
  Registry& registry = replica->registry();
  say("started hub=" + options.hub + " node=" + options.local_node +
      " bus=" + options.bus_endpoint);

  int exit_code = 0;
  bool stopping = false;
  // 1. Catch up (a snapshot, then the events above it), bounded.
  const auto catch_up_limit = Clock::now() + timeout;
  while (!replica->wait_caught_up(milliseconds(100)).ok()) {
    if (Signals::stops(signals.wait(milliseconds(0)))) {
      stopping = true;
      break;
    }
    if (Clock::now() >= catch_up_limit) {
      exit_code =
          fail(kProgram, "not caught up within " + std::to_string(timeout.count()) +
                             " s (applied " + std::to_string(replica->last_applied()) + ")");
      stopping = true;
      break;
    }
  }
  if (exit_code == 0 && !stopping) {
    say("caught_up applied=" + std::to_string(replica->last_applied()) +
        " epoch=" + std::to_string(replica->epoch()));
  }

  // 2. Remote writes through the replica, each read back at once.
  std::uint64_t last_write = 0;
  for (std::uint64_t i = 0; i < writes && !stopping; ++i) {
    const std::string id = "remote-" + options.local_node + "-" + std::to_string(i);
    const std::string pid = "<" + options.local_node + "." + std::to_string(i) + ">";
    InsertOptions io;
    io.hooks = true;
    io.timeout = std::chrono::duration_cast<milliseconds>(timeout);
    io.metadata = {{"tag", Value("remote")}};
    auto seq =
        registry.insert(make_spec(id, "Elixir.Demo.Remote"), {{options.local_node, pid}}, io);
    if (!seq.ok()) {
      exit_code = fail(kProgram, "remote write of " + id + " failed: " + seq.status().to_string());
      stopping = true;
      break;
    }
    if (registry.get_pid(id) != std::optional<Pid>(pid) || replica->last_applied() < *seq) {
      exit_code = fail(kProgram, "read-your-writes broken: " + id + " written as seq " +
                                     std::to_string(*seq) + " is not visible at once");
      stopping = true;
      break;
    }
    last_write = *seq;
    say("write seq=" + std::to_string(*seq) + " child=" + id);
    if (Signals::stops(signals.wait(milliseconds(0)))) stopping = true;
  }
  if (writes > 0 && exit_code == 0) {
    say("writes done count=" + std::to_string(writes) + " last_seq=" + std::to_string(last_write));
  }

  // 3. Follow the hub.
  std::uint64_t shown = ~std::uint64_t{0};
  std::uint64_t epoch = replica->epoch();
  for (;;) {
    const std::uint64_t applied = replica->last_applied();
    if (applied != shown) {
      say("applied " + std::to_string(applied));
      shown = applied;
    }
    if (replica->epoch() != epoch) {
      epoch = replica->epoch();
      say("epoch " + std::to_string(epoch) +
          " resyncs=" + std::to_string(replica->stats().resyncs));
    }
    if (stopping || applied >= until || Clock::now() >= deadline) break;
    if (Signals::stops(signals.wait(milliseconds(50)))) stopping = true;
  }

  replica->stop();  // the state is final from here on
  if (flags.has("dump")) {
    const auto tables = registry.dump_all_tables();
    write_file_atomic(flags.required("dump"), canonical_dump(tables));
    say("dump rows=" + std::to_string(count_rows(tables)) + " file=" + flags.required("dump"));
  }
  const ReplicaStats stats = replica->stats();
  say("stopped applied=" + std::to_string(replica->last_applied()) + " epoch=" +
      std::to_string(replica->epoch()) + " snapshots=" + std::to_string(stats.snapshots_loaded) +
      " resyncs=" + std::to_string(stats.resyncs) + " gaps=" + std::to_string(stats.gaps_detected) +
      " repaired=" + std::to_string(stats.events_repaired));
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(kProgram, [&](const Signals& signals) { return run(argc, argv, signals); });
}
