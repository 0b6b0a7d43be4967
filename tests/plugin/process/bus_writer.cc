// A program the process tests run (tests/plugin/process_test.cc), not an example of the API.
//
// bus_writer: a hub's writer on the bus. Opens the hub's log as its writer (Registry::open),
// starts a HubServer (publisher, replay service, command channel), optionally runs a
// ProcessHub-like workload, then serves until SIGINT/SIGTERM or --seconds pass, and shuts down
// cleanly.
//
//   bus_writer --log-dir DIR [flags]
//
//   --log-dir DIR        the hub's log directory (created if missing)             required
//   --hub NAME           the hub id                                               demo
//   --node NAME          the writer's local node                                 n1
//   --publish EP         bind the PUB socket here                                tcp://127.0.0.1:*
//   --connect EP         instead, connect the PUB socket to a proxy's frontend (XSUB)
//   --replay EP          the replay service's endpoint ("none": off)            tcp://127.0.0.1:*
//   --command EP         the command channel's endpoint ("none": off)           tcp://127.0.0.1:*
//   --heartbeat-ms MS    heartbeat interval                                      200
//   --durability D       sync (fdatasync per append) | group | none             sync
//   --workload N         children per workload round (0: no workload)          0
//   --rounds R           workload rounds; 0 = until SIGUSR1/SIGTERM/--seconds   1
//   --pace-ms MS         pause after each write of the workload                  0
//   --ack-file F         append "<seq> <child> <op> <node> <pid>" per acknowledged write of the
//                        workload ("-" where none), fsync'd before the next write
//   --hooks-out F        append the writer's own (in-process) hook stream, one line per hook
//                        event: "<seq> <kind> <child> <node_pids>"
//   --dump F             on exit, write every table as canonical text (harness/canonical_text.h)
//   --seconds S          exit S seconds after starting (0: run until a signal)   0
//
// Signals: SIGINT/SIGTERM stop (the workload after its current write, then the server) and
// exit cleanly; SIGUSR1 ends the workload and keeps serving.
//
// A workload round r over children child-0 .. child-(N-1), every write with hooks on:
//   start      the first half one insert each, the second half in bulk_inserts of 8, on
//              nodes n1..n3 round-robin, each with a new pid and a "tag" in its metadata;
//   migrate    every 4th child moves to the next node: an insert with the new node and pid;
//   stop       every 6th child is stopped: erase;
//   node down  node n(1 + r % 3) goes down: one bulk_delete removes its pairs from every row.
//
// Output, one line per notable thing (tokens key=value):
//   opened hub=.. epoch=.. last_seq=.. log=..        (and "recovery <report>" if any)
//   endpoints publish=.. replay=.. command=.. mode=bind|connect
//   round <r> done last_seq=..
//   workload done last_seq=.. writes=.. rounds=..
//   hooks count=.. file=..   dump rows=.. file=..
//   stopped last_seq=.. events_published=.. hook_messages=.. commands=..
// Exit status: 0 after a clean shutdown, 1 on an error (message on stderr), 2 on bad flags.
#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "harness/canonical_text.h"
#include "harness/flags.h"
#include "procreg/hub_server.h"
#include "procreg/registry.h"
#include "tools/common/files.h"
#include "tools/common/signals.h"

namespace {

using namespace procreg;
using namespace procreg::harness;
using namespace procreg::tools;
using Clock = std::chrono::steady_clock;

const char* const kProgram = "bus_writer";

// The workload, one write at a time so that signals and the pace are honoured between writes.
class Workload {
 public:
  Workload(Registry& registry, int children, const LineFile* acks)
      : registry_(registry), children_(children), acks_(acks) {}

  // Builds the writes of round `round`.
  void plan_round(int round) {
    steps_.clear();
    next_ = 0;
    const int n = children_;
    for (int i = 0; i < n / 2; ++i) {
      steps_.push_back([this, i, round] { return insert(i, node(i + round), "insert"); });
    }
    for (int i = n / 2; i < n; i += 8) {
      steps_.push_back(
          [this, i, round] { return bulk_start(i, std::min(i + 8, children_), round); });
    }
    for (int i = 1; i < n; i += 4) {
      steps_.push_back([this, i, round] { return insert(i, node(i + round + 1), "migrate"); });
    }
    for (int i = 5; i < n; i += 6) {
      steps_.push_back([this, i] { return erase(i); });
    }
    steps_.push_back([this, round] { return node_down(node(round)); });
  }
  bool round_done() const { return next_ >= steps_.size(); }
  Status step() { return steps_[next_++](); }
  std::uint64_t writes() const { return writes_; }

 private:
  static std::string node(int k) { return "n" + std::to_string(1 + k % 3); }
  static std::string child(int i) { return "child-" + std::to_string(i); }
  std::string new_pid() { return "<0." + std::to_string(++pids_) + ".0>"; }

  void ack(std::uint64_t seq, const std::vector<std::string>& lines) {
    ++writes_;
    if (acks_ == nullptr) return;
    std::string text;
    for (const auto& l : lines) text += std::to_string(seq) + ' ' + l + '\n';
    acks_->append(text, /*sync=*/true);
  }
  static InsertOptions insert_options(int i) {
    InsertOptions o;
    o.hooks = true;
    o.metadata = {{"tag", Value(i % 2 == 0 ? "worker" : "cache")}};
    return o;
  }
  static ChildSpec spec(int i) {
    return make_spec(child(i), "Elixir.Demo.Worker", "start_link", {Value(i)});
  }

  Status insert(int i, const std::string& where, const char* op) {
    const std::string pid = new_pid();
    auto seq = registry_.insert(spec(i), {{where, pid}}, insert_options(i));
    if (!seq.ok()) return seq.status();
    ack(*seq, {child(i) + ' ' + op + ' ' + where + ' ' + pid});
    return Status();
  }
  Status bulk_start(int from, int to, int round) {
    std::vector<Entry> batch;
    std::vector<std::string> lines;
    for (int i = from; i < to; ++i) {
      const std::string where = node(i + round);
      const std::string pid = new_pid();
      batch.push_back(Entry{spec(i), {{where, pid}}, insert_options(i).metadata});
      lines.push_back(child(i) + " bulk_insert " + where + ' ' + pid);
    }
    WriteOptions o;
    o.hooks = true;
    auto seq = registry_.bulk_insert(std::move(batch), o);
    if (!seq.ok()) return seq.status();
    ack(*seq, lines);
    return Status();
  }
  Status erase(int i) {
    WriteOptions o;
    o.hooks = true;
    auto seq = registry_.erase(child(i), o);
    if (!seq.ok()) return seq.status();
    ack(*seq, {child(i) + " erase - -"});
    return Status();
  }
  Status node_down(const std::string& down) {
    std::vector<std::pair<ChildId, std::vector<NodeName>>> dels;
    std::vector<std::string> lines;
    for (const auto& [id, entry] : registry_.dump()) {
      for (const auto& np : entry.node_pids) {
        if (np.node == down) {
          dels.push_back({id, {down}});
          lines.push_back(id + " node_down " + down + " -");
          break;
        }
      }
    }
    if (dels.empty()) return Status();
    WriteOptions o;
    o.hooks = true;
    auto seq = registry_.bulk_delete(std::move(dels), o);
    if (!seq.ok()) return seq.status();
    ack(*seq, lines);
    return Status();
  }

  Registry& registry_;
  const int children_;
  const LineFile* acks_;
  std::vector<std::function<Status()>> steps_;
  std::size_t next_ = 0;
  std::uint64_t pids_ = 0;
  std::uint64_t writes_ = 0;
};

int run(int argc, char** argv, const Signals& signals) {
  const Flags flags(
      argc, argv,
      {"log-dir", "hub", "node", "publish", "connect", "replay", "command", "heartbeat-ms",
       "durability", "workload", "rounds", "pace-ms", "ack-file", "hooks-out", "dump", "seconds"});
  const auto started = Clock::now();
  const std::uint64_t seconds = flags.u64("seconds", 0);
  const auto deadline =
      seconds == 0 ? Clock::time_point::max() : started + std::chrono::seconds(seconds);
  const auto left = [&] {
    if (deadline == Clock::time_point::max()) return std::chrono::milliseconds(200);
    return std::clamp(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
        std::chrono::milliseconds(0), std::chrono::milliseconds(200));
  };

  RegistryOptions ro;
  ro.log_dir = flags.required("log-dir");
  ro.hub = flags.str("hub", "demo");
  ro.local_node = flags.str("node", "n1");
  ro.janitor_interval = std::chrono::milliseconds(0);  // no TTL expiry events behind our back
  const std::string durability = flags.str("durability", "sync");
  if (durability == "sync") {
    ro.log.durability = Durability::kSyncEach;
  } else if (durability == "group") {
    ro.log.durability = Durability::kGroupCommit;
  } else if (durability == "none") {
    ro.log.durability = Durability::kNone;
  } else {
    throw std::invalid_argument("--durability must be sync, group or none");
  }
  HubServerOptions so;
  if (flags.has("connect") && flags.has("publish")) {
    throw std::invalid_argument("give --publish or --connect, not both");
  }
  so.publish_connect = flags.has("connect");
  so.publish_endpoint =
      so.publish_connect ? flags.required("connect") : flags.str("publish", "tcp://127.0.0.1:*");
  so.replay_endpoint = flags.str("replay", "tcp://127.0.0.1:*");
  so.command_endpoint = flags.str("command", "tcp://127.0.0.1:*");
  if (so.replay_endpoint == "none") so.replay_endpoint.clear();
  if (so.command_endpoint == "none") so.command_endpoint.clear();
  so.heartbeat_interval = std::chrono::milliseconds(flags.u64("heartbeat-ms", 200));
  const auto children =
      static_cast<int>(std::min<std::uint64_t>(flags.u64("workload", 0), 100'000));
  const std::uint64_t rounds = flags.u64("rounds", 1);
  const auto pace = std::chrono::milliseconds(flags.u64("pace-ms", 0));

  std::unique_ptr<LineFile> acks, hooks_out;
  if (flags.has("ack-file")) acks = std::make_unique<LineFile>(flags.required("ack-file"));
  if (flags.has("hooks-out")) hooks_out = std::make_unique<LineFile>(flags.required("hooks-out"));

  auto opened = Registry::open(ro);
  if (!opened.ok())
    return fail(kProgram,
                "cannot open the log in " + ro.log_dir + ": " + opened.status().to_string());
  std::unique_ptr<Registry> registry = std::move(*opened);
  say("opened hub=" + registry->hub() + " epoch=" + std::to_string(registry->epoch()) +
      " last_seq=" + std::to_string(registry->last_sequence()) + " log=" + ro.log_dir);
  if (!registry->recovery_report().empty()) say("recovery " + registry->recovery_report());

  // The writer's own hook stream, the reference for the subscribers on the bus.
  std::atomic<std::uint64_t> hook_count{0};
  std::atomic<bool> hook_write_failed{false};
  HookSubscription on_registered, on_unregistered;
  if (hooks_out) {
    auto record = [&](const HookEvent& e) {
      try {
        hooks_out->append(hook_line(e) + '\n', /*sync=*/false);
        hook_count.fetch_add(1);
      } catch (const std::exception&) {
        hook_write_failed = true;
      }
    };
    on_registered = registry->subscribe(HookTopic::kChildRegistered, record);
    on_unregistered = registry->subscribe(HookTopic::kChildUnregistered, record);
  }

  zmq::context_t context;
  auto server_started = HubServer::start(context, *registry, so);
  if (!server_started.ok()) {
    return fail(kProgram, "cannot start the hub server: " + server_started.status().to_string());
  }
  std::unique_ptr<HubServer> server = std::move(*server_started);
  say("endpoints publish=" + server->publish_endpoint() + " replay=" + server->replay_endpoint() +
      " command=" + server->command_endpoint() +
      " mode=" + (so.publish_connect ? "connect" : "bind"));

  int exit_code = 0;
  bool stopping = false;
  if (children > 0) {
    Workload workload(*registry, children, acks.get());
    std::uint64_t round = 0;
    bool ended = false;  // by SIGUSR1, a stop signal or the deadline
    for (; (rounds == 0 || round < rounds) && !ended; ++round) {
      workload.plan_round(static_cast<int>(round % 1'000'000));
      while (!workload.round_done()) {
        Status s = workload.step();
        if (!s.ok()) {
          exit_code = fail(kProgram, "workload write failed: " + s.to_string());
          ended = stopping = true;
          break;
        }
        const int sig = signals.wait(pace);
        if (sig != 0 || Clock::now() >= deadline) {
          ended = true;
          stopping = Signals::stops(sig) || Clock::now() >= deadline;
          break;
        }
      }
      if (!ended) {
        say("round " + std::to_string(round) +
            " done last_seq=" + std::to_string(registry->last_sequence()));
      }
    }
    say("workload done last_seq=" + std::to_string(registry->last_sequence()) +
        " writes=" + std::to_string(workload.writes()) + " rounds=" + std::to_string(round));
  }

  while (!stopping && Clock::now() < deadline) {
    const int sig = signals.wait(left());
    if (Signals::stops(sig)) stopping = true;
  }

  // Clean shutdown: no more remote writes, then every hook handled, then the final state.
  server->stop();
  const std::uint64_t last = registry->last_sequence();
  if (hooks_out) {
    Status s = registry->wait_for_hooks(last, std::chrono::seconds(30));
    on_registered.reset();
    on_unregistered.reset();
    if (!s.ok() || hook_write_failed) {
      exit_code = fail(kProgram, "the hook stream is incomplete: " + s.to_string());
    }
    say("hooks count=" + std::to_string(hook_count.load()) + " file=" + hooks_out->path());
  }
  if (flags.has("dump")) {
    const auto tables = registry->dump_all_tables();
    write_file_atomic(flags.required("dump"), canonical_dump(tables));
    say("dump rows=" + std::to_string(count_rows(tables)) + " file=" + flags.required("dump"));
  }
  const HubServerStats stats = server->stats();
  server.reset();
  registry.reset();
  say("stopped last_seq=" + std::to_string(last) +
      " events_published=" + std::to_string(stats.events_published) +
      " hook_messages=" + std::to_string(stats.hook_messages_published) +
      " commands=" + std::to_string(stats.commands));
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(kProgram, [&](const Signals& signals) { return run(argc, argv, signals); });
}
