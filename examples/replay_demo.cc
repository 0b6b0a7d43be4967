// procreg's first demo: a hub's writer runs a ProcessHub-like workload (children started on
// three nodes, one migrated, some stopped, a node going down, a hook subscriber watching),
// then the log is replayed into a fresh read-only registry and reopened by a new writer, and
// both are compared with the live registry.
//
//   replay_demo [LOG_DIR]    (default: a new temporary directory, removed at the end)
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "procreg/registry.h"

namespace {

using procreg::Registry;

int fail(const char* what, const procreg::Status& status) {
  std::fprintf(stderr, "replay_demo: %s: %s\n", what, status.to_string().c_str());
  return 1;
}

std::string pid(int n) { return "<0." + std::to_string(n) + ".0>"; }

// Starts 30 children round-robin on n1..n3 (tagged by kind), migrates one, stops three and
// takes node n3 down (its rows lose n3's pairs; rows left empty become tombstones).
procreg::Status workload(Registry& registry) {
  procreg::WriteOptions hooks;
  hooks.hooks = true;
  std::vector<procreg::Entry> started;
  for (int i = 0; i < 30; ++i) {
    procreg::Metadata md{{"tag", procreg::Value(i % 2 == 0 ? "worker" : "cache")}};
    started.push_back({procreg::make_spec("child-" + std::to_string(i), "Elixir.Demo.Worker",
                                          "start_link", {procreg::Value(i)}),
                       {{"n" + std::to_string(1 + i % 3), pid(i)}},
                       md});
  }
  if (auto s = registry.bulk_insert(started, hooks); !s.ok()) return s.status();
  // Migrate child-0 from n1 to n2: register on the new node, then remove the old pair.
  procreg::Entry moved = started[0];
  moved.node_pids = {{"n2", pid(100)}};
  if (auto s = registry.bulk_insert({moved}, hooks); !s.ok()) return s.status();
  if (auto s = registry.bulk_delete({{"child-0", {"n1"}}}, hooks); !s.ok()) return s.status();
  // Stop three children.
  if (auto s = registry.bulk_delete({{"child-4", {"n2"}}, {"child-7", {"n2"}}, {"child-9", {"n1"}}},
                                    hooks);
      !s.ok()) {
    return s.status();
  }
  // Node n3 goes down: every row loses its n3 pairs.
  std::vector<std::pair<procreg::ChildId, std::vector<procreg::NodeName>>> down;
  for (const auto& [id, entry] : registry.dump()) down.push_back({id, {"n3"}});
  if (auto s = registry.bulk_delete(down, hooks); !s.ok()) return s.status();
  return procreg::Status();
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const bool temporary = argc < 2;
  const fs::path dir =
      temporary ? fs::temp_directory_path() / ("procreg-demo-" + std::to_string(::getpid()))
                : fs::path(argv[1]);
  procreg::RegistryOptions options;
  options.hub = "demo";
  options.log_dir = dir.string();
  options.local_node = "n1";

  procreg::Dump live;
  std::uint64_t last = 0;
  std::size_t hooks_seen = 0;
  {
    auto opened = Registry::open(options);
    if (!opened.ok()) return fail("open", opened.status());
    Registry& registry = **opened;
    auto on_register = registry.subscribe(procreg::HookTopic::kChildRegistered,
                                          [&](const procreg::HookEvent&) { ++hooks_seen; });
    auto on_unregister = registry.subscribe(procreg::HookTopic::kChildUnregistered,
                                            [&](const procreg::HookEvent&) { ++hooks_seen; });
    if (auto s = workload(registry); !s.ok()) return fail("workload", s);
    last = registry.last_sequence();
    if (auto s = registry.wait_for_hooks(last, std::chrono::seconds(10)); !s.ok()) {
      return fail("hooks", s);
    }
    live = registry.dump_all();
    std::printf(
        "writer:   %zu rows (%zu bound), %llu events, %zu hook events, "
        "%zu children on local node %s\n",
        live.size(), registry.dump().size(), static_cast<unsigned long long>(last), hooks_seen,
        registry.local_children().size(), options.local_node.c_str());
  }

  auto replayed = Registry::open_replay({options.log_dir, options.local_node, 0});
  if (!replayed.ok()) return fail("replay", replayed.status());
  const bool replay_equal = (*replayed)->dump_all() == live;
  auto reopened = Registry::open(options);
  if (!reopened.ok()) return fail("reopen", reopened.status());
  const bool reopen_equal = (*reopened)->dump_all() == live;
  auto first_half = Registry::open_replay({options.log_dir, options.local_node, last / 2});
  if (!first_half.ok()) return fail("replay as of", first_half.status());

  std::printf("replayed: %zu rows, equal to the live registry: %s\n",
              (*replayed)->dump_all().size(), replay_equal ? "yes" : "NO");
  std::printf("reopened: %zu rows, equal to the live registry: %s\n",
              (*reopened)->dump_all().size(), reopen_equal ? "yes" : "NO");
  std::printf("as of sequence %llu: %zu rows\n", static_cast<unsigned long long>(last / 2),
              (*first_half)->dump_all().size());
  for (const auto& [id, pids] : (*reopened)->match_tag("worker")) {
    if (id == "child-0") std::printf("child-0 migrated to %s\n", pids.front().node.c_str());
  }
  reopened->reset();
  if (temporary) fs::remove_all(dir);
  return replay_equal && reopen_equal ? 0 : 1;
}
