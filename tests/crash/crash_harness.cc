#include "crash_harness.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "crash/crash_lines.h"
#include "log/log.h"
#include "log/log_format.h"
#include "log/log_reader.h"
#include "log/segment_reader.h"
#include "plugin/process_util.h"
#include "procreg/registry.h"
#include "replay/log_test_util.h"
#include "replay/snapshot.h"

namespace procreg::crash {
namespace {

using procreg::testing::Endpoints;
using procreg::testing::ipc_endpoints;
using procreg::testing::Proc;
using procreg::testing::wait_until;
using std::chrono::milliseconds;

const std::string kWriter = PROCREG_CRASH_WRITER;
constexpr milliseconds kConverge{20'000};

// What a reader (no writer running) finds at the end of the log.
struct LogEnd {
  bool exists = false;          // a complete first segment header
  std::uint64_t first_seq = 1;  // of the first segment: above 1 once compacted
  std::uint64_t last_seq = 0;   // the last complete record
  std::uint64_t torn_bytes = 0;
  std::string last_segment;  // the highest-numbered segment file ("" if none)
  // Where the last segment's records end (its header's end if it holds none; 0 if unknown):
  // a zero-filled segment holds zeros after it.
  std::uint64_t records_end = 0;
};

LogEnd read_log_end(const std::string& dir) {
  LogEnd end;
  if (std::filesystem::exists(dir)) {
    auto names = replay::list_segments(dir);
    BOOST_REQUIRE_MESSAGE(names.ok(), names.status().to_string());
    if (!names->empty()) {
      end.last_segment = names->back().name;
      end.first_seq = std::max<std::uint64_t>(1, names->front().first_seq);
    }
  }
  auto reader = replay::LogReader::open(dir, end.first_seq);
  if (!reader.ok()) {
    BOOST_REQUIRE_MESSAGE(reader.status().code() == Code::kNotFound, reader.status().to_string());
    return end;
  }
  end.exists = true;
  replay::LogRecord record;
  for (;;) {  // to the end of the log, which no one appends to now
    auto more = (*reader)->next(&record);
    BOOST_REQUIRE_MESSAGE(more.ok(),
                          "after a kill the log reads as: " << more.status().to_string());
    if (!*more) break;
    end.last_seq = record.seq;
    if (record.segment == end.last_segment) {
      end.records_end = record.offset + replay::kRecordHeaderBytes + record.payload.size();
    }
  }
  if (end.records_end == 0 && !end.last_segment.empty()) {
    auto header = replay::read_segment_header(dir, end.last_segment);
    if (header.ok()) end.records_end = replay::encode_segment_header(*header).size();
  }
  end.torn_bytes = (*reader)->tail_bytes_ignored();
  return end;
}

RegistryOptions writer_options(const std::string& log_dir, std::uint64_t segment_bytes) {
  RegistryOptions o;
  o.hub = kHub;
  o.log_dir = log_dir;
  o.local_node = "t0-n0";
  o.log.durability = Durability::kSyncEach;
  o.log.segment_bytes = segment_bytes;
  o.janitor_interval = milliseconds(0);
  return o;
}

std::unique_ptr<Registry> open_replay_at(const std::string& log_dir, std::uint64_t upto,
                                         bool use_snapshots = true) {
  ReplayOptions o{log_dir, "t0-n0", upto};
  o.use_snapshots = use_snapshots;
  auto r = Registry::open_replay(o);
  BOOST_REQUIRE_MESSAGE(r.ok(), "open_replay upto "
                                    << upto << (use_snapshots ? "" : " (no snapshots)") << ": "
                                    << r.status().to_string());
  return std::move(*r);
}

// The snapshot temporary files in `dir` (writes a kill interrupted).
std::vector<std::string> snapshot_temps(const std::string& dir) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (replay::is_snapshot_temp_name(name)) out.push_back(name);
  }
  return out;
}

// A recovery report's part about the log (what Log::open found), without the part about the
// snapshot it started from ("; started from ...", "; replayed the whole log ...").
std::string log_part(const std::string& report) {
  for (const char* marker : {"; started from ", "; replayed the whole log"}) {
    const auto at = report.find(marker);
    if (at != std::string::npos) return report.substr(0, at);
  }
  return report;
}

// Parsed lines of one run's acks file; complete lines only (a kill may cut the last one).
struct RunLines {
  std::vector<AckLine> acks;
  std::map<int, std::vector<std::string>> in_flight;  // thread -> keys of its unanswered call
};

// The complete ack lines of a file the writer may still be appending to.
std::uint64_t count_acks(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t n = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (!in.eof() && line.rfind("A\t", 0) == 0) ++n;  // (a line without its '\n' is not done)
  }
  return n;
}

RunLines read_run_lines(const std::string& file) {
  RunLines out;
  if (!std::filesystem::exists(file)) return out;
  for (const std::string& line : tools::read_lines(file)) {
    const auto f = split_tabs(line);
    BOOST_REQUIRE_MESSAGE(f.size() >= 3 && (f[0] == "I" || f[0] == "A"), "bad line: " << line);
    const int thread = std::stoi(f[1]);
    if (f[0] == "I") {
      out.in_flight[thread].assign(f.begin() + 3, f.end());
      continue;
    }
    BOOST_REQUIRE_MESSAGE(f.size() >= 4 && f.size() % 2 == 0, "bad ack: " << line);
    AckLine a{thread, std::stoull(f[2]), f[3], {}};
    for (std::size_t i = 4; i + 1 < f.size(); i += 2) a.rows.emplace_back(f[i], f[i + 1]);
    out.in_flight.erase(thread);
    out.acks.push_back(std::move(a));
  }
  return out;
}

std::string row_or_none(const std::map<std::string, std::string>& rows, const std::string& key) {
  const auto it = rows.find(key);
  return it == rows.end() ? kNoRow : it->second;
}

}  // namespace

struct CrashHarness::Run {
  int index = 0;
  std::string acks_file;
  std::string dump_file;
  std::unique_ptr<Proc> proc;
};

CrashHarness::CrashHarness(const HarnessOptions& options)
    : options_(options), rng_(options.seed ^ 0x5DEECE66Dull) {}

CrashHarness::~CrashHarness() {
  if (replica_) replica_->stop();
}

std::unique_ptr<CrashHarness::Run> CrashHarness::start_writer(bool hold) {
  auto run = std::make_unique<Run>();
  run->index = runs_++;
  const std::string n = std::to_string(run->index);
  run->acks_file = dir_.file("acks-" + n);
  run->dump_file = dir_.file("dump-" + n);
  std::vector<std::string> args{"--log-dir",       log_dir(),
                                "--acks",          run->acks_file,
                                "--seed",          std::to_string(options_.seed),
                                "--run",           n,
                                "--threads",       std::to_string(options_.threads),
                                "--segment-bytes", std::to_string(options_.segment_bytes)};
  if (options_.snapshot_every_events > 0) {
    args.insert(args.end(),
                {"--snapshot-every-events", std::to_string(options_.snapshot_every_events),
                 "--snapshot-keep", std::to_string(options_.snapshot_keep), "--compact",
                 options_.compact ? "1" : "0"});
  }
  if (options_.replica) {
    const Endpoints ep = ipc_endpoints(dir_);
    args.insert(args.end(), {"--publish", ep.publish, "--replay", ep.replay, "--command",
                             ep.command, "--dump", run->dump_file});
    if (hold) args.insert(args.end(), {"--hold", "1"});
  }
  run->proc = std::make_unique<Proc>("writer-" + n, kWriter, args, dir_);
  return run;
}

// With a replica: waits until it holds the restarted writer's state (the writer is held
// before its first write), compares, and lets the writer go.
void CrashHarness::release_and_converge(Run& run) {
  Proc& p = *run.proc;
  const std::uint64_t ready_seq = p.last_field("ready ", "last_seq");
  if (!replica_) {
    const Endpoints ep = ipc_endpoints(dir_);
    ReplicaOptions o;
    o.hub = kHub;
    o.local_node = "t0-n0";
    o.bus_endpoint = ep.publish;
    o.replay_endpoint = ep.replay;
    o.command_endpoint = ep.command;
    o.request_timeout = milliseconds(500);
    o.idle_check = milliseconds(500);
    auto started = Replica::start(context_, o);
    BOOST_REQUIRE_MESSAGE(started.ok(), started.status().to_string());
    replica_ = std::move(*started);
  }
  const auto epoch = p.last_field("ready ", "epoch");
  wait_until(
      "the replica to reach seq " + std::to_string(ready_seq) + " of epoch " +
          std::to_string(epoch),
      [&] { return replica_->epoch() == epoch && replica_->last_applied() >= ready_seq; }, {&p},
      kConverge);
  BOOST_REQUIRE_MESSAGE(replica_->last_applied() == ready_seq,
                        "the replica applied " << replica_->last_applied()
                                               << " events, the restarted writer holds "
                                               << ready_seq);
  BOOST_REQUIRE(harness::canonical_dump(replica_->registry().dump_all_tables()) ==
                tools::read_file(run.dump_file));
  ++totals_.replica_checks;
  // The replica reached the writer's state through the replay service; its SUB socket may not
  // have reconnected to the new writer's PUB yet, and what is published before it does never
  // reaches it (PUB/SUB). A writer released now and stopped at once would leave it nothing to
  // repair from: wait until it hears this writer's heartbeats (the old writer is dead) first.
  const std::uint64_t heard = replica_->stats().heartbeats;
  wait_until(
      "the replica to hear the restarted writer on the bus",
      [&] { return replica_->stats().heartbeats >= heard + 2; }, {&p}, kConverge);
  p.process().signal(SIGUSR1);
}

void CrashHarness::kill_once(milliseconds delay, bool before_ready, bool tear,
                             std::uint64_t after_acks) {
  auto run = start_writer(/*hold=*/true);
  Proc& p = *run->proc;
  if (!before_ready) {
    wait_until("the writer to be ready", [&] { return !p.last_line("ready ").empty(); }, {&p});
    if (options_.replica) release_and_converge(*run);
    if (after_acks > 0) {
      wait_until(std::to_string(after_acks) + " acknowledged writes",
                 [&] { return count_acks(run->acks_file) >= after_acks; }, {&p});
    }
  }
  std::this_thread::sleep_for(delay);
  BOOST_REQUIRE_MESSAGE(procreg::testing::kill_hard(p),
                        "the writer ended before the kill: "
                            << tools::ChildProcess::describe(p.process().exit_status())
                            << p.diagnostics());
  ++totals_.kills;
  if (p.last_line("ready ").empty()) ++totals_.kills_before_ready;

  LogEnd end = read_log_end(log_dir());
  if (end.torn_bytes > 0) ++totals_.torn_tails;
  if (tear && end.exists && end.torn_bytes == 0 && end.records_end > 0) {
    tear_tail(end.last_segment, end.records_end);
    end = read_log_end(log_dir());
    if (end.torn_bytes > 0) ++totals_.torn_tails, ++totals_.simulated_tails;
  }
  if (replica_) {
    BOOST_REQUIRE_MESSAGE(replica_->last_applied() <= end.last_seq,
                          "the replica applied " << replica_->last_applied()
                                                 << " events; the log holds " << end.last_seq);
  }
  check_log(*run, end.torn_bytes, end.last_segment);
}

// Writes after the last segment's records (at `records_end`, over its zero fill if it has one)
// what a write cut short leaves: the first bytes of the next record, or zeros (space allocated,
// never written; over zero fill, no change).
void CrashHarness::tear_tail(const std::string& segment, std::uint64_t records_end) {
  const std::string path = log_dir() + "/" + segment;
  std::string bytes;
  if (rng_() % 3 == 0) {
    bytes.assign(1 + rng_() % 700, '\0');
  } else {
    const std::string record =
        replay::testing::record_bytes(1'000'000, replay::testing::payload_for(rng_() % 500));
    bytes = record.substr(0, 1 + rng_() % (record.size() - 1));
  }
  std::string file = replay::testing::read_bytes(path);
  if (file.size() < records_end + bytes.size()) file.resize(records_end + bytes.size());
  file.replace(records_end, bytes.size(), bytes);
  replay::testing::write_bytes(path, file);
}

// The log after a kill, with `torn_bytes` of torn tail at the end of `torn_segment`.
void CrashHarness::check_log(const Run& run, std::uint64_t torn_bytes,
                             const std::string& torn_segment) {
  const LogEnd end = read_log_end(log_dir());
  const std::string torn_path = log_dir() + "/" + torn_segment;
  const std::uint64_t torn_file_size = torn_bytes > 0 ? std::filesystem::file_size(torn_path) : 0;
  const bool compacted = end.first_seq > 1;
  std::map<std::string, std::string> replayed;
  if (end.exists) {
    auto r = open_replay_at(log_dir(), 0);
    BOOST_REQUIRE_EQUAL(r->last_sequence(), end.last_seq);
    replayed = rows_by_key(r->dump_all_tables());
    if (options_.snapshot_every_events > 0 && !compacted) {
      // From the first record, ignoring every snapshot: the same state.
      auto full = open_replay_at(log_dir(), 0, /*use_snapshots=*/false);
      BOOST_REQUIRE_EQUAL(full->last_sequence(), end.last_seq);
      BOOST_REQUIRE_MESSAGE(
          rows_by_key(full->dump_all_tables()) == replayed,
          "the state from snapshots (" << r->recovery_report() << ") differs from a full replay");
      ++totals_.full_replay_checks;
    }
  }
  if (compacted) ++totals_.compacted_checks;
  totals_.snapshot_temps += snapshot_temps(log_dir()).size();
  {  // The writer's recovery: cuts the torn tail, says so, and holds the same state.
    auto opened = Registry::open(writer_options(log_dir(), options_.segment_bytes));
    BOOST_REQUIRE_MESSAGE(opened.ok(),
                          "the log does not open after a kill: " << opened.status().to_string());
    const Registry& w = **opened;
    const std::string full_report = w.recovery_report();
    const std::string report = log_part(full_report);
    const auto temps = snapshot_temps(log_dir());
    // (The message's operands are evaluated even when the check holds.)
    BOOST_REQUIRE_MESSAGE(temps.empty(), "after Registry::open, "
                                             << temps.size() << " snapshot .tmp file(s) are left");
    BOOST_REQUIRE_MESSAGE(full_report.find("skipped") == std::string::npos,
                          "a snapshot was skipped after a kill: " << full_report);
    if (full_report.find("; started from ") != std::string::npos) ++totals_.snapshot_opens;
    BOOST_REQUIRE_EQUAL(w.last_sequence(), end.last_seq);
    BOOST_REQUIRE(rows_by_key(w.dump_all_tables()) == replayed);
    if (torn_bytes > 0) {
      const std::string dropped = "(" + std::to_string(torn_bytes) + " bytes dropped)";
      BOOST_REQUIRE_MESSAGE(report.find(torn_segment) != std::string::npos &&
                                report.find(dropped) != std::string::npos,
                            "report '" << report << "' lacks " << torn_segment << " " << dropped);
      if (report.find("removed segment") != std::string::npos) {
        BOOST_REQUIRE(!std::filesystem::exists(torn_path));
      } else {
        const std::string at = "at offset " + std::to_string(torn_file_size - torn_bytes) + " ";
        BOOST_REQUIRE_MESSAGE(report.find(at) != std::string::npos, report << " lacks " << at);
        // Cut there; a writer that starts a segment of its own in its place zero-fills it.
        const std::string after = replay::testing::read_bytes(torn_path);
        BOOST_REQUIRE_GE(after.size(), torn_file_size - torn_bytes);
        BOOST_REQUIRE(
            std::all_of(after.begin() + static_cast<std::ptrdiff_t>(torn_file_size - torn_bytes),
                        after.end(), [](char c) { return c == 0; }));
      }
    } else if (end.exists) {
      // Clean, or killed while rolling to a new segment: its file exists, its header is torn.
      const std::string plain = "opened the log; last seq " + std::to_string(end.last_seq);
      const std::string torn_header =
          plain + "; removed segment " + torn_segment + " (its header is torn";
      const bool rolled = report.rfind(torn_header, 0) == 0;
      // The zero fill a writer leaves when it stops without closing (LOG_FORMAT.md 7.3).
      const bool zero_fill = report.rfind(plain + "; cut ", 0) == 0 &&
                             report.ends_with(" bytes of zero fill off " + end.last_segment);
      BOOST_REQUIRE_MESSAGE(report == plain || rolled || zero_fill, report);
      if (rolled) BOOST_REQUIRE(!std::filesystem::exists(torn_path));
    }
  }
  {  // Opened again: nothing left to cut, the same state.
    auto again = Registry::open(writer_options(log_dir(), options_.segment_bytes));
    BOOST_REQUIRE_MESSAGE(again.ok(), again.status().to_string());
    BOOST_REQUIRE_EQUAL(log_part((*again)->recovery_report()),
                        "opened the log; last seq " + std::to_string(end.last_seq));
    BOOST_REQUIRE(rows_by_key((*again)->dump_all_tables()) == replayed);
  }
  check_acks(run, end.last_seq, replayed, end.first_seq);
  totals_.last_seq = end.last_seq;
}

// Every acknowledged write of this run is in the log (rows = the state at last_seq).
void CrashHarness::check_acks(const Run& run, std::uint64_t last_seq,
                              const std::map<std::string, std::string>& rows,
                              std::uint64_t first_seq) {
  const RunLines lines = read_run_lines(run.acks_file);
  std::map<int, const AckLine*> last_of_thread;
  std::map<int, std::uint64_t> seq_of_thread;
  for (const AckLine& a : lines.acks) {
    BOOST_REQUIRE_MESSAGE(a.seq <= last_seq, "acknowledged seq " << a.seq << " (" << a.op
                                                                 << ") is not in the log, which "
                                                                    "ends at "
                                                                 << last_seq);
    BOOST_REQUIRE_MESSAGE(a.seq == 0 || a.seq >= seq_of_thread[a.thread],
                          "thread " << a.thread << " acknowledged seq " << a.seq << " after "
                                    << seq_of_thread[a.thread]);
    if (a.seq > 0) {
      seq_of_thread[a.thread] = a.seq;
      last_of_thread[a.thread] = &a;
    }
    for (const auto& [key, row] : a.rows) expected_[key] = row;
  }
  totals_.acks += lines.acks.size();
  // The rows each thread's last acknowledged event reported are the state at its seq.
  // (On a compacted log, a seq before the oldest kept snapshot cannot be rebuilt any more:
  // kCompacted, and the model below still checks those rows.)
  for (const auto& [thread, a] : last_of_thread) {
    if (first_seq > 1) {
      ReplayOptions ro{log_dir(), "t0-n0", a->seq};
      auto probe = Registry::open_replay(ro);
      if (!probe.ok() && probe.status().code() == Code::kCompacted) {
        ++totals_.compacted_acks;
        continue;
      }
    }
    auto at = open_replay_at(log_dir(), a->seq);
    BOOST_REQUIRE_EQUAL(at->last_sequence(), a->seq);
    const auto then = rows_by_key(at->dump_all_tables());
    for (const auto& [key, row] : a->rows) {
      BOOST_REQUIRE_MESSAGE(row_or_none(then, key) == row,
                            "at seq " << a->seq << " (" << a->op << ") " << key << " is "
                                      << row_or_none(then, key) << ", acknowledged " << row);
    }
  }
  // The model: rows a kill interrupted a call on may hold either outcome; carry on with the
  // recovered one. Every other row is exactly as last acknowledged (or as recovered before).
  std::set<std::string> uncertain;
  for (const auto& [thread, keys] : lines.in_flight) uncertain.insert(keys.begin(), keys.end());
  totals_.in_flight += lines.in_flight.size();
  std::set<std::string> keys;
  for (const auto& [key, row] : expected_) keys.insert(key);
  for (const auto& [key, row] : rows) keys.insert(key);
  for (const std::string& key : keys) {
    if (uncertain.count(key) != 0) continue;
    BOOST_REQUIRE_MESSAGE(row_or_none(rows, key) == row_or_none(expected_, key),
                          "after the kill " << key << " is " << row_or_none(rows, key)
                                            << ", expected " << row_or_none(expected_, key));
  }
  expected_ = rows;
}

void CrashHarness::restart_and_stop() {
  auto run = start_writer(/*hold=*/true);
  Proc& p = *run->proc;
  wait_until("the writer to be ready", [&] { return !p.last_line("ready ").empty(); }, {&p});
  BOOST_REQUIRE_EQUAL(p.last_field("ready ", "last_seq"), totals_.last_seq);
  if (options_.replica) release_and_converge(*run);
  procreg::testing::stop_cleanly(p);
  const std::uint64_t last = p.last_field("stopped ", "last_seq");
  BOOST_REQUIRE_MESSAGE(read_run_lines(run->acks_file).in_flight.empty(),
                        "a call of a writer stopped cleanly was never answered");
  const auto final_state = open_replay_at(log_dir(), 0);
  BOOST_REQUIRE_EQUAL(final_state->last_sequence(), last);
  check_acks(*run, last, rows_by_key(final_state->dump_all_tables()),
             read_log_end(log_dir()).first_seq);
  if (replica_) {  // it followed the load live, up to the writer's last event
    BOOST_REQUIRE_MESSAGE(replica_->wait_for(last, kConverge).ok(),
                          "the replica applied " << replica_->last_applied() << " of " << last);
    BOOST_REQUIRE(harness::canonical_dump(replica_->registry().dump_all_tables()) ==
                  harness::canonical_dump(final_state->dump_all_tables()));
  }
}

}  // namespace procreg::crash
