// Synchronous replication and promotion (issue 20), each next to a baseline of the same run:
//   throughput: inserts per second from T threads on a writer with sync_standbys = 1 and one
//               Standby copying over tcp on 127.0.0.1 (its own directory, fdatasync per
//               chunk), vs the same writer and load with sync_standbys = 0 and no standby
//   latency:    p50 and p99 of single inserts under that load, k = 1 vs k = 0
//   promotion:  from a writer's stop to the first insert acknowledged by a writer opened on the
//               standby's copy at the next term (Standby::stop, Registry::open with the term,
//               HubServer::start, one insert), vs reopening the old writer on its own log
//
// The writer's durability is the same in both (--durability group|sync, group by default).
// Detection of a dead writer is not in the promotion figure: `procreg promote` waits until the
// standby has heard nothing for 1.5 s (tools/procreg/standby_cmd.h).
//
//   replication_bench [--threads T] [--seconds S] [--durability group|sync]
//                     [--zero-fill-bytes B] (the writers' LogOptions::zero_fill_bytes)
#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "bench/bench_util.h"
#include "procreg/hub_server.h"
#include "procreg/registry.h"
#include "procreg/standby.h"

namespace procreg::bench {
namespace {

struct Config {
  int threads = 16;
  double seconds = 2;
  Durability durability = Durability::kGroupCommit;
  std::uint64_t zero_fill = LogOptions{}.zero_fill_bytes;
};

struct Load {
  double rate = 0;  // acknowledged inserts per second
  double p50_us = 0;
  double p99_us = 0;
  std::uint64_t failed = 0;
};

RegistryOptions writer_options(const std::string& dir, const Config& c, std::size_t k) {
  RegistryOptions o;
  o.hub = "bench";
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = c.durability;
  o.log.zero_fill_bytes = c.zero_fill;
  o.sync_standbys = k;
  o.snapshots.every_bytes = 0;
  return o;
}

HubServerOptions server_options() {
  HubServerOptions so;
  so.publish_endpoint = "tcp://127.0.0.1:*";
  so.replay_endpoint = "tcp://127.0.0.1:*";
  so.command_endpoint = "tcp://127.0.0.1:*";
  return so;
}

ChildSpec spec(const std::string& id) { return ChildSpec{id, StartSpec{"M", "f", {}}, {}}; }

// T threads insert distinct children for `seconds`; each call's latency is kept.
Load run_load(Registry& r, const Config& c, const std::string& prefix) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> failed{0};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(c.threads));
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int t = 0; t < c.threads; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = latencies[static_cast<std::size_t>(t)];
      for (int i = 0; !stop.load(std::memory_order_relaxed) && i < 10'000'000; ++i) {
        const auto a = Clock::now();
        auto seq = r.insert(spec(prefix + std::to_string(t) + "-" + std::to_string(i)),
                            {{"n1", "<0.1.0>"}});
        if (!seq.ok()) {
          failed.fetch_add(1);
          continue;
        }
        mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(c.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Load out;
  out.failed = failed.load();
  out.rate = static_cast<double>(all.size()) / s;
  if (!all.empty()) {
    out.p50_us = all[all.size() / 2];
    out.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return out;
}

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

void run(const Config& c) {
  Report report;
  zmq::context_t ctx;
  TempDir tmp;
  // k = 0: the baseline.
  Load k0;
  {
    auto w = must(Registry::open(writer_options(tmp.sub("k0"), c, 0)), "open k0");
    auto server = must(HubServer::start(ctx, *w, server_options()), "server k0");
    k0 = run_load(*w, c, "a");
  }
  // k = 1 with one standby.
  Load k1;
  double promote_ms = 0;
  double reopen_ms = 0;
  {
    auto w = must(Registry::open(writer_options(tmp.sub("k1"), c, 1)), "open k1");
    auto server = must(HubServer::start(ctx, *w, server_options()), "server k1");
    StandbyOptions so;
    so.hub = "bench";
    so.dir = tmp.sub("copy");
    so.replay_endpoint = server->replay_endpoint();
    auto standby = must(Standby::start(ctx, so), "standby");
    for (int i = 0; i < 500 && w->stats().standbys_in_sync == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    k1 = run_load(*w, c, "b");
    // Promotion: the writer stops; the standby's copy becomes the writer at the next term.
    const std::uint64_t term = w->term();
    server.reset();
    w.reset();
    const auto t0 = Clock::now();
    const std::uint64_t next = std::max<std::uint64_t>(standby->stats().term, term) + 1;
    standby->stop();
    RegistryOptions po = writer_options(tmp.sub("copy"), c, 0);
    po.log.term = next;
    auto promoted = must(Registry::open(po), "open the copy");
    auto pserver = must(HubServer::start(ctx, *promoted, server_options()), "server promoted");
    (void)must(promoted->insert(spec("first"), {{"n1", "<0.2.0>"}}), "first write");
    promote_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  {
    // The baseline of promotion: the old writer reopened on its own log, same steps.
    const auto t0 = Clock::now();
    auto w = must(Registry::open(writer_options(tmp.sub("k1"), c, 0)), "reopen");
    auto server = must(HubServer::start(ctx, *w, server_options()), "server reopened");
    (void)must(w->insert(spec("first"), {{"n1", "<0.2.0>"}}), "first write reopened");
    reopen_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  const std::string load = std::to_string(c.threads) + " threads";
  report.add({"inserts/s, k=1, " + load, k1.rate, "ops/s", "k=0, the same load", k0.rate, 0.5});
  report.add({"p50 insert latency, k=1", k1.p50_us, "us", "k=0", k0.p50_us, 0, true});
  report.add({"p99 insert latency, k=1", k1.p99_us, "us", "k=0", k0.p99_us, 0, true});
  report.add(
      {"promotion to first ack", promote_ms, "ms", "reopening the old writer", reopen_ms, 0, true});
  std::printf("failed inserts: k=0 %llu, k=1 %llu\n", static_cast<unsigned long long>(k0.failed),
              static_cast<unsigned long long>(k1.failed));
  report.print_markdown();
}

}  // namespace
}  // namespace procreg::bench

int main(int argc, char** argv) {
  procreg::bench::Config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--threads") {
      c.threads = std::stoi(value);
    } else if (flag == "--seconds") {
      c.seconds = std::stod(value);
    } else if (flag == "--durability") {
      c.durability =
          value == "sync" ? procreg::Durability::kSyncEach : procreg::Durability::kGroupCommit;
    } else if (flag == "--zero-fill-bytes") {
      c.zero_fill = std::stoull(value);
    } else {
      std::fprintf(stderr,
                   "usage: replication_bench [--threads T] [--seconds S] "
                   "[--durability group|sync] [--zero-fill-bytes B]\n");
      return 2;
    }
  }
  procreg::bench::run(c);
  return 0;
}
