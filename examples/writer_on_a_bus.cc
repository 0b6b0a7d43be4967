// writer_on_a_bus: a hub's writer on a ZeroMQ bus. The registry is opened as the hub's writer,
// as in registry_basics; a HubServer then publishes every committed event, serves the history
// to late joiners (the replay service) and takes writes from other nodes (the command channel).
//
// The bus here is an XSUB/XPUB proxy (BusProxy), so that many writers and readers meet at two
// well-known endpoints: publishers connect to its frontend, subscribers to its backend. Without
// a proxy, the HubServer binds its PUB socket itself (follow_with_a_replica does that).
//
// To check the result, a Replica (what another node would run) follows the hub through the
// proxy and must end up with the writer's rows.
//
//   writer_on_a_bus    (everything on 127.0.0.1, ephemeral ports; exit 0 when the replica
//                       holds what the writer wrote)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <zmq.hpp>

#include "procreg/bus_proxy.h"
#include "procreg/hub_server.h"
#include "procreg/registry.h"
#include "procreg/replica.h"

namespace {

int fail(const char* what, const procreg::Status& status) {
  std::fprintf(stderr, "writer_on_a_bus: %s: %s\n", what, status.to_string().c_str());
  return 1;
}

}  // namespace

int main() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("procreg-bus-" + std::to_string(::getpid()));
  zmq::context_t context;  // procreg uses the application's context

  // 1. The bus: "tcp://127.0.0.1:*" binds ephemeral ports; a real deployment names its own.
  auto proxy = procreg::BusProxy::start(context);
  if (!proxy.ok()) return fail("proxy", proxy.status());

  // 2. The hub's writer: the only process that appends to the hub's log.
  procreg::RegistryOptions options;
  options.hub = "workers";
  options.log_dir = dir.string();
  options.local_node = "n1";
  auto writer = procreg::Registry::open(options);
  if (!writer.ok()) return fail("open", writer.status());

  // 3. Its server: the PUB socket connects to the proxy's frontend; the replay service and the
  // command channel bind their own endpoints (ephemeral here; see command_endpoint()).
  procreg::HubServerOptions server_options;
  server_options.publish_connect = true;
  server_options.publish_endpoint = (*proxy)->frontend_endpoint();
  server_options.heartbeat_interval = std::chrono::milliseconds(200);
  auto server = procreg::HubServer::start(context, **writer, server_options);
  if (!server.ok()) return fail("server", server.status());
  std::printf("bus: publishers at %s, subscribers at %s\nreplay service at %s\n",
              (*proxy)->frontend_endpoint().c_str(), (*proxy)->backend_endpoint().c_str(),
              (*server)->replay_endpoint().c_str());

  // 4. Writes go to the registry as usual; the server publishes each once it is committed.
  for (int i = 0; i < 10; ++i) {
    auto seq = (*writer)->insert(procreg::make_spec("job-" + std::to_string(i)),
                                 {{"n1", "<0." + std::to_string(i) + ".0>"}});
    if (!seq.ok()) return fail("insert", seq.status());
  }
  const std::uint64_t last = (*writer)->last_sequence();

  // 5. The check: a replica subscribed at the proxy's backend catches up (the events written
  // before it joined come from the replay service) and applies everything up to `last`.
  procreg::ReplicaOptions follower;
  follower.hub = options.hub;
  follower.local_node = "n2";
  follower.bus_endpoint = (*proxy)->backend_endpoint();
  follower.replay_endpoint = (*server)->replay_endpoint();
  auto replica = procreg::Replica::start(context, follower);
  const bool same = replica.ok() && (*replica)->wait_for(last, std::chrono::seconds(30)).ok() &&
                    (*replica)->registry().dump_all() == (*writer)->dump_all();
  std::printf("writer at seq %llu, %llu events published; the replica holds the same rows: %s\n",
              static_cast<unsigned long long>(last),
              static_cast<unsigned long long>((*server)->stats().events_published),
              same ? "yes" : "NO");

  // Stop in reverse order: readers, then the server, then the writer (closing its log).
  if (replica.ok()) (*replica)->stop();
  (*server)->stop();
  writer->reset();
  (*proxy)->stop();
  fs::remove_all(dir);
  return same ? 0 : 1;
}
