// crash_writer: a hub's writer under a steady write load, made to be killed with SIGKILL by
// the crash tests (tests/crash/kill_test.cc) and restarted on the same log.
//
//   crash_writer --log-dir DIR --acks FILE [flags]
//
//   --log-dir DIR        the hub's log directory (created if missing)                required
//   --acks FILE          append an intent line before and an ack line after each write
//                        (tests/crash/crash_lines.h), one write(2) each                 required
//   --seed S             the workload's seed (with --run, it fixes every write)      1
//   --run R              which start of the writer this is (pids and the seed differ) 0
//   --threads T          writer threads, each on rows and nodes of its own            2
//   --segment-bytes B    LogOptions::segment_bytes                                     8192
//   --max-writes N       writes per thread, then idle (0: no limit)                   0
//   --publish EP, --replay EP, --command EP
//                        start a HubServer bound at these endpoints (all three or none)
//   --dump FILE          after opening, write every table as canonical text
//   (harness/canonical_text.h)
//   --hold 1             after "ready", wait for SIGUSR1 before writing (at most 60 s)
//   --snapshot-every-events N
//                        SnapshotOptions::every_events: background snapshots (0: none)  0
//   --snapshot-keep K    SnapshotOptions::keep                                         2
//   --compact 1          SnapshotOptions::compact: remove the segments snapshots cover  0
//
// Every append is synced (Durability::kSyncEach) and no janitor runs, so the log holds exactly
// the writes the threads made. Snapshots are only written by the policy the flags set (never by
// size: every_bytes is 0), in the background, while the threads write. Output on stdout:
//   recovery <report>                         (if opening the log found or did anything)
//   ready last_seq=.. epoch=..                once the log is open (and the HubServer up)
//   stopped last_seq=..                       after SIGTERM
// Exit status: 0 after SIGTERM, 1 on an error (message on stderr), 2 on bad flags, 3 if --hold
// was never released.
//
// Thread t writes rows t<t>-c<0..7> of the hub's table and t<t>-s<0..3> of the table "side",
// with pairs on nodes t<t>-n<0..2>: insert, bulk_insert, erase, bulk_delete, update,
// node_down (of one of its own nodes) and Registry::write of a batch of 2 to 6 inserts, erases
// and bulk_deletes (acknowledged with the seq of its last event), drawn from (seed, run, t).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "crash/crash_lines.h"
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
using procreg::crash::AckLine;

const char* const kProgram = "crash_writer";
constexpr int kChildren = 8;
constexpr int kSideChildren = 4;
constexpr int kNodes = 3;

// One writer thread's load: its own rows and nodes, its own random stream.
class Load {
 public:
  Load(Registry& registry, const LineFile& acks, int thread, std::uint64_t seed, std::uint64_t run)
      : registry_(registry),
        acks_(acks),
        thread_(thread),
        run_(run),
        rng_(seed * 1'000'003u + run * 7'919u + static_cast<std::uint64_t>(thread)) {}

  // One write: an intent line, the call, an ack line. A failed call (other than an update
  // of a row that is not bound) ends the process: the test sees it exit instead of dying.
  void step() {
    const int pick = static_cast<int>(rng_() % 100);
    if (pick < 30) return insert();
    if (pick < 50) return bulk_insert();
    if (pick < 60) return erase();
    if (pick < 75) return bulk_delete();
    if (pick < 88) return update();
    if (pick < 95) return batch();
    return node_down();
  }

 private:
  std::string child(int i) const {
    return "t" + std::to_string(thread_) + "-c" + std::to_string(i);
  }
  std::string side(int i) const { return "t" + std::to_string(thread_) + "-s" + std::to_string(i); }
  std::string node(int k) const { return "t" + std::to_string(thread_) + "-n" + std::to_string(k); }
  std::string key(const std::string& table, const std::string& id) const {
    return (table.empty() ? std::string(crash::kHub) : table) + "/" + id;
  }
  std::string new_pid() {
    return "<" + std::to_string(run_) + "." + std::to_string(thread_) + "." +
           std::to_string(++pids_) + ">";
  }
  int any(int n) { return static_cast<int>(rng_() % static_cast<unsigned>(n)); }
  Metadata metadata(int i) {
    return {{"tag", Value(i % 2 == 0 ? "worker" : "cache")}, {"n", Value(++writes_)}};
  }

  void intend(const std::string& op,
              const std::vector<std::pair<std::string, std::string>>& keys) const {
    std::vector<std::string> names;
    for (const auto& [table, id] : keys) names.push_back(key(table, id));
    acks_.append(crash::intent_line(thread_, op, names), false);
  }

  // Reads the rows `keys` (table, id) now and appends the ack.
  void ack(const std::string& op, std::uint64_t seq,
           const std::vector<std::pair<std::string, std::string>>& keys) const {
    AckLine a{thread_, seq, op, {}};
    const auto rows = crash::rows_by_key(registry_.dump_all_tables());
    for (const auto& [table, id] : keys) {
      const auto it = rows.find(key(table, id));
      a.rows.emplace_back(key(table, id), it == rows.end() ? crash::kNoRow : it->second);
    }
    acks_.append(crash::ack_line(a), false);
  }
  static void check(const Status& s, const std::string& op) {
    if (s.ok()) return;
    fail(kProgram, op + " failed: " + s.to_string());
    std::_Exit(1);
  }

  void insert() {
    const bool on_side = any(4) == 0;
    const int i = on_side ? any(kSideChildren) : any(kChildren);
    const std::string id = on_side ? side(i) : child(i);
    InsertOptions o;
    o.table = on_side ? crash::kSideTable : "";
    o.metadata = metadata(i);
    intend("insert", {{o.table, id}});
    auto seq = registry_.insert(make_spec(id, "Elixir.Crash.Worker", "start_link", {Value(i)}),
                                {{node(any(kNodes)), new_pid()}}, o);
    check(seq.status(), "insert " + id);
    ack("insert", *seq, {{o.table, id}});
  }
  void bulk_insert() {
    std::vector<Entry> batch;
    std::vector<std::pair<std::string, std::string>> keys;
    const int count = 2 + any(3);
    const int first = any(kChildren);
    for (int k = 0; k < count; ++k) {
      const int i = (first + k) % kChildren;
      batch.push_back(Entry{make_spec(child(i), "Elixir.Crash.Worker", "start_link", {Value(i)}),
                            {{node(any(kNodes)), new_pid()}},
                            metadata(i)});
      keys.emplace_back("", child(i));
    }
    intend("bulk_insert", keys);
    auto seq = registry_.bulk_insert(std::move(batch));
    check(seq.status(), "bulk_insert");
    ack("bulk_insert", *seq, keys);
  }
  void erase() {
    const bool on_side = any(3) == 0;
    const std::string id = on_side ? side(any(kSideChildren)) : child(any(kChildren));
    WriteOptions o;
    o.table = on_side ? crash::kSideTable : "";
    intend("erase", {{o.table, id}});
    auto seq = registry_.erase(id, o);
    check(seq.status(), "erase " + id);
    ack("erase", *seq, {{o.table, id}});
  }
  void bulk_delete() {
    std::vector<std::pair<ChildId, std::vector<NodeName>>> dels;
    std::vector<std::pair<std::string, std::string>> keys;
    const int first = any(kChildren);
    for (int k = 0; k < 2; ++k) {
      const int i = (first + 3 * k) % kChildren;
      dels.push_back({child(i), {node(any(kNodes))}});
      keys.emplace_back("", child(i));
    }
    intend("bulk_delete", keys);
    auto seq = registry_.bulk_delete(std::move(dels));
    check(seq.status(), "bulk_delete");
    ack("bulk_delete", *seq, keys);
  }
  void update() {
    const int i = any(kChildren);
    const std::string id = child(i);
    const std::string pid = new_pid();
    const std::string where = node(any(kNodes));
    const std::int64_t n = ++writes_;
    intend("update", {{"", id}});
    auto seq =
        registry_.update(id, [&](const ChildSpec& spec, const NodePids& pids, const Metadata& md) {
          Entry e{spec, pids, md};
          e.metadata["updated"] = Value(n);
          if (pids.size() < 3) e.node_pids.push_back({where, pid});
          return e;
        });
    if (!seq.ok() && seq.status().code() == Code::kNotFound) return ack("update", 0, {{"", id}});
    check(seq.status(), "update " + id);
    ack("update", *seq, {{"", id}});
  }
  void batch() {
    WriteBatch b;
    std::vector<std::pair<std::string, std::string>> keys;
    const int count = 2 + any(5);
    for (int k = 0; k < count; ++k) {
      const int i = any(kChildren);
      const std::string id = child(i);
      keys.emplace_back("", id);
      switch (any(3)) {
        case 0: {
          InsertOptions o;
          o.metadata = metadata(i);
          b.insert(make_spec(id, "Elixir.Crash.Worker", "start_link", {Value(i)}),
                   {{node(any(kNodes)), new_pid()}}, o);
          break;
        }
        case 1:
          b.erase(id);
          break;
        default:
          b.bulk_delete({{id, {node(any(kNodes))}}});
      }
    }
    intend("batch", keys);
    std::uint64_t last = 0;
    for (const auto& seq : registry_.write(std::move(b))) {
      check(seq.status(), "batch");
      last = std::max(last, *seq);
    }
    ack("batch", last, keys);
  }
  void node_down() {
    const std::string down = node(any(kNodes));
    std::vector<std::pair<std::string, std::string>> keys;
    for (int i = 0; i < kChildren; ++i) keys.emplace_back("", child(i));
    intend("node_down", keys);
    auto seq = registry_.node_down(down);
    check(seq.status(), "node_down " + down);
    ack("node_down", *seq, keys);
  }

  Registry& registry_;
  const LineFile& acks_;
  const int thread_;
  const std::uint64_t run_;
  std::mt19937_64 rng_;
  std::uint64_t pids_ = 0;
  std::int64_t writes_ = 0;
};

int stopped(const Registry& registry, HubServer* server) {
  if (server != nullptr) server->stop();
  say("stopped last_seq=" + std::to_string(registry.last_sequence()));
  return 0;
}

int run(const Flags& flags, const Signals& signals) {
  RegistryOptions o;
  o.hub = crash::kHub;
  o.log_dir = flags.required("log-dir");
  o.local_node = "t0-n0";
  o.log.durability = Durability::kSyncEach;
  o.log.segment_bytes = flags.u64("segment-bytes", 8192);
  o.janitor_interval = std::chrono::milliseconds(0);
  o.snapshots.every_events = flags.u64("snapshot-every-events", 0);
  o.snapshots.every_bytes = 0;
  o.snapshots.keep = static_cast<std::size_t>(flags.u64("snapshot-keep", 2));
  o.snapshots.compact = flags.u64("compact", 0) != 0;
  const LineFile acks(flags.required("acks"));
  auto opened = Registry::open(o);
  if (!opened.ok()) return fail(kProgram, "cannot open the log: " + opened.status().to_string());
  Registry& registry = **opened;
  if (!registry.recovery_report().empty()) say("recovery " + registry.recovery_report());

  zmq::context_t context;
  std::unique_ptr<HubServer> server;
  if (flags.has("publish")) {
    HubServerOptions so;
    so.publish_endpoint = flags.required("publish");
    so.replay_endpoint = flags.required("replay");
    so.command_endpoint = flags.required("command");
    so.heartbeat_interval = std::chrono::milliseconds(50);
    auto started = HubServer::start(context, registry, so);
    if (!started.ok())
      return fail(kProgram, "cannot start the server: " + started.status().to_string());
    server = std::move(*started);
  }
  if (flags.has("dump"))
    write_file_atomic(flags.str("dump"), canonical_dump(registry.dump_all_tables()));
  say("ready last_seq=" + std::to_string(registry.last_sequence()) +
      " epoch=" + std::to_string(registry.epoch()));
  if (flags.u64("hold", 0) != 0) {
    const int sig = signals.wait(std::chrono::milliseconds(60'000));
    if (Signals::stops(sig)) return stopped(registry, server.get());
    if (sig != SIGUSR1) return fail(kProgram, "--hold was not released by SIGUSR1", 3);
  }

  const int threads = static_cast<int>(flags.u64("threads", 2));
  const std::uint64_t max_writes = flags.u64("max-writes", 0);
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Load load(registry, acks, t, flags.u64("seed", 1), flags.u64("run", 0));
      for (std::uint64_t n = 0; !stop.load() && (max_writes == 0 || n < max_writes); ++n) {
        load.step();
      }
    });
  }
  for (;;) {  // until SIGINT or SIGTERM; a kill ends the process anywhere
    if (Signals::stops(signals.wait(std::chrono::milliseconds(1'000)))) break;
  }
  stop = true;
  for (auto& w : workers) w.join();
  return stopped(registry, server.get());
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(kProgram, [&](const Signals& signals) {
    const Flags flags(
        argc, argv,
        {"log-dir", "acks", "seed", "run", "threads", "segment-bytes", "max-writes", "publish",
         "replay", "command", "dump", "hold", "snapshot-every-events", "snapshot-keep", "compact"});
    return run(flags, signals);
  });
}
