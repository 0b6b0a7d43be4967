// registry_basics: one process, one hub, no network. Opens a registry on a log directory,
// writes to it the way ProcessHub does (insert, bulk_insert, update, erase, a node going down),
// reads it back, and watches the hook events. Every write is an event in the log before it is
// visible; a reopened registry rebuilds the same state from that log.
//
//   registry_basics    (exit 0 when every check holds; the log lives in a temporary directory)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "procreg/registry.h"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("%-58s %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

// ProcessHub's calls, each checked; every write is one event in the log.
void writes_and_reads(procreg::Registry& registry) {
  // insert: one child on one node, with a tag in its metadata. Returns the event's seq.
  procreg::InsertOptions insert;
  insert.hooks = true;
  insert.metadata = {{"tag", procreg::Value("db")}};
  auto seq = registry.insert(procreg::make_spec("db-1", "Elixir.MyApp.Db", "start_link"),
                             {{"n1", "<0.100.0>"}}, insert);
  check(seq.ok() && *seq == 1, "insert db-1 is event 1");

  // bulk_insert: many children in one event.
  procreg::WriteOptions hooks;
  hooks.hooks = true;
  std::vector<procreg::Entry> web;
  for (int i = 0; i < 3; ++i) {
    web.push_back({procreg::make_spec("web-" + std::to_string(i)),
                   {{"n" + std::to_string(1 + i % 2), "<0." + std::to_string(200 + i) + ".0>"}},
                   {{"tag", procreg::Value("web")}}});
  }
  check(registry.bulk_insert(web, hooks).ok(), "bulk_insert web-0..2");

  // Reads answer from memory and see every acknowledged write.
  check(registry.get_pid("db-1") == std::optional<procreg::Pid>("<0.100.0>"), "get_pid db-1");
  check(registry.match_tag("web").size() == 3, "match_tag web: 3 children");
  check(registry.local_children().size() == 3, "on the local node n1: db-1, web-0, web-2");

  // update: read-modify-write of one row, atomic with respect to other writes.
  auto updated = registry.update(
      "db-1",
      [](const procreg::ChildSpec& spec, const procreg::NodePids& np, const procreg::Metadata& md) {
        procreg::Metadata more = md;
        more["version"] = procreg::Value(2);
        return procreg::Entry{spec, np, more};
      });
  procreg::LookupOptions with_metadata;
  with_metadata.with_metadata = true;
  const auto db = registry.lookup("db-1", with_metadata);
  check(updated.ok() && db && db->metadata && db->metadata->count("version") == 1,
        "update db-1's metadata, lookup sees it");

  // erase (ProcessHub's delete) stops one child; node_down removes every pair on a node
  // (and always fires child_unregistered for the children it affects).
  check(registry.erase("web-0", hooks).ok(), "erase web-0");
  check(registry.node_down("n2").ok() && !registry.get_pid("web-1"), "node n2 down: web-1 gone");
}

}  // namespace

int main() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("procreg-basics-" + std::to_string(::getpid()));

  // A hub is one registry with its own log. The node names the process this registry runs
  // on (the local_* queries use it); pids are whatever your runtime calls a process.
  procreg::RegistryOptions options;
  options.hub = "workers";
  options.log_dir = dir.string();
  options.local_node = "n1";
  procreg::Dump before;
  {
    auto opened = procreg::Registry::open(options);  // creates the log, or replays it
    if (!opened.ok()) {
      std::fprintf(stderr, "open: %s\n", opened.status().to_string().c_str());
      return 1;
    }
    procreg::Registry& registry = **opened;

    // Hooks: handlers run on the registry's hook thread after the event is durable, only for
    // writes that ask for them (hooks = true, ProcessHub's :hook_storage).
    std::vector<std::string> seen;  // written by the hook thread, read after wait_for_hooks
    auto on_up =
        registry.subscribe(procreg::HookTopic::kChildRegistered,
                           [&](const procreg::HookEvent& e) { seen.push_back("+" + e.child_id); });
    auto on_down =
        registry.subscribe(procreg::HookTopic::kChildUnregistered,
                           [&](const procreg::HookEvent& e) { seen.push_back("-" + e.child_id); });

    writes_and_reads(registry);

    // Hook events are asynchronous: wait until those of every event so far were handled.
    const std::uint64_t last = registry.last_sequence();
    check(registry.wait_for_hooks(last, std::chrono::seconds(10)).ok(), "hooks delivered");
    check(
        seen == std::vector<std::string>{"+db-1", "+web-0", "+web-1", "+web-2", "-web-0", "-web-1"},
        "hook events: 4 registered, 2 unregistered, in order");
    before = registry.dump_all();
    std::printf("%llu events, %zu rows\n", static_cast<unsigned long long>(last), before.size());
  }  // closing the registry syncs and closes its log

  // The log is the registry: opening it again replays it into the same state.
  auto reopened = procreg::Registry::open(options);
  check(reopened.ok() && (*reopened)->dump_all() == before, "reopened from the log: the same rows");
  if (reopened.ok()) reopened->reset();  // close before removing the directory
  fs::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
