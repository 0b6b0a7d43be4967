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
  static HubServerOptions server_options(const Transport& t,
                                         std::chrono::milliseconds heartbeat = std::chrono::milliseconds(100)) {
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
// number of calls made.
inline int random_workload(Registry& r, std::uint32_t seed, int ops, int children = 200) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint32_t>(n)); };
  const std::vector<std::string> nodes{"n0", "n1", "n2", "n3"};
  for (int i = 0; i < ops; ++i) {
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
        (void)r.insert(make_spec(id), {{nodes[pick(4)], "<" + std::to_string(i) + ">"}}, io);
        break;
      }
      case 2: {
        std::vector<Entry> batch;
        for (int k = 0; k < 1 + pick(5); ++k) {
          batch.push_back(Entry{make_spec("c" + std::to_string(pick(children))),
                                {{nodes[pick(4)], "<b" + std::to_string(i) + ">"}},
                                {}});
        }
        (void)r.bulk_insert(batch, wo);
        break;
      }
      case 3:
        (void)r.erase(id, wo);
        break;
      case 4:
        (void)r.bulk_delete({{id, {nodes[pick(4)]}}}, wo);
        break;
      case 5:
        if (pick(20) == 0) {
          (void)r.clear_all(wo);
        } else {
          (void)r.update(id, [&](const ChildSpec& s, const NodePids& np, const Metadata& md) {
            Metadata next = md;
            next["n"] = i;
            return Entry{s, np, next};
          }, wo);
        }
        break;
    }
  }
  return ops;
}

// Every table of `replica` equals the writer's.
inline void check_converged(const Registry& writer, const Replica& replica) {
  BOOST_REQUIRE_MESSAGE(replica.wait_for(writer.last_sequence(), kWait).ok(),
                        "replica at " << replica.last_applied() << ", writer at "
                                      << writer.last_sequence());
  BOOST_TEST(replica.last_applied() == writer.last_sequence());
  BOOST_TEST((replica.registry().dump_all_tables() == writer.dump_all_tables()));
}

}  // namespace procreg::testing
