// The registry's executable specification: one hub's registry as plain maps, written from
// docs/SEMANTICS.md and the seed API (ProcessHub's ProcessRegistry) alone. It shares no code
// with the library's engine (events/, replay/, plugin/): only the public value types of
// include/procreg. Its methods have the Registry's names, arguments and results, so a test
// can make the same call on both and compare (tests/model/checker.h).
//
// Simple over fast: every call copies what it reads. Hook events are recorded, with the
// sequence number of the event that fires them, in firing order.
//
// Thread safety: none; one thread drives a model.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "procreg/hooks.h"
#include "procreg/options.h"
#include "procreg/status.h"
#include "procreg/types.h"

namespace procreg::model {

struct ModelOptions {
  std::string hub = "hub";
  std::string local_node = "n0";
  std::int64_t tombstone_ttl_ms = 30'000;
  std::int64_t pending_ttl_ms = 600'000;
  std::function<std::int64_t()> clock;  // the writer's clock (ms)
};

class RegistryModel {
 public:
  using UpdateFn = std::function<Entry(const ChildSpec&, const NodePids&, const Metadata&)>;

  explicit RegistryModel(ModelOptions options);

  // ---- writes: the seq of the event written, or the last seq when none is
  Result<std::uint64_t> insert(ChildSpec spec, NodePids node_pids, const InsertOptions& options);
  Result<std::uint64_t> bulk_insert(std::vector<Entry> children, const WriteOptions& options);
  Result<std::uint64_t> erase(std::string_view child_id, const WriteOptions& options);
  Result<std::uint64_t> bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> children,
                                    const WriteOptions& options);
  Result<std::uint64_t> update(std::string_view child_id, const UpdateFn& fn,
                               const WriteOptions& options);
  Result<bool> clear_all(const WriteOptions& options);
  Result<std::uint64_t> node_down(std::string_view node, const WriteOptions& options);
  Result<std::size_t> run_janitor();

  // ---- reads
  std::vector<ChildId> contains_children(const std::vector<ChildId>& ids,
                                         const ReadOptions& options) const;
  Dump dump(const ReadOptions& options) const;
  Dump dump_all(const ReadOptions& options) const;
  bool entry_exists(std::string_view child_id, const ReadOptions& options) const;
  std::optional<Pid> get_pid(std::string_view child_id, const ReadOptions& options) const;
  std::vector<Pid> get_pids(std::string_view child_id, const ReadOptions& options) const;
  std::vector<ChildSpec> local_child_specs(const ReadOptions& options) const;
  Dump local_children(const ReadOptions& options) const;
  std::vector<std::pair<ChildId, Entry>> local_data(const ReadOptions& options) const;
  std::optional<Pid> local_pid(std::string_view child_id, const ReadOptions& options) const;
  std::optional<Lookup> lookup(std::string_view child_id, const LookupOptions& options) const;
  ChildNodePids match_tag(std::string_view tag, const ReadOptions& options) const;
  ChildNodePids process_list(Scope scope, const ReadOptions& options) const;
  RegistryMap registry(const ReadOptions& options) const;

  std::uint64_t last_sequence() const { return seq_; }
  // Every table that ever held a row, by name (the hub's own table is named after the hub).
  std::map<std::string, Dump> dump_all_tables() const;
  const std::vector<HookEvent>& hooks() const { return hooks_; }

 private:
  struct Row {
    Entry entry;
    std::optional<std::int64_t> expires_at_ms;  // none: a permanent row
    bool operator==(const Row&) const = default;
  };
  using Table = std::map<ChildId, Row, std::less<>>;

  std::string table_name(const std::string& table) const;
  Table& table(const std::string& name) { return tables_[table_name(name)]; }
  const Table* find_table(const std::string& name) const;
  const Row* find(const std::string& table, std::string_view id) const;
  const Row* find_bound(const std::string& table, std::string_view id) const;
  // Ends a write: a new event when `write` is true, then its hooks with that event's seq.
  std::uint64_t commit(bool write, std::vector<HookEvent> hooks);
  HookEvent hook(HookTopic topic, const std::string& table, ChildId id, NodePids pairs) const;

  ModelOptions options_;
  std::map<std::string, Table> tables_;
  std::uint64_t seq_ = 0;
  std::vector<HookEvent> hooks_;
};

}  // namespace procreg::model
