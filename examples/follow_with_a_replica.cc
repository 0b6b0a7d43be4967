// follow_with_a_replica: a Replica keeps an exact copy of a hub on another node. It answers
// every query from its own memory, and its writes go to the hub's writer over the command
// channel: a write returns once the writer committed it and this replica applied it, so the
// caller reads its own writes at once.
//
// The writer's side is the smallest one: a HubServer that binds its PUB socket itself (no
// proxy; writer_on_a_bus shows one). In a real deployment the writer and each replica are
// separate processes on separate machines; here they share one process and talk over tcp on
// 127.0.0.1 exactly as they would across the network.
//
//   follow_with_a_replica    (exit 0 when every check holds)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <zmq.hpp>

#include "procreg/hub_server.h"
#include "procreg/registry.h"
#include "procreg/replica.h"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("%-60s %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

int fail(const char* what, const procreg::Status& status) {
  std::fprintf(stderr, "follow_with_a_replica: %s: %s\n", what, status.to_string().c_str());
  return 1;
}

}  // namespace

int main() {
  namespace fs = std::filesystem;
  using std::chrono::seconds;
  const fs::path dir =
      fs::temp_directory_path() / ("procreg-replica-" + std::to_string(::getpid()));
  zmq::context_t context;

  // The writer (node n1) with some history, and its server on ephemeral tcp ports.
  procreg::RegistryOptions options;
  options.hub = "workers";
  options.log_dir = dir.string();
  options.local_node = "n1";
  auto writer = procreg::Registry::open(options);
  if (!writer.ok()) return fail("open", writer.status());
  for (int i = 0; i < 5; ++i) {
    auto seq = (*writer)->insert(procreg::make_spec("job-" + std::to_string(i)),
                                 {{"n1", "<0." + std::to_string(i) + ".0>"}});
    if (!seq.ok()) return fail("insert", seq.status());
  }
  auto server = procreg::HubServer::start(context, **writer, {});
  if (!server.ok()) return fail("server", server.status());

  // The replica (node n2): the three endpoints the writer's server bound.
  procreg::ReplicaOptions replica_options;
  replica_options.hub = options.hub;
  replica_options.local_node = "n2";
  replica_options.bus_endpoint = (*server)->publish_endpoint();
  replica_options.replay_endpoint = (*server)->replay_endpoint();
  replica_options.command_endpoint = (*server)->command_endpoint();  // "" = read-only
  auto started = procreg::Replica::start(context, replica_options);
  if (!started.ok()) return fail("replica", started.status());
  procreg::Replica& replica = **started;

  // It starts from a snapshot of the writer's state, then applies the events published after.
  check(replica.wait_caught_up(seconds(30)).ok(), "the replica caught up with the writer");
  procreg::Registry& registry = replica.registry();  // the same API as the writer's
  check(registry.dump().size() == 5, "it holds the 5 children written before it started");

  // A write through the replica: forwarded to the writer, committed there, applied here.
  procreg::InsertOptions insert;
  insert.metadata = {{"tag", procreg::Value("local")}};
  auto seq = registry.insert(procreg::make_spec("job-on-n2"), {{"n2", "<0.99.0>"}}, insert);
  check(seq.ok(), "insert through the replica");
  check(registry.get_pid("job-on-n2") == std::optional<procreg::Pid>("<0.99.0>"),
        "read-your-writes: the replica sees it at once");
  check(registry.local_children().size() == 1, "local_children on n2: job-on-n2");
  check((*writer)->get_pid("job-on-n2").has_value(), "the writer holds it too");

  // A write on the writer reaches the replica on the bus; wait_for(seq) bounds the wait.
  auto erased = (*writer)->erase("job-0");
  check(erased.ok() && replica.wait_for(*erased, seconds(30)).ok() && !registry.get_pid("job-0"),
        "a write on the writer reaches the replica");
  check(registry.dump_all() == (*writer)->dump_all(), "the replica equals the writer");
  std::printf("replica at seq %llu: %llu snapshot(s) loaded, %llu gap(s)\n",
              static_cast<unsigned long long>(replica.last_applied()),
              static_cast<unsigned long long>(replica.stats().snapshots_loaded),
              static_cast<unsigned long long>(replica.stats().gaps_detected));

  replica.stop();
  (*server)->stop();
  writer->reset();
  fs::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
