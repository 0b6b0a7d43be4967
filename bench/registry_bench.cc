// procreg's core benchmarks, each next to a baseline measured in the same run:
//   writes:  insert under each durability policy, 1 and 8 threads, the same through
//            Registry::write in batches of 64, group commit with 8 and 64 synchronous callers
//            and with 8 and 64 submissions in flight (Registry::submit), bulk_insert
//            vs raw file append with CRC-32C (with and without fdatasync per record)
//   codec:   event encode/decode vs plain msgpack-cxx on a struct with the same content
//   reads:   lookup vs a bare std::unordered_map<std::string, Entry> (find + copy out);
//            match_tag through the tag index vs a full scan; dump
//   replay:  rebuilding the registry from its log vs a naive decode-into-structs + map insert
//   memory:  heap per entry of the projection vs the bare map
//
//   registry_bench [--entries N] [--seconds S] [--threads T] [--only codec|writes|reads|replay]
// (replay: the replay and heap rows of reads alone, for profiling the replay.)
#include <fcntl.h>
#include <unistd.h>
#include <atomic>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <msgpack.hpp>

#include "bench/bench_util.h"
#include "events/codec.h"
#include "log/crc32c.h"
#include "log/log.h"
#include "log/log_reader.h"
#include "procreg/registry.h"

namespace procreg::bench {
namespace {

struct Config {
  std::size_t entries = 1'000'000;
  double seconds = 1.5;  // per time-bounded write measurement
  int threads = 8;
  std::string only;  // run one section: codec, writes, reads (with replay) or replay alone
};

std::string child_id(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "game_session_%08zu", i);
  return buf;
}

Entry make_entry(std::size_t i) {
  return Entry{make_spec(child_id(i), "Elixir.MyApp.GameSession", "start_link",
                         {Value(static_cast<std::uint64_t>(i)), Value("eu-west")}),
               {{"node" + std::to_string(i % 7) + "@host", "<0." + std::to_string(i) + ".0>"}},
               {{"tag", Value("region-" + std::to_string(i % 100))}}};
}

RegistryOptions options_for(const std::string& dir, Durability d,
                            std::uint64_t zero_fill = LogOptions{}.zero_fill_bytes) {
  RegistryOptions o;
  o.hub = "bench";
  o.log_dir = dir;
  o.local_node = "node0@host";
  o.log.durability = d;
  o.log.zero_fill_bytes = zero_fill;
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

// Runs fn(thread, i) on `threads` threads for about `seconds`; returns total ops/s.
double timed_ops(int threads, double seconds, const std::function<void(int, std::size_t)>& fn) {
  std::atomic<std::size_t> total{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::size_t n = 0;
      while (Clock::now() < end) fn(t, n++);
      total += n;
    });
  }
  for (auto& th : pool) th.join();
  return static_cast<double>(total.load()) /
         std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- baselines ------------------------------------------------------------------------

// Raw append: a 17-byte header with CRC-32C + payload, one write(2) per record, like the log.
double raw_append_rate(const std::string& path, std::size_t payload_size, bool sync,
                       double seconds) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  std::string record(17 + payload_size, 'x');
  const double rate = timed_ops(1, seconds, [&](int, std::size_t i) {
    std::memcpy(record.data() + 9, &i, sizeof i);
    const std::uint32_t crc = replay::crc32c::value(record.data() + 4, record.size() - 4);
    std::memcpy(record.data(), &crc, 4);
    if (::write(fd, record.data(), record.size()) < 0) std::abort();
    if (sync) ::fdatasync(fd);
  });
  ::close(fd);
  return rate;
}

// The same content as an insert event, as a plain msgpack-cxx struct (the naive way).
struct NaiveEvent {
  std::string kind;
  std::string hub;
  std::string table;
  std::uint64_t seq = 0;
  std::string id;
  std::string module;
  std::string function;
  std::uint64_t arg0 = 0;
  std::string arg1;
  std::vector<std::pair<std::string, std::string>> node_pids;
  std::map<std::string, std::string> metadata;
  MSGPACK_DEFINE_MAP(kind, hub, table, seq, id, module, function, arg0, arg1, node_pids, metadata);
};

NaiveEvent naive_of(const Entry& e, std::uint64_t seq) {
  NaiveEvent n{"insert",
               "bench",
               "bench",
               seq,
               e.spec.id,
               e.spec.start.module,
               e.spec.start.function,
               e.spec.start.args[0].as_uint(),
               e.spec.start.args[1].as_string(),
               {},
               {}};
  for (const auto& np : e.node_pids) n.node_pids.emplace_back(np.node, np.pid);
  for (const auto& [k, v] : e.metadata) n.metadata[k] = v.as_string();
  return n;
}

Event insert_event(const Entry& e, std::uint64_t seq) {
  return Event{kEventSchemaVersion,
               "bench",
               "bench",
               seq,
               42,
               1'700'000'000'000,
               false,
               events::Insert{procreg::Row{e, std::nullopt}}};
}

}  // namespace

namespace {

void bench_codec(Report& report, const Config&) {
  constexpr std::size_t kN = 200'000;
  std::vector<Event> evs;
  std::vector<NaiveEvent> naive;
  for (std::size_t i = 0; i < kN; ++i) {
    evs.push_back(insert_event(make_entry(i), i + 1));
    naive.push_back(naive_of(make_entry(i), i + 1));
  }
  std::string out;
  const double ours_enc = best_rate(3, kN, [&] {
    for (const auto& e : evs) {
      out.clear();
      events::encode(e, &out);
    }
  });
  msgpack::sbuffer sbuf;
  const double raw_enc = best_rate(3, kN, [&] {
    for (const auto& n : naive) {
      sbuf.clear();
      msgpack::pack(sbuf, n);
    }
  });
  report.add(
      {"event encode (insert)", ours_enc, "ev/s", "msgpack::pack of a plain struct", raw_enc, 0});
  std::vector<std::string> ours_bytes, naive_bytes;
  for (std::size_t i = 0; i < kN; ++i) {
    ours_bytes.push_back(events::encode(evs[i]));
    sbuf.clear();
    msgpack::pack(sbuf, naive[i]);
    naive_bytes.emplace_back(sbuf.data(), sbuf.size());
  }
  const double ours_dec = best_rate(3, kN, [&] {
    for (const auto& b : ours_bytes) {
      if (!events::decode(b).ok()) std::abort();
    }
  });
  const double raw_dec = best_rate(3, kN, [&] {
    for (const auto& b : naive_bytes) {
      auto oh = msgpack::unpack(b.data(), b.size());
      NaiveEvent n = oh.get().as<NaiveEvent>();
      if (n.id.empty()) std::abort();
    }
  });
  report.add({"event decode (insert, validated)", ours_dec, "ev/s", "msgpack::unpack + as<struct>",
              raw_dec, 0});
  std::printf("  (insert event: %zu bytes procreg, %zu bytes plain struct)\n", ours_bytes[0].size(),
              naive_bytes[0].size());
}

// The same records written over a file of zeros that was written and synced first (as the
// log's zero fill), fdatasync after each: the sync has no file size to record.
double raw_overwrite_rate(const std::string& path, std::size_t payload_size, double seconds) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const std::string zeros(1 << 20, '\0');
  std::string record(17 + payload_size, 'x');
  constexpr std::size_t kFill = 64;  // MiB: more than a run writes at a few thousand syncs/s
  for (std::size_t i = 0; i < kFill; ++i) {
    if (::write(fd, zeros.data(), zeros.size()) < 0) std::abort();
  }
  ::fdatasync(fd);
  const double rate = timed_ops(1, seconds, [&](int, std::size_t i) {
    std::memcpy(record.data() + 9, &i, sizeof i);
    const std::uint32_t crc = replay::crc32c::value(record.data() + 4, record.size() - 4);
    std::memcpy(record.data(), &crc, 4);
    const auto at = static_cast<off_t>((i * record.size()) % ((kFill << 20) - record.size()));
    if (::pwrite(fd, record.data(), record.size(), at) < 0) std::abort();
    ::fdatasync(fd);
  });
  ::close(fd);
  return rate;
}

// `callers` asynchronous callers, each keeping one insert in flight: submitted, then submitted
// again from its completion. Returns the completions per second.
double async_insert_rate(Registry& reg, int callers, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> completed{0};
  std::atomic<int> in_flight{0};
  std::function<void(int, std::size_t)> issue = [&](int c, std::size_t i) {
    Entry e = make_entry(static_cast<std::size_t>(c) * 100'000'000 + i);
    reg.submit_insert(std::move(e.spec), std::move(e.node_pids), {},
                      [&, c, i](Result<std::uint64_t> r) {
                        if (!r.ok()) std::abort();
                        completed.fetch_add(1);
                        if (stop.load()) {
                          in_flight.fetch_sub(1);
                        } else {
                          issue(c, i + 1);
                        }
                      });
  };
  const auto start = Clock::now();
  in_flight.store(callers);
  for (int c = 0; c < callers; ++c) issue(c, 0);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const std::size_t done = completed.load();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop.store(true);
  while (in_flight.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return static_cast<double>(done) / elapsed;
}

// Group commit with many writers: synchronous callers (each thread one insert at a time) and
// asynchronous ones (Registry::submit, one insert in flight each), against one fdatasync per
// record. One sync can cover at most as many writes as are in flight.
void bench_group_commit(Report& report, const Config& cfg, double raw_sync) {
  const char* baseline = "raw append + CRC + fdatasync each";
  for (int n : {8, 64}) {
    const double target = n == 64 ? 40 : 0;
    {
      TempDir d;
      auto reg = Registry::open(options_for(d.path(), Durability::kGroupCommit));
      if (!reg.ok()) std::abort();
      const double rate = timed_ops(n, cfg.seconds, [&](int t, std::size_t i) {
        Entry e = make_entry(static_cast<std::size_t>(t) * 100'000'000 + i);
        if (!(*reg)->insert(std::move(e.spec), std::move(e.node_pids)).ok()) std::abort();
      });
      report.add({"insert, group commit, " + std::to_string(n) + " sync callers", rate, "ops/s",
                  baseline, raw_sync, target});
    }
    double rate = 0;
    {
      TempDir d;
      auto reg = Registry::open(options_for(d.path(), Durability::kGroupCommit));
      if (!reg.ok()) std::abort();
      rate = async_insert_rate(**reg, n, cfg.seconds);
      report.add({"submit_insert, group commit, " + std::to_string(n) + " in flight", rate, "ops/s",
                  baseline, raw_sync, target});
    }
    if (n != 64) continue;
    // The same without zero fill (LogOptions::zero_fill_bytes = 0): each sync records a new
    // file size.
    TempDir d;
    auto reg = Registry::open(options_for(d.path(), Durability::kGroupCommit, 0));
    if (!reg.ok()) std::abort();
    const double appended = async_insert_rate(**reg, n, cfg.seconds);
    report.add({"submit_insert, group commit, 64 in flight, no zero fill", appended, "ops/s",
                baseline, raw_sync, 0});
    report.add(
        {"submit_insert, 64 in flight: zero fill", rate, "ops/s", "no zero fill", appended, 0});
  }
}

void bench_writes(Report& report, const Config& cfg) {
  TempDir dir;
  const std::size_t payload = events::encode(insert_event(make_entry(1), 1)).size();
  const double raw = raw_append_rate(dir.sub("raw"), payload, false, cfg.seconds);
  const double raw_sync = raw_append_rate(dir.sub("raw-sync"), payload, true, cfg.seconds);
  const double raw_over = raw_overwrite_rate(dir.sub("raw-over"), payload, cfg.seconds);
  report.add({"raw write over zeros + CRC + fdatasync each", raw_over, "ops/s",
              "raw append + CRC + fdatasync each", raw_sync, 0});
  struct Policy {
    Durability d;
    const char* name;
    double baseline;
    const char* baseline_name;
  };
  const Policy policies[] = {
      {Durability::kNone, "none", raw, "raw append + CRC, no sync"},
      {Durability::kGroupCommit, "group commit", raw_sync, "raw append + CRC + fdatasync each"},
      {Durability::kSyncEach, "sync each", raw_sync, "raw append + CRC + fdatasync each"},
  };
  double group_threads = 0, sync_threads = 0;
  for (const auto& p : policies) {
    for (int threads : {1, cfg.threads}) {
      TempDir d;
      auto reg = Registry::open(options_for(d.path(), p.d));
      if (!reg.ok()) std::abort();
      const double rate = timed_ops(threads, cfg.seconds, [&](int t, std::size_t i) {
        if (!(*reg)->insert(make_entry(t * 100'000'000 + i).spec, make_entry(i).node_pids).ok()) {
          std::abort();
        }
      });
      report.add({"insert, " + std::string(p.name) + ", " + std::to_string(threads) + " thr", rate,
                  "ops/s", p.baseline_name, p.baseline, 0});
      if (threads == cfg.threads && p.d == Durability::kGroupCommit) group_threads = rate;
      if (threads == cfg.threads && p.d == Durability::kSyncEach) sync_threads = rate;
    }
  }
  // Group commit must not lose to sync-each (each sync covers at most the writes in flight,
  // so with synchronous callers the two are bounded alike; docs/PERFORMANCE.md).
  report.add({"insert, group commit, " + std::to_string(cfg.threads) + " thr", group_threads,
              "ops/s", "insert, sync each, " + std::to_string(cfg.threads) + " thr", sync_threads,
              1});
  // The same inserts through Registry::write, kBatch per call (each still an event): more
  // writes in flight per thread than one synchronous insert allows.
  constexpr std::size_t kBatch = 64;
  for (const auto& p : policies) {
    for (int threads : {1, cfg.threads}) {
      TempDir d;
      auto reg = Registry::open(options_for(d.path(), p.d));
      if (!reg.ok()) std::abort();
      const double calls = timed_ops(threads, cfg.seconds, [&](int t, std::size_t i) {
        WriteBatch batch;
        for (std::size_t k = 0; k < kBatch; ++k) {
          Entry e = make_entry(t * 100'000'000 + i * kBatch + k);
          batch.insert(std::move(e.spec), std::move(e.node_pids));
        }
        for (const auto& seq : (*reg)->write(std::move(batch))) {
          if (!seq.ok()) std::abort();
        }
      });
      report.add({"write of " + std::to_string(kBatch) + " inserts, " + std::string(p.name) + ", " +
                      std::to_string(threads) + " thr (ev/s)",
                  calls * kBatch, "ev/s", p.baseline_name, p.baseline, 0});
    }
  }
  bench_group_commit(report, cfg, raw_sync);
  TempDir d;
  auto reg = Registry::open(options_for(d.path(), Durability::kNone));
  std::size_t next = 0;
  const double bulk = timed_ops(1, cfg.seconds, [&](int, std::size_t) {
    std::vector<Entry> batch;
    for (int k = 0; k < 100; ++k) batch.push_back(make_entry(next++));
    if (!(*reg)->bulk_insert(std::move(batch)).ok()) std::abort();
  });
  report.add({"bulk_insert of 100, none (rows/s)", bulk * 100, "rows/s",
              "raw append + CRC, no sync (records/s)", raw, 0});
}

// A bare map filled the way a registry is: by decoding the log's events one by one.
std::unique_ptr<std::unordered_map<std::string, Entry>> bare_map_from_log(const std::string& dir) {
  auto map = std::make_unique<std::unordered_map<std::string, Entry>>();
  auto reader = replay::LogReader::open(dir);
  if (!reader.ok()) std::abort();
  replay::LogRecord record;
  while (*(*reader)->next(&record)) {
    auto event = events::decode(record.payload);
    auto& row = std::get<events::Insert>(event->body).row;
    std::string key = row.entry.spec.id;
    map->insert_or_assign(std::move(key), std::move(row.entry));
  }
  return map;
}

void bench_reads_and_replay(Report& report, const Config& cfg) {
  const std::size_t n = cfg.entries;
  TempDir dir;
  {
    auto reg = Registry::open(options_for(dir.path(), Durability::kNone));
    if (!reg.ok()) std::abort();
    for (std::size_t i = 0; i < n; ++i) {
      Entry e = make_entry(i);
      InsertOptions o;
      o.metadata = std::move(e.metadata);
      if (!(*reg)->insert(std::move(e.spec), std::move(e.node_pids), o).ok()) std::abort();
    }
  }
  // Replay: the whole log (read, CRC, decode, apply) into a fresh projection.
  std::unique_ptr<Registry> replayed;
  std::size_t heap_before = heap_in_use();
  const double replay_rate = best_rate(1, static_cast<double>(n), [&] {
    auto r = Registry::open_replay({dir.path(), "node0@host", 0});
    if (!r.ok()) std::abort();
    replayed = std::move(*r);
  });
  const double ours_bytes_per_entry =
      static_cast<double>(heap_in_use() - heap_before) / static_cast<double>(n);

  std::vector<std::string> naive_bytes;
  naive_bytes.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    msgpack::sbuffer sbuf;
    msgpack::pack(sbuf, naive_of(make_entry(i), i + 1));
    naive_bytes.emplace_back(sbuf.data(), sbuf.size());
  }
  const double naive_rate = best_rate(1, static_cast<double>(n), [&] {
    std::unordered_map<std::string, NaiveEvent> state;
    for (const auto& b : naive_bytes) {
      auto oh = msgpack::unpack(b.data(), b.size());
      NaiveEvent e = oh.get().as<NaiveEvent>();
      std::string key = e.id;
      state.insert_or_assign(std::move(key), std::move(e));
    }
  });
  naive_bytes.clear();
  naive_bytes.shrink_to_fit();
  report.add({"replay " + std::to_string(n) + " insert events", replay_rate, "ev/s",
              "in-memory unpack + as<struct> + unordered_map insert", naive_rate, 2});
  if (cfg.only == "replay") {
    report.add(
        {"heap per entry (projection + indexes)", ours_bytes_per_entry, "B", "none", 0, 0, true});
    return;
  }

  // The bare map with the same entries.
  heap_before = heap_in_use();
  auto bare = std::make_unique<std::unordered_map<std::string, Entry>>();
  for (std::size_t i = 0; i < n; ++i) bare->emplace(child_id(i), make_entry(i));
  const double bare_bytes_per_entry =
      static_cast<double>(heap_in_use() - heap_before) / static_cast<double>(n);
  report.add({"heap per entry (projection + indexes)", ours_bytes_per_entry, "B",
              "unordered_map<string, Entry>", bare_bytes_per_entry, 1, true});

  // lookup: random ids, copied out, vs the bare map's find + copy of the same fields.
  constexpr std::size_t kLookups = 2'000'000;
  std::vector<std::string> keys;
  std::mt19937_64 rng(7);
  for (std::size_t i = 0; i < kLookups; ++i) keys.push_back(child_id(rng() % n));
  std::size_t sink = 0;
  const double ours_lookup = best_rate(3, kLookups, [&] {
    for (const auto& k : keys) sink += replayed->lookup(k)->node_pids.size();
  });
  auto bare_lookups = [&](const std::unordered_map<std::string, Entry>& map) {
    return best_rate(3, kLookups, [&] {
      for (const auto& k : keys) {
        auto it = map.find(k);
        std::optional<Lookup> out;
        if (it != map.end()) out = Lookup{it->second.spec, it->second.node_pids, std::nullopt};
        sink += out->node_pids.size();
      }
    });
  };
  // The registry's rows were allocated while events were decoded and applied, so they lie
  // scattered in memory like any long-lived registry's; a map filled in one tight loop lies
  // packed and misses the cache less. Compare like with like: a bare map filled from the same
  // log, and, for reference, the packed one.
  const auto from_log = bare_map_from_log(dir.path());
  const double bare_log_lookup = bare_lookups(*from_log);
  const double bare_lookup = bare_lookups(*bare);
  const double bare_find = best_rate(3, kLookups, [&] {
    for (const auto& k : keys) sink += bare->find(k)->second.node_pids.size();
  });
  report.add({"lookup (copy out spec + node_pids)", ours_lookup, "ops/s",
              "unordered_map from the log: find + copy", bare_log_lookup, 1});
  report.add({"lookup (copy out spec + node_pids)", ours_lookup, "ops/s",
              "unordered_map packed: find + copy", bare_lookup, 0});
  report.add({"lookup (copy out spec + node_pids)", ours_lookup, "ops/s",
              "unordered_map find only (no copy)", bare_find, 0});

  // match_tag: 100 tags over n rows.
  constexpr int kTagQueries = 50;
  const double ours_tag = best_rate(3, kTagQueries, [&] {
    for (int q = 0; q < kTagQueries; ++q) {
      sink += replayed->match_tag("region-" + std::to_string(q % 100)).size();
    }
  });
  const double scan_tag = best_rate(1, kTagQueries, [&] {
    for (int q = 0; q < kTagQueries; ++q) {
      const Value tag("region-" + std::to_string(q % 100));
      ChildNodePids out;
      for (const auto& [id, e] : *bare) {
        auto t = e.metadata.find("tag");
        if (t != e.metadata.end() && t->second == tag) out.emplace_back(id, e.node_pids);
      }
      sink += out.size();
    }
  });
  report.add(
      {"match_tag (1% of rows match)", ours_tag, "q/s", "full scan of the bare map", scan_tag, 10});

  // dump: every bound row copied into an ordered map.
  const double ours_dump =
      best_rate(1, static_cast<double>(n), [&] { sink += replayed->dump().size(); });
  const double bare_dump = best_rate(1, static_cast<double>(n), [&] {
    Dump d;
    for (const auto& [id, e] : *bare) d.emplace(id, e);
    sink += d.size();
  });
  report.add({"dump (rows/s)", ours_dump, "rows/s", "copy bare map into std::map", bare_dump, 0});
  if (sink == 42) std::printf(" ");
}

}  // namespace
}  // namespace procreg::bench

int main(int argc, char** argv) {
  procreg::bench::Config cfg;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--entries") {
      cfg.entries = std::stoul(argv[i + 1]);
    } else if (flag == "--seconds") {
      cfg.seconds = std::stod(argv[i + 1]);
    } else if (flag == "--threads") {
      cfg.threads = std::stoi(argv[i + 1]);
    } else if (flag == "--only") {
      cfg.only = argv[i + 1];
    } else {
      std::fprintf(stderr,
                   "usage: registry_bench [--entries N] [--seconds S] [--threads T] [--only "
                   "codec|writes|reads|replay]\n");
      return 2;
    }
  }
  std::printf("procreg registry_bench: %zu entries, %.1f s per write run, %d threads, %u cores\n",
              cfg.entries, cfg.seconds, cfg.threads, std::thread::hardware_concurrency());
  procreg::bench::Report report;
  if (cfg.only.empty() || cfg.only == "codec") procreg::bench::bench_codec(report, cfg);
  if (cfg.only.empty() || cfg.only == "writes") procreg::bench::bench_writes(report, cfg);
  if (cfg.only.empty() || cfg.only == "reads" || cfg.only == "replay") {
    procreg::bench::bench_reads_and_replay(report, cfg);
  }
  report.print_markdown();
  return 0;
}
