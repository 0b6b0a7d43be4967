// Shared pieces of the bus tests: a writer Registry with its HubServer on chosen transports, a
// random ProcessHub-like workload, and bounded waits.
//
// Thread safety: a fixture belongs to its test's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <zmq.hpp>

#include "procreg/hub_server.h"
#include "procreg/registry.h"
#include "procreg/replica.h"
#include "temp_dir.h"

namespace procreg::testing {

inline constexpr std::chrono::milliseconds kWait{20'000};

// Polls `done` every 5 ms until it holds or `limit` passes.
template <typename F>
bool eventually(F done, std::chrono::milliseconds limit = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Endpoints of one transport for a writer: where its three sockets bind.
struct Transport {
  std::string name;
  std::string publish, replay, command;
};

inline Transport tcp_transport() {
  return {"tcp", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*"};
}
inline Transport ipc_transport(const TempDir& dir) {
  return {"ipc", "ipc://" + dir.file("pub"), "ipc://" + dir.file("replay"),
          "ipc://" + dir.file("cmd")};
}
inline Transport inproc_transport(const std::string& tag) {
  return {"inproc", "inproc://pub-" + tag, "inproc://replay-" + tag, "inproc://cmd-" + tag};
}

inline RegistryOptions writer_options(const std::string& dir, const std::string& hub = "hub") {
  RegistryOptions o;
  o.hub = hub;
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = Durability::kNone;
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

// writer_options with 8 KiB segments, one snapshot kept and compaction: a log with several
// segments and files that come and go.
inline RegistryOptions compacting_options(const std::string& dir) {
  RegistryOptions o = writer_options(dir);
  o.log.segment_bytes = 8 << 10;
  o.snapshots.every_bytes = 0;
  o.snapshots.keep = 1;
  o.snapshots.compact = true;
  return o;
}

// A writer and its server.
struct Writer {
  std::unique_ptr<Registry> registry;
  std::unique_ptr<HubServer> server;

  static Writer open(zmq::context_t& ctx, const RegistryOptions& ro, HubServerOptions so) {
    Writer w;
    auto r = Registry::open(ro);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    w.registry = std::move(*r);
    auto s = HubServer::start(ctx, *w.registry, so);
    BOOST_REQUIRE_MESSAGE(s.ok(), s.status().to_string());
    w.server = std::move(*s);
    return w;
  }
  static HubServerOptions server_options(
      const Transport& t, std::chrono::milliseconds heartbeat = std::chrono::milliseconds(100)) {
    HubServerOptions so;
    so.publish_endpoint = t.publish;
    so.replay_endpoint = t.replay;
    so.command_endpoint = t.command;
    so.heartbeat_interval = heartbeat;
    return so;
  }
  ReplicaOptions replica_options(const std::string& bus, const std::string& node = "n1") const {
    ReplicaOptions o;
    o.hub = registry->hub();
    o.local_node = node;
    o.bus_endpoint = bus;
    o.replay_endpoint = server->replay_endpoint();
    o.command_endpoint = server->command_endpoint();
    o.request_timeout = std::chrono::milliseconds(1'000);
    return o;
  }
};

inline std::unique_ptr<Replica> start_replica(zmq::context_t& ctx, const ReplicaOptions& o) {
  auto r = Replica::start(ctx, o);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(*r);
}

// A random workload over every mutation kind, hooks on and off, two tables. Returns the
// number of writes made. With `batched`, the writes go to Registry::write in batches of 1 to
// 40, so that the writer publishes runs of them as event batches.
inline int random_workload(Registry& r, std::uint32_t seed, int ops, int children = 200,
                           bool batched = false) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint32_t>(n)); };
  const std::vector<std::string> nodes{"n0", "n1", "n2", "n3"};
  WriteBatch batch;
  std::size_t batch_size = 1;
  // The target of each write: the registry itself, or the batch being filled.
  struct Target {
    Registry& r;
    WriteBatch* b;
    void insert(ChildSpec s, NodePids np, const InsertOptions& o) {
      if (b) {
        b->insert(std::move(s), std::move(np), o);
      } else {
        (void)r.insert(std::move(s), std::move(np), o);
      }
    }
    void bulk_insert(std::vector<Entry> e, const WriteOptions& o) {
      if (b) {
        b->bulk_insert(std::move(e), o);
      } else {
        (void)r.bulk_insert(e, o);
      }
    }
    void erase(const std::string& id, const WriteOptions& o) {
      if (b) {
        b->erase(id, o);
      } else {
        (void)r.erase(id, o);
      }
    }
    void bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> d,
                     const WriteOptions& o) {
      if (b) {
        b->bulk_delete(std::move(d), o);
      } else {
        (void)r.bulk_delete(d, o);
      }
    }
    void clear_all(const WriteOptions& o) {
      if (b) {
        b->clear_all(o);
      } else {
        (void)r.clear_all(o);
      }
    }
    void update(const std::string& id, WriteBatch::UpdateFn fn, const WriteOptions& o) {
      if (b) {
        b->update(id, std::move(fn), o);
      } else {
        (void)r.update(id, std::move(fn), o);
      }
    }
  } r_or_batch{r, batched ? &batch : nullptr};
  auto flush = [&] {
    if (batch.empty()) return;
    (void)r.write(std::move(batch));
    batch = WriteBatch();
    batch_size = 1 + static_cast<std::size_t>(pick(40));
  };
  for (int i = 0; i < ops; ++i) {
    if (batched && batch.size() >= batch_size) flush();
    WriteOptions wo;
    wo.hooks = pick(2) == 0;
    wo.table = pick(4) == 0 ? "other" : "";
    const std::string id = "c" + std::to_string(pick(children));
    switch (pick(6)) {
      case 0:
      case 1: {
        InsertOptions io;
        static_cast<WriteOptions&>(io) = wo;
        if (pick(3) == 0) io.metadata["tag"] = "t" + std::to_string(pick(5));
        r_or_batch.insert(make_spec(id), {{nodes[pick(4)], "<" + std::to_string(i) + ">"}}, io);
        break;
      }
      case 2: {
        std::vector<Entry> entries;
        for (int k = 0; k < 1 + pick(5); ++k) {
          entries.push_back(Entry{make_spec("c" + std::to_string(pick(children))),
                                  {{nodes[pick(4)], "<b" + std::to_string(i) + ">"}},
                                  {}});
        }
        r_or_batch.bulk_insert(std::move(entries), wo);
        break;
      }
      case 3:
        r_or_batch.erase(id, wo);
        break;
      case 4:
        r_or_batch.bulk_delete({{id, {nodes[pick(4)]}}}, wo);
        break;
      case 5:
        if (pick(20) == 0) {
          r_or_batch.clear_all(wo);
        } else {
          r_or_batch.update(
              id,
              [i](const ChildSpec& s, const NodePids& np, const Metadata& md) {
                Metadata next = md;
                next["n"] = i;
                return Entry{s, np, next};
              },
              wo);
        }
        break;
    }
  }
  flush();
  return ops;
}

// Every table of `replica` equals the writer's.
inline void check_converged(const Registry& writer, const Replica& replica) {
  BOOST_REQUIRE_MESSAGE(
      replica.wait_for(writer.last_sequence(), kWait).ok(),
      "replica at " << replica.last_applied() << ", writer at " << writer.last_sequence());
  BOOST_TEST(replica.last_applied() == writer.last_sequence());
  BOOST_TEST((replica.registry().dump_all_tables() == writer.dump_all_tables()));
}

}  // namespace procreg::testing
