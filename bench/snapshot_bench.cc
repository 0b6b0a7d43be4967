// procreg's snapshot and compaction benchmarks (issue 4), each next to a baseline measured in the
// same run:
//   open:     Registry::open from the newest snapshot + the log after it, vs the same open
//             replaying the whole log (snapshots.load = false); open_replay as of a seq inside
//             the tail, with and without snapshots; a snapshot load's parts (read + CRC, decode,
//             insert); reading + CRC-checking the whole log without decoding it (what the
//             writer's recovery scan costs at least)
//   write:    Registry::snapshot() from the previous snapshot + a tail and from the full log;
//             its parts (rebuilding the state from files, encoding, writing + fsync, freeing
//             the state); the file's size; vs write(2) + fsync of the same number of bytes and
//             a plain msgpack-cxx encode of the same rows
//   compact:  Registry::compact() on a log of small segments (segments/s, MiB/s), vs unlink +
//             fsync of the directory for as many files of the same sizes; the writer's open
//             before and after compaction; the longest insert of a writer while compact() runs
//   writers:  insert throughput and latency of one thread during one background snapshot, vs
//             as long with nothing else running and as long next to a thread that only spins
//
//   snapshot_bench [--entries N] [--tail T] [--history H] [--batch B] [--segment-mib M]
//                  [--repeats R] [--seconds S] [--rounds W] [--only open|write|compact|writers]
//
// The log: N rows written with bulk_insert (B rows per event), a snapshot, T single inserts.
// The open section is run on it and again after H more single inserts (re-registrations of
// existing children: a log with history), a snapshot and T more. Times are medians of
// --repeats runs (one fewer for secondary figures; each run is printed). The page cache is warm
// throughout (the files were just written), so open times are CPU-bound, not disk-bound.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <msgpack.hpp>

#include "bench/bench_util.h"
#include "events/codec.h"
#include "events/snapshot_row.h"
#include "log/log.h"
#include "log/log_format.h"
#include "log/log_reader.h"
#include "procreg/registry.h"
#include "replay/restore.h"
#include "replay/snapshot.h"
#include "state/projection.h"
#include "state/table.h"

namespace procreg::bench {
namespace {

namespace fs = std::filesystem;

struct Config {
  std::size_t entries = 1'000'000;
  std::size_t tail = 10'000;        // events after the snapshot the open starts from
  std::size_t history = 1'000'000;  // re-registrations added for the second open measurement
  std::size_t batch = 100;          // rows per bulk_insert while building the log
  std::uint64_t segment_mib = 4;    // LogOptions::segment_bytes, in MiB
  int repeats = 3;
  double seconds = 4.0;  // most length of the writer windows without a snapshot
  int rounds = 1;        // of the three writer windows
  std::string only;      // open, write, compact or writers (the log is always built)
  // Runs of the secondary measurements (breakdowns, as-of replays, compaction, the log with
  // history): one fewer, to keep a run within about three minutes.
  int fewer() const { return std::max(1, repeats - 1); }
};

// ---- the workload (registry_bench's rows) ------------------------------------------------

std::string child_id(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "game_session_%08zu", i);
  return buf;
}

// Row i; `gen` > 0 is a later registration of the same child (another node, another pid).
Entry make_entry(std::size_t i, std::size_t gen = 0) {
  return Entry{make_spec(child_id(i), "Elixir.MyApp.GameSession", "start_link",
                         {Value(static_cast<std::uint64_t>(i)), Value("eu-west")}),
               {{"node" + std::to_string((i + gen) % 7) + "@host",
                 "<0." + std::to_string(i) + "." + std::to_string(gen) + ">"}},
               {{"tag", Value("region-" + std::to_string(i % 100))}}};
}

// Re-registers an existing child (the registry keeps its size): the tail and the writer load.
Result<std::uint64_t> churn_insert(Registry& reg, std::size_t n, std::size_t k, std::size_t gen) {
  Entry e = make_entry((k * 7919) % n, gen);
  InsertOptions o;
  o.metadata = std::move(e.metadata);
  return reg.insert(std::move(e.spec), std::move(e.node_pids), o);
}

RegistryOptions options_for(const std::string& dir, const Config& cfg, bool load = true) {
  RegistryOptions o;
  o.hub = "bench";
  o.log_dir = dir;
  o.local_node = "node0@host";
  o.log.durability = Durability::kNone;
  o.log.segment_bytes = cfg.segment_mib << 20;
  o.janitor_interval = std::chrono::milliseconds(0);
  o.snapshots.every_events = 0;  // snapshots only when the benchmark asks
  o.snapshots.every_bytes = 0;
  o.snapshots.keep = 2;
  o.snapshots.load = load;
  return o;
}

// Failures throw, so that the temporary directory is still removed on the way out.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r.ok()) throw Failure(std::string(what) + ": " + r.status().message());
  return std::move(*r);
}

void must(const Status& s, const char* what) {
  if (!s.ok()) throw Failure(std::string(what) + ": " + s.message());
}

void check(bool ok, const char* what) {
  if (!ok) throw Failure(std::string("check failed: ") + what);
}

// ---- timing, files, memory ---------------------------------------------------------------

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The durations of `repeats` runs of `body`, which returns the seconds it measured (so that
// untimed setup can live in the same function).
struct Runs {
  std::vector<double> s;
  double median() const {
    std::vector<double> v = s;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
  }
  double median_ms() const { return median() * 1e3; }
  std::string list_ms() const {
    std::string out;
    for (double x : s) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.0f", out.empty() ? "" : " / ", x * 1e3);
      out += buf;
    }
    return out + " ms";
  }
};

Runs runs(int repeats, const std::function<double()>& body) {
  Runs r;
  for (int i = 0; i < repeats; ++i) r.s.push_back(body());
  return r;
}

double timed(const std::function<void()>& body) {
  const auto t0 = Clock::now();
  body();
  return seconds_since(t0);
}

void detail(const char* what, const Runs& r) {
  std::printf("    %-58s %s\n", what, r.list_ms().c_str());
}

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

struct SegmentFile {
  std::string name;
  std::uint64_t bytes;
};

std::vector<SegmentFile> segments_of(const std::string& dir) {
  std::vector<SegmentFile> out;
  for (const auto& s : must(replay::list_segments(dir), "list_segments")) {
    out.push_back({s.name, file_size(dir + "/" + s.name)});
  }
  return out;
}

std::uint64_t total_bytes(const std::vector<SegmentFile>& files) {
  std::uint64_t sum = 0;
  for (const auto& f : files) sum += f.bytes;
  return sum;
}

void fsync_path(const std::string& path, int flags = O_RDONLY) {
  const int fd = ::open(path.c_str(), flags);
  check(fd >= 0 && ::fsync(fd) == 0, "fsync");
  ::close(fd);
}

void remove_snapshot_files(const std::string& dir) {
  for (const auto& f : must(replay::list_snapshots(dir), "list_snapshots")) {
    fs::remove(dir + "/" + f.name);
  }
}

// Resident set now, and the process's peak so far.
double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return mib(static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
}
double peak_rss_mib() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}
void print_memory(const char* after) {
  std::printf("  [memory after %s: RSS %.0f MiB, peak RSS so far %.0f MiB]\n", after, rss_mib(),
              peak_rss_mib());
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// The machine's CPU time from /proc/stat, in ticks: all of it, idle (+ iowait), stolen by the
// hypervisor. Over a window: how busy the machine was (other jobs included) and the steal.
struct MachineCpu {
  double total = 0, idle = 0, steal = 0;
  static MachineCpu now() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    double v[8] = {};
    f >> cpu;
    for (double& x : v) f >> x;
    MachineCpu m;
    for (double x : v) m.total += x;
    m.idle = v[3] + v[4];
    m.steal = v[7];
    return m;
  }
};

double seconds_of(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}
double process_cpu_seconds() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return seconds_of(ru.ru_utime) + seconds_of(ru.ru_stime);
}
// The calling thread's CPU time (user, system), page faults and context switches: voluntary
// ones mean it blocked (a lock, I/O), involuntary ones that it was preempted.
struct ThreadUsage {
  double user = 0, sys = 0;
  long minflt = 0, majflt = 0, nvcsw = 0, nivcsw = 0;
  static ThreadUsage now() {
    struct rusage ru {};
    ::getrusage(RUSAGE_THREAD, &ru);
    return {seconds_of(ru.ru_utime),
            seconds_of(ru.ru_stime),
            ru.ru_minflt,
            ru.ru_majflt,
            ru.ru_nvcsw,
            ru.ru_nivcsw};
  }
  ThreadUsage operator-(const ThreadUsage& o) const {
    return {user - o.user,     sys - o.sys,     minflt - o.minflt,
            majflt - o.majflt, nvcsw - o.nvcsw, nivcsw - o.nivcsw};
  }
};

// ---- the log everything starts from ---------------------------------------------------------

struct Built {
  std::string dir;
  std::uint64_t snapshot_seq = 0;  // the snapshot the open section starts from
  std::uint64_t last_seq = 0;
  std::uint64_t log_bytes = 0;
  std::size_t segments = 0;
  std::size_t gen = 1;  // the next churn generation
};

Built build_log(const std::string& dir, const Config& cfg) {
  Built b;
  b.dir = dir;
  auto reg = must(Registry::open(options_for(dir, cfg)), "open");
  const double build_s = timed([&] {
    for (std::size_t i = 0; i < cfg.entries; i += cfg.batch) {
      std::vector<Entry> batch;
      for (std::size_t k = i; k < std::min(cfg.entries, i + cfg.batch); ++k) {
        batch.push_back(make_entry(k));
      }
      must(reg->bulk_insert(std::move(batch)), "bulk_insert");
    }
  });
  SnapshotInfo first;
  const double snap_s = timed([&] { first = must(reg->snapshot(), "snapshot"); });
  b.snapshot_seq = first.seq;
  for (std::size_t k = 0; k < cfg.tail; ++k)
    must(churn_insert(*reg, cfg.entries, k, b.gen), "insert");
  ++b.gen;
  b.last_seq = reg->last_sequence();
  reg.reset();
  const auto segs = segments_of(dir);
  b.log_bytes = total_bytes(segs);
  b.segments = segs.size();
  std::printf(
      "  built: %zu rows in %zu bulk_insert events in %.1f s (%.0f rows/s), a snapshot "
      "at seq %" PRIu64 " (%.2f s, %.1f MiB), then %zu single inserts: last seq %" PRIu64
      ", log %.1f MiB in %zu segments\n",
      cfg.entries, (cfg.entries + cfg.batch - 1) / cfg.batch, build_s,
      static_cast<double>(cfg.entries) / build_s, first.seq, snap_s,
      mib(static_cast<double>(first.bytes)), cfg.tail, b.last_seq,
      mib(static_cast<double>(b.log_bytes)), b.segments);
  print_memory("building");
  return b;
}

// ---- 1. open time -------------------------------------------------------------------------

// `label` names the log's shape in the report; `detailed` adds open_replay as of a seq and the
// breakdown of a snapshot load.
void bench_open(Report& report, const Built& b, const Config& cfg, const std::string& label,
                bool detailed) {
  std::printf("\n== open (%s): %zu rows, snapshot at seq %" PRIu64 ", %" PRIu64
              " events after it, log %.1f MiB ==\n",
              label.c_str(), cfg.entries, b.snapshot_seq, b.last_seq - b.snapshot_seq,
              mib(static_cast<double>(total_bytes(segments_of(b.dir)))));
  std::string report_line;
  std::vector<double> close_s;  // closing the writer: mostly freeing its rows
  auto open_writer = [&](bool load) {
    return runs(detailed ? cfg.repeats : cfg.fewer(), [&] {
      std::unique_ptr<Registry> reg;
      const double s =
          timed([&] { reg = must(Registry::open(options_for(b.dir, cfg, load)), "open"); });
      check(reg->last_sequence() == b.last_seq, "the registry opened at the log's last seq");
      if (load) report_line = reg->recovery_report();
      close_s.push_back(timed([&] { reg.reset(); }));
      return s;
    });
  };
  const Runs with_snapshot = open_writer(true);
  std::printf("    recovery_report(): %s\n", report_line.c_str());
  const Runs full = open_writer(false);
  detail("open writer, snapshot + tail (load=true)", with_snapshot);
  detail("open writer, full replay (load=false)", full);
  const Runs close_runs{close_s};
  detail("closing the writer (the destructor: mostly freeing the rows)", close_runs);
  // The least the writer's recovery scan (every record of every segment read and CRC-checked
  // before a snapshot is looked at) can cost: reading the log without decoding it.
  const Runs scan = runs(cfg.repeats, [&] {
    return timed([&] {
      auto reader = must(replay::LogReader::open(b.dir), "LogReader");
      replay::LogRecord record;
      std::uint64_t n = 0;
      while (must(reader->next(&record), "next")) ++n;
      check(n == b.last_seq, "the log reader read every record");
    });
  });
  detail("LogReader over the whole log (read + CRC, no decode)", scan);
  report.add({"open writer, " + label + ": snapshot + tail (ms)", with_snapshot.median_ms(), "ms",
              "open writer: full replay (load=false)", full.median_ms(), 0, true});
  report.add({"  read + CRC of the whole log, no decode (ms)", scan.median_ms(), "ms",
              "open writer: snapshot + tail", with_snapshot.median_ms(), 0, true});
  report.add({"  closing the writer (ms)", close_runs.median_ms(), "ms",
              "open writer: snapshot + tail", with_snapshot.median_ms(), 0, true});
  if (!detailed) {
    print_memory("the open section");
    return;
  }

  auto replay_to = [&](std::uint64_t upto, bool use_snapshots) {
    return runs(cfg.fewer(), [&] {
      std::unique_ptr<Registry> reg;
      ReplayOptions o;
      o.log_dir = b.dir;
      o.local_node = "node0@host";
      o.upto_seq = upto;
      o.use_snapshots = use_snapshots;
      const double s = timed([&] { reg = must(Registry::open_replay(o), "open_replay"); });
      check(reg->last_sequence() == upto, "the replay stopped at the seq asked for");
      return s;
    });
  };
  const std::uint64_t mid = b.snapshot_seq + (b.last_seq - b.snapshot_seq) / 2;
  const Runs asof_snap = replay_to(mid, true);
  const Runs asof_full = replay_to(mid, false);
  detail("open_replay as of the tail's middle, snapshot + half tail", asof_snap);
  detail("open_replay as of the tail's middle, use_snapshots=false", asof_full);
  report.add({"open_replay as of seq " + std::to_string(mid) + " (ms)", asof_snap.median_ms(), "ms",
              "the same, use_snapshots=false", asof_full.median_ms(), 0, true});

  // Where a snapshot load goes: reading the file (CRC of each record, payload copied out),
  // then also decoding each row, then the whole load_snapshot (decode + insert into the tables).
  const std::string path = b.dir + "/" + replay::snapshot_file_name(b.snapshot_seq);
  const events::DecodeLimits limits =
      events::record_limits(LogOptions{}.max_record_bytes + (64u << 10));
  auto read_rows = [&](bool decode) {
    return runs(cfg.fewer(), [&] {
      return timed([&] {
        auto reader = must(replay::SnapshotReader::open(path), "SnapshotReader");
        std::string payload;
        std::uint64_t n = 0;
        while (must(reader->next(&payload), "next")) {
          check(!decode || events::decode_snapshot_row(payload, limits).ok(),
                "a snapshot row decodes");
          ++n;
        }
        check(n == cfg.entries, "the snapshot holds every row");
      });
    });
  };
  const Runs read_only = read_rows(false);
  const Runs read_decode = read_rows(true);
  const Runs load = runs(cfg.fewer(), [&] {
    auto state = std::make_unique<replay::Projection>("bench", "node0@host");
    const double s =
        timed([&] { must(replay::load_snapshot(path, state.get()), "load_snapshot"); });
    check(state->last_seq() == b.snapshot_seq, "the snapshot loaded at its seq");
    return s;
  });
  detail("snapshot file: read + CRC of every record", read_only);
  detail("snapshot file: read + CRC + decode_snapshot_row", read_decode);
  detail("load_snapshot (read, decode, insert into the tables)", load);
  report.add({"  load_snapshot of " + std::to_string(cfg.entries) + " rows (ms)", load.median_ms(),
              "ms", "open writer: full replay (load=false)", full.median_ms(), 0, true});
  report.add({"    of which read + CRC + decode (ms)", read_decode.median_ms(), "ms",
              "load_snapshot", load.median_ms(), 0, true});
  report.add({"    of which read + CRC (ms)", read_only.median_ms(), "ms", "load_snapshot",
              load.median_ms(), 0, true});
  print_memory("the open section");
}

// History on top of the log: `history` single inserts re-registering existing children (each
// child once per `entries` of them, as a long-running registry sees restarts and moves), then a
// snapshot at the end, then the tail.
void add_history(Built& b, const Config& cfg) {
  auto reg = must(Registry::open(options_for(b.dir, cfg)), "open");
  const double s = timed([&] {
    for (std::size_t k = 0; k < cfg.history; ++k) {
      must(churn_insert(*reg, cfg.entries, k, b.gen + k / cfg.entries), "insert");
    }
  });
  b.gen += cfg.history / cfg.entries + 1;
  b.snapshot_seq = must(reg->snapshot(), "snapshot").seq;
  for (std::size_t k = 0; k < cfg.tail; ++k)
    must(churn_insert(*reg, cfg.entries, k, b.gen), "insert");
  ++b.gen;
  b.last_seq = reg->last_sequence();
  std::printf(
      "\n  history: %zu single inserts re-registering existing children in %.1f s, a "
      "snapshot at seq %" PRIu64 ", then %zu more: last seq %" PRIu64 "\n",
      cfg.history, s, b.snapshot_seq, cfg.tail, b.last_seq);
}

// ---- 2. snapshot write time and size ------------------------------------------------------

// A snapshot row's content as a plain msgpack-cxx struct (the naive encoding).
struct NaiveRow {
  std::uint32_t v = 1;
  std::string tbl;
  std::string id;
  std::string module;
  std::string function;
  std::uint64_t arg0 = 0;
  std::string arg1;
  std::vector<std::pair<std::string, std::string>> node_pids;
  std::map<std::string, std::string> metadata;
  std::uint64_t rev = 0;
  MSGPACK_DEFINE_MAP(v, tbl, id, module, function, arg0, arg1, node_pids, metadata, rev)
};

NaiveRow naive_of(const Entry& e, std::uint64_t rev) {
  NaiveRow n{1,
             "bench",
             e.spec.id,
             e.spec.start.module,
             e.spec.start.function,
             e.spec.start.args[0].as_uint(),
             e.spec.start.args[1].as_string(),
             {},
             {},
             rev};
  for (const auto& np : e.node_pids) n.node_pids.emplace_back(np.node, np.pid);
  for (const auto& [k, v] : e.metadata) n.metadata[k] = v.as_string();
  return n;
}

// write(2) of `bytes` in 1 MiB chunks to a new file, then fsync: the I/O a snapshot does.
double raw_write_fsync(const std::string& path, std::uint64_t bytes) {
  std::string chunk(1u << 20, 'x');
  const double s = timed([&] {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0, "open");
    for (std::uint64_t left = bytes; left > 0;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
      check(::write(fd, chunk.data(), n) == static_cast<ssize_t>(n), "write");
      left -= n;
    }
    check(::fsync(fd) == 0, "fsync");
    ::close(fd);
  });
  ::unlink(path.c_str());
  return s;
}

void bench_write(Report& report, Built& b, const std::string& scratch, const Config& cfg) {
  std::printf("\n== snapshot write: %zu rows ==\n", cfg.entries);
  auto reg = must(Registry::open(options_for(b.dir, cfg)), "open");

  // From the previous snapshot + cfg.tail events: what the background snapshotter does each time.
  SnapshotInfo info;
  const Runs incremental = runs(cfg.repeats, [&] {
    for (std::size_t k = 0; k < cfg.tail; ++k)
      must(churn_insert(*reg, cfg.entries, k, b.gen), "insert");
    ++b.gen;
    return timed([&] { info = must(reg->snapshot(), "snapshot"); });
  });
  check(info.rows == cfg.entries, "the snapshot holds every row");
  // From the full log (no snapshot file left): the first snapshot of a log.
  const Runs from_log = runs(cfg.fewer(), [&] {
    remove_snapshot_files(b.dir);
    return timed([&] { must(reg->snapshot(), "snapshot"); });
  });
  detail("snapshot(), previous snapshot + tail", incremental);
  detail("snapshot(), from the full log", from_log);

  // The two halves, with the library's internal functions: rebuilding the state from files
  // (replay::restore: load the previous snapshot, replay the tail), then write_snapshot (encode,
  // CRC, write(2) in 1 MiB pieces, fsync, rename, fsync of the directory).
  // Encoding alone: every row of the projection, in the order write_snapshot visits them,
  // encoded into a reused buffer (no CRC, no copy into the write buffer, no I/O). Freeing the
  // projection: snapshot() does it before it returns.
  std::vector<double> restore_s, write_s, encode_s, free_s;
  for (int r = 0; r < cfg.fewer(); ++r) {
    for (std::size_t k = 0; k < cfg.tail; ++k)
      must(churn_insert(*reg, cfg.entries, k, b.gen), "insert");
    ++b.gen;
    auto state = std::make_unique<replay::Projection>("bench", "node0@host");
    replay::RestoreOptions ro;
    restore_s.push_back(timed([&] { must(replay::restore(b.dir, state.get(), ro), "restore"); }));
    check(state->last_seq() == reg->last_sequence(), "restored to the writer's seq");
    std::uint64_t encoded = 0;
    encode_s.push_back(timed([&] {
      std::string row;
      state->for_each_table([&](const std::string& table, const replay::Table& t) {
        t.for_each([&](const replay::StoredRow& stored) {
          row.clear();
          events::encode_snapshot_row(table, stored.encoded(), stored.expires_at_ms(), stored.seq,
                                      &row);
          encoded += row.size();
        });
      });
    }));
    check(encoded > 0, "rows encoded");
    write_s.push_back(
        timed([&] { must(replay::write_snapshot(scratch, *state, 0), "write_snapshot"); }));
    free_s.push_back(timed([&] { state.reset(); }));
    remove_snapshot_files(scratch);
  }
  const Runs restore_runs{restore_s}, write_runs{write_s}, encode_runs{encode_s}, free_runs{free_s};
  detail("  of which: restore (snapshot + tail -> projection)", restore_runs);
  detail("  of which: write_snapshot (encode, CRC, write, fsync)", write_runs);
  detail("  of which: freeing the projection", free_runs);
  detail("  encode_snapshot_row of every row alone (no CRC, no I/O)", encode_runs);

  // Baselines: the same number of bytes written and fsynced; the same rows packed by msgpack-cxx.
  const Runs raw_io =
      runs(cfg.repeats, [&] { return raw_write_fsync(scratch + "/raw", info.bytes); });
  constexpr std::size_t kDistinct = 100'000;  // cycled, to keep the baseline's memory small
  std::vector<NaiveRow> naive;
  for (std::size_t i = 0; i < std::min(kDistinct, cfg.entries); ++i)
    naive.push_back(naive_of(make_entry(i), i + 1));
  std::uint64_t naive_bytes = 0;
  const Runs pack = runs(cfg.repeats, [&] {
    msgpack::sbuffer sbuf(1u << 20);
    naive_bytes = 0;
    return timed([&] {
      for (std::size_t i = 0; i < cfg.entries; ++i) {
        msgpack::pack(sbuf, naive[i % naive.size()]);
        if (sbuf.size() >= (1u << 20)) {
          naive_bytes += sbuf.size();
          sbuf.clear();
        }
      }
      naive_bytes += sbuf.size();
    });
  });
  naive.clear();
  naive.shrink_to_fit();
  // procreg's row encoder on the same packed rows the msgpack baseline reads (no projection
  // walk): the encoder's own cost, apart from reaching rows scattered over the heap.
  std::vector<Entry> packed;
  for (std::size_t i = 0; i < std::min(kDistinct, cfg.entries); ++i)
    packed.push_back(make_entry(i));
  const Runs packed_encode = runs(cfg.fewer(), [&] {
    std::string row;
    std::uint64_t encoded = 0;
    const double s = timed([&] {
      for (std::size_t i = 0; i < cfg.entries; ++i) {
        row.clear();
        events::encode_snapshot_row("bench", packed[i % packed.size()], std::nullopt, i + 1, &row);
        encoded += row.size();
      }
    });
    check(encoded > 0, "rows encoded");
    return s;
  });
  packed.clear();
  packed.shrink_to_fit();
  detail("baseline: write(2) + fsync of the same bytes", raw_io);
  detail("baseline: msgpack::pack of the same rows (in memory)", pack);
  detail("encode_snapshot_row of the same packed rows (in memory)", packed_encode);

  const double rows = static_cast<double>(info.rows);
  std::printf("    snapshot file: %" PRIu64 " bytes, %" PRIu64
              " rows, %.1f B/row; the log holding "
              "the same state: %.1f MiB; plain msgpack of the rows: %.1f B/row\n",
              info.bytes, info.rows, static_cast<double>(info.bytes) / rows,
              mib(static_cast<double>(total_bytes(segments_of(b.dir)))),
              static_cast<double>(naive_bytes) / rows);

  report.add({"snapshot(): previous snapshot + " + std::to_string(cfg.tail) + " ev (ms)",
              incremental.median_ms(), "ms", "write(2) + fsync of the same bytes",
              raw_io.median_ms(), 0, true});
  report.add({"snapshot(): from the full log (ms)", from_log.median_ms(), "ms",
              "write(2) + fsync of the same bytes", raw_io.median_ms(), 0, true});
  report.add({"  restore: snapshot + tail -> projection (ms)", restore_runs.median_ms(), "ms",
              "snapshot(), previous snapshot + tail", incremental.median_ms(), 0, true});
  report.add({"  write_snapshot: encode+CRC+write+fsync (ms)", write_runs.median_ms(), "ms",
              "msgpack::pack + write(2) + fsync, same rows", pack.median_ms() + raw_io.median_ms(),
              0, true});
  report.add({"    of which encode_snapshot_row alone (ms)", encode_runs.median_ms(), "ms",
              "msgpack::pack, same rows (in memory)", pack.median_ms(), 0, true});
  report.add({"    encode_snapshot_row, packed rows (ms)", packed_encode.median_ms(), "ms",
              "msgpack::pack, same rows (in memory)", pack.median_ms(), 0, true});
  report.add({"  freeing the projection (ms)", free_runs.median_ms(), "ms",
              "snapshot(), previous snapshot + tail", incremental.median_ms(), 0, true});
  report.add({"  write_snapshot (MiB/s)",
              mib(static_cast<double>(info.bytes)) / write_runs.median(), "MiB/s",
              "write(2) + fsync (MiB/s)", mib(static_cast<double>(info.bytes)) / raw_io.median(),
              0});
  report.add({"snapshot file size (bytes)", static_cast<double>(info.bytes), "B",
              "the log's segments, same state (bytes)",
              static_cast<double>(total_bytes(segments_of(b.dir))), 0, true});
  report.add({"snapshot bytes per row", static_cast<double>(info.bytes) / rows, "B/row",
              "plain msgpack of the same row", static_cast<double>(naive_bytes) / rows, 0, true});
  b.last_seq = reg->last_sequence();
  reg.reset();
  print_memory("the write section");
}

// ---- 3. compaction --------------------------------------------------------------------------

// Copies a log directory (segments copied, snapshot files hard-linked: they are never written
// again) and fsyncs everything, so that the removal measured next finds clean files.
void copy_log(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from)) {
    const std::string name = e.path().filename().string();
    if (replay::parse_snapshot_file_name(name)) {
      fs::create_hard_link(e.path(), to + "/" + name);
    } else {
      fs::copy_file(e.path(), to + "/" + name);
      fsync_path(to + "/" + name);
    }
  }
  fsync_path(to, O_RDONLY | O_DIRECTORY);
}

void bench_compact(Report& report, Built& b, const std::string& root, const Config& cfg) {
  // One snapshot, at the log's last seq: every segment but the newest is covered.
  {
    RegistryOptions o = options_for(b.dir, cfg);
    o.snapshots.keep = 1;
    auto reg = must(Registry::open(o), "open");
    must(churn_insert(*reg, cfg.entries, 0, b.gen++), "insert");
    must(reg->snapshot(), "snapshot");
    b.last_seq = reg->last_sequence();
  }
  const auto segs = segments_of(b.dir);
  std::printf("\n== compaction: %zu segments of %" PRIu64 " MiB, %.1f MiB ==\n", segs.size(),
              cfg.segment_mib, mib(static_cast<double>(total_bytes(segs))));
  std::vector<double> compact_s, open_before_s, open_after_s;
  std::size_t removed = 0;
  std::uint64_t removed_bytes = 0;
  std::vector<SegmentFile> removed_files;
  for (int r = 0; r < cfg.fewer(); ++r) {
    const std::string dir = root + "/compact";
    copy_log(b.dir, dir);
    const auto before = segments_of(dir);
    std::unique_ptr<Registry> reg;
    open_before_s.push_back(
        timed([&] { reg = must(Registry::open(options_for(dir, cfg)), "open"); }));
    compact_s.push_back(timed([&] { removed = must(reg->compact(), "compact"); }));
    reg.reset();
    const auto after = segments_of(dir);
    removed_files.assign(before.begin(), before.end() - static_cast<std::ptrdiff_t>(after.size()));
    removed_bytes = total_bytes(before) - total_bytes(after);
    check(removed == removed_files.size(), "compact() removed the oldest segments");
    open_after_s.push_back(
        timed([&] { reg = must(Registry::open(options_for(dir, cfg)), "open"); }));
    check(reg->last_sequence() == b.last_seq, "the registry opened at the log's last seq");
    reg.reset();
    fs::remove_all(dir);
  }
  // Baseline: as many files of the same sizes (copies of the same segments, fsynced), each
  // removed with unlink + fsync of the directory, which is what compaction does per segment.
  std::vector<double> unlink_s;
  for (int r = 0; r < cfg.repeats; ++r) {
    const std::string dir = root + "/unlink";
    fs::create_directories(dir);
    for (const auto& f : removed_files) {
      fs::copy_file(b.dir + "/" + f.name, dir + "/" + f.name);
      fsync_path(dir + "/" + f.name);
    }
    fsync_path(dir, O_RDONLY | O_DIRECTORY);
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    unlink_s.push_back(timed([&] {
      for (const auto& f : removed_files) {
        check(::unlink((dir + "/" + f.name).c_str()) == 0 && ::fsync(dir_fd) == 0,
              "unlink + fsync");
      }
    }));
    ::close(dir_fd);
    fs::remove_all(dir);
  }
  // A writer during compaction: one thread inserting before, during and after one compact()
  // (on a fresh copy); its longest insert while compact() ran vs before it.
  double during_max_ms = 0, before_max_ms = 0, compact_with_writer_s = 0;
  {
    const std::string dir = root + "/compact";
    copy_log(b.dir, dir);
    auto reg = must(Registry::open(options_for(dir, cfg)), "open");
    std::atomic<int> phase{0};  // 0: before compact(), 1: during, 2: after
    std::thread writer([&] {
      double worst[2] = {0, 0};
      for (std::size_t n = 0; phase.load() < 2; ++n) {
        const int p = phase.load();
        const auto t0 = Clock::now();
        must(churn_insert(*reg, cfg.entries, n, b.gen), "insert");
        const double ms = seconds_since(t0) * 1e3;
        if (p == phase.load())
          worst[p] = std::max(worst[p], ms);
        else
          worst[1] = std::max(worst[1], ms);  // overlapped the start or the end of compact()
      }
      before_max_ms = worst[0];
      during_max_ms = worst[1];
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    phase.store(1);
    compact_with_writer_s = timed([&] { must(reg->compact(), "compact"); });
    phase.store(2);
    writer.join();
    ++b.gen;
    reg.reset();
    fs::remove_all(dir);
  }
  const Runs compact_runs{compact_s}, before_runs{open_before_s}, after_runs{open_after_s},
      unlink_runs{unlink_s};
  std::printf("    compact() removed %zu segments, %.1f MiB, each run\n", removed,
              mib(static_cast<double>(removed_bytes)));
  detail("compact()", compact_runs);
  detail("baseline: unlink + fsync(dir), same files", unlink_runs);
  detail("open writer before compaction (snapshot + 0 events)", before_runs);
  detail("open writer after compaction", after_runs);
  std::printf(
      "    with a writer inserting meanwhile: compact() took %.0f ms; the writer's longest "
      "insert: %.1f ms during it, %.1f ms in the 500 ms before\n",
      compact_with_writer_s * 1e3, during_max_ms, before_max_ms);

  if (removed == 0) {
    std::printf(
        "    (nothing to compact: the log fits in one segment; use more --entries or a "
        "smaller --segment-mib)\n");
    return;
  }
  const double k = static_cast<double>(removed);
  report.add({"compact(): segments removed per second", k / compact_runs.median(), "seg/s",
              "unlink + fsync(dir) per file", k / unlink_runs.median(), 0});
  report.add({"compact(): MiB removed per second",
              mib(static_cast<double>(removed_bytes)) / compact_runs.median(), "MiB/s",
              "unlink + fsync(dir) per file",
              mib(static_cast<double>(removed_bytes)) / unlink_runs.median(), 0});
  report.add({"open writer after compaction (ms)", after_runs.median_ms(), "ms",
              "the same open before compaction", before_runs.median_ms(), 0, true});
  report.add({"longest insert while compact() runs (ms)", during_max_ms, "ms",
              "compact() itself, same run", compact_with_writer_s * 1e3, 0, true});
  report.add({"longest insert while compact() runs (ms)", during_max_ms, "ms",
              "longest insert in the 500 ms before", before_max_ms, 0, true});
  print_memory("the compaction section");
}

// ---- 4. writers while a snapshot runs -------------------------------------------------------

struct Window {
  double seconds = 0;
  double ops_per_s = 0;
  double cpu_ns_per_op = 0;      // the writer thread's CPU time per insert
  double sys_ns_per_op = 0;      // of which in the kernel
  ThreadUsage usage;             // the writer thread's, over the window
  double machine_busy = 0;       // the machine's CPUs not idle, all jobs (0..1)
  double machine_steal = 0;      // stolen by the hypervisor (0..1)
  double process_cpu_cores = 0;  // the whole process's CPU time / wall time
  double p50_ns = 0, p99_us = 0, p999_us = 0, max_us = 0;
  double rss_before = 0, rss_max = 0;
  SnapshotInfo snapshot;  // the background snapshot (kSnapshots)
};

enum class Background { kNone, kSpin, kSnapshots };

// One thread inserting (re-registrations of existing children) while `bg` runs. kSnapshots:
// from the first insert until one Registry::snapshot() called on another thread returns.
// Registry::snapshot() runs the background snapshotter's own function (take_snapshot: the
// newest snapshot + the log up to the applied seq, replayed into a projection of its own,
// written, fsynced, the projection freed) on its caller's thread. Otherwise: for `seconds`.
Window run_window(Registry& reg, Background bg, double seconds, Built& b, const Config& cfg) {
  Window w;
  std::vector<float> lat_ns;
  lat_ns.reserve(4'000'000);
  std::atomic<bool> stop{false}, snapshot_done{false};
  std::thread background;
  if (bg == Background::kSpin) {
    background = std::thread([&] {
      volatile std::uint64_t x = 0;
      while (!stop.load(std::memory_order_relaxed)) x = x + 1;
    });
  } else if (bg == Background::kSnapshots) {
    const std::uint64_t start_seq = reg.last_sequence();
    background = std::thread([&, start_seq] {
      while (reg.last_sequence() == start_seq) std::this_thread::yield();
      w.snapshot = must(reg.snapshot(), "snapshot");
      snapshot_done.store(true);
    });
  }
  w.rss_before = rss_mib();
  std::atomic<double> rss_max{w.rss_before};
  std::thread sampler([&] {
    while (!stop.load()) {
      rss_max.store(std::max(rss_max.load(), rss_mib()));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const ThreadUsage usage0 = ThreadUsage::now();
  const MachineCpu machine0 = MachineCpu::now();
  const double pcpu0 = process_cpu_seconds();
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  std::size_t n = 0;
  for (auto now = t0; bg == Background::kSnapshots ? !snapshot_done.load() : now < end; ++n) {
    must(churn_insert(reg, cfg.entries, n, b.gen), "insert");
    const auto t = Clock::now();
    lat_ns.push_back(static_cast<float>(std::chrono::duration<double, std::nano>(t - now).count()));
    now = t;
  }
  w.seconds = seconds_since(t0);
  w.usage = ThreadUsage::now() - usage0;
  const MachineCpu machine1 = MachineCpu::now();
  const double ticks = std::max(1.0, machine1.total - machine0.total);
  w.machine_busy = 1 - (machine1.idle - machine0.idle) / ticks;
  w.machine_steal = (machine1.steal - machine0.steal) / ticks;
  const double pcpu = process_cpu_seconds() - pcpu0;
  ++b.gen;
  stop.store(true);
  sampler.join();
  if (background.joinable()) background.join();
  w.ops_per_s = static_cast<double>(n) / w.seconds;
  w.cpu_ns_per_op = (w.usage.user + w.usage.sys) * 1e9 / static_cast<double>(n);
  w.sys_ns_per_op = w.usage.sys * 1e9 / static_cast<double>(n);
  w.process_cpu_cores = pcpu / w.seconds;
  std::sort(lat_ns.begin(), lat_ns.end());
  auto q = [&](double p) {
    return static_cast<double>(
        lat_ns[static_cast<std::size_t>(p * static_cast<double>(lat_ns.size() - 1))]);
  };
  w.p50_ns = q(0.5);
  w.p99_us = q(0.99) / 1e3;
  w.p999_us = q(0.999) / 1e3;
  w.max_us = static_cast<double>(lat_ns.back()) / 1e3;
  w.rss_max = rss_max.load();
  return w;
}

void bench_writers(Report& report, Built& b, const Config& cfg) {
  std::printf(
      "\n== writers: one thread inserting, %zu rows, during one background snapshot / "
      "with nothing else running / next to a thread that only spins (%.1f s at most) "
      "==\n",
      cfg.entries, cfg.seconds);
  auto reg = must(Registry::open(options_for(b.dir, cfg)), "open");
  std::map<Background, std::vector<Window>> windows;
  const char* names[] = {"nothing else", "a spinning thread", "background snapshot"};
  for (int r = 0; r < cfg.rounds; ++r) {
    const std::uint64_t from = reg->stats().last_snapshot_seq;
    double seconds = 0;
    for (Background bg : {Background::kSnapshots, Background::kNone, Background::kSpin}) {
      const Window w = run_window(*reg, bg, std::min(seconds, cfg.seconds), b, cfg);
      if (bg == Background::kSnapshots) seconds = w.seconds;
      std::printf(
          "    %-20s %5.1f s %8.0f inserts/s, p50 %5.0f ns, p99 %5.1f us, p99.9 %6.1f us, "
          "max %7.0f us; process %.2f cores, machine %.0f%% busy (%.0f%% steal), RSS %.0f -> "
          "max %.0f MiB\n"
          "      writer thread: CPU %4.0f ns/insert (sys %3.0f), %ld voluntary / %ld "
          "involuntary context switches, %ld minor faults\n",
          names[static_cast<int>(bg)], w.seconds, w.ops_per_s, w.p50_ns, w.p99_us, w.p999_us,
          w.max_us, w.process_cpu_cores, 100 * w.machine_busy, 100 * w.machine_steal, w.rss_before,
          w.rss_max, w.cpu_ns_per_op, w.sys_ns_per_op, w.usage.nvcsw, w.usage.nivcsw,
          w.usage.minflt);
      if (bg == Background::kSnapshots) {
        std::printf("      (the snapshot: seq %" PRIu64 ", %" PRIu64
                    " events after the one it "
                    "started from, took %lld ms)\n",
                    w.snapshot.seq, w.snapshot.seq - from,
                    static_cast<long long>(w.snapshot.took.count()));
      }
      windows[bg].push_back(w);
    }
  }
  auto med = [&](Background bg, double Window::*field) {
    std::vector<double> v;
    for (const auto& w : windows[bg]) v.push_back(w.*field);
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  using B = Background;
  report.add({"insert 1 thr, during a bg snapshot (ops/s)", med(B::kSnapshots, &Window::ops_per_s),
              "ops/s", "insert 1 thr, nothing else running", med(B::kNone, &Window::ops_per_s), 0});
  report.add({"insert 1 thr, next to a spinning thread (ops/s)", med(B::kSpin, &Window::ops_per_s),
              "ops/s", "insert 1 thr, nothing else running", med(B::kNone, &Window::ops_per_s), 0});
  report.add({"insert 1 thr, during a bg snapshot (ops/s)", med(B::kSnapshots, &Window::ops_per_s),
              "ops/s", "insert 1 thr, next to a spinning thread", med(B::kSpin, &Window::ops_per_s),
              0});
  report.add({"writer CPU per insert, bg snapshot (ns)", med(B::kSnapshots, &Window::cpu_ns_per_op),
              "ns", "nothing else running", med(B::kNone, &Window::cpu_ns_per_op), 0, true});
  report.add({"insert p50 latency, bg snapshot (ns)", med(B::kSnapshots, &Window::p50_ns), "ns",
              "nothing else running", med(B::kNone, &Window::p50_ns), 0, true});
  report.add({"insert p99.9 latency, bg snapshot (us)", med(B::kSnapshots, &Window::p999_us), "us",
              "nothing else running", med(B::kNone, &Window::p999_us), 0, true});
  report.add({"insert max latency, bg snapshot (us)", med(B::kSnapshots, &Window::max_us), "us",
              "nothing else running", med(B::kNone, &Window::max_us), 0, true});
  report.add({"insert max latency, spinning thread (us)", med(B::kSpin, &Window::max_us), "us",
              "nothing else running", med(B::kNone, &Window::max_us), 0, true});
  report.add({"RSS peak during a bg snapshot (MiB)", med(B::kSnapshots, &Window::rss_max), "MiB",
              "RSS before it", med(B::kSnapshots, &Window::rss_before), 0, true});
  reg.reset();
  print_memory("the writers section");
}

}  // namespace
}  // namespace procreg::bench

int main(int argc, char** argv) {
  using namespace procreg::bench;
  Config cfg;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--entries") {
      cfg.entries = std::stoul(value);
    } else if (flag == "--tail") {
      cfg.tail = std::stoul(value);
    } else if (flag == "--batch") {
      cfg.batch = std::max<std::size_t>(1, std::stoul(value));
    } else if (flag == "--segment-mib") {
      cfg.segment_mib = std::max<std::uint64_t>(1, std::stoull(value));
    } else if (flag == "--repeats") {
      cfg.repeats = std::max(1, std::stoi(value));
    } else if (flag == "--history") {
      cfg.history = std::stoul(value);
    } else if (flag == "--rounds") {
      cfg.rounds = std::max(1, std::stoi(value));
    } else if (flag == "--seconds") {
      cfg.seconds = std::stod(value);
    } else if (flag == "--only") {
      cfg.only = value;
    } else {
      std::fprintf(stderr,
                   "usage: snapshot_bench [--entries N] [--tail T] [--history H] [--batch B] "
                   "[--segment-mib M] [--repeats R] [--seconds S] [--rounds W] "
                   "[--only open|write|compact|writers]\n");
      return 2;
    }
  }
  if (argc % 2 == 0 || cfg.entries < 2 || cfg.tail < 2) {
    std::fprintf(stderr, "snapshot_bench: flags take a value; --entries and --tail at least 2\n");
    return 2;
  }
  std::printf(
      "procreg snapshot_bench: %zu entries, tail %zu events, history %zu events, "
      "bulk_insert batches of %zu, %" PRIu64
      " MiB segments, %d repeats (medians), "
      "writer windows: %d round(s), %.1f s at most without a snapshot, %u cores, load average %s\n",
      cfg.entries, cfg.tail, cfg.history, cfg.batch, cfg.segment_mib, cfg.repeats, cfg.rounds,
      cfg.seconds, std::thread::hardware_concurrency(), load_average().c_str());
  const auto started = Clock::now();
  Report report;
  try {
    TempDir root;
    fs::create_directories(root.sub("scratch"));
    Built b = build_log(root.sub("log"), cfg);
    const bool all = cfg.only.empty();
    if (all || cfg.only == "open") bench_open(report, b, cfg, "no history", true);
    if (all || cfg.only == "write") bench_write(report, b, root.sub("scratch"), cfg);
    if (all || cfg.only == "compact") bench_compact(report, b, root.path(), cfg);
    if ((all || cfg.only == "open") && cfg.history > 0) {
      add_history(b, cfg);
      bench_open(report, b, cfg, "+" + std::to_string(cfg.history) + " history", false);
    }
    if (all || cfg.only == "writers") bench_writers(report, b, cfg);
  } catch (const Failure& e) {
    std::fprintf(stderr, "snapshot_bench: %s\n", e.what());
    return 1;
  }
  report.print_markdown();
  std::printf("\npeak RSS %.0f MiB; %.0f s in all; load average at the end %s\n", peak_rss_mib(),
              seconds_since(started), load_average().c_str());
  return 0;
}
