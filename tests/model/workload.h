// Seeded random workloads for the registry model check: every API call as data (an Op), so
// that a failing sequence can be replayed, shortened and printed.
//
// The generator draws ids, nodes and pids from small pools so that calls collide: rows that
// list a node twice, identical and permuted re-registrations, renames by update onto existing
// rows, TTL rows, pending rows and tombstones, two tables. Ops are independent of any state,
// so any subsequence is itself a valid workload.
//
// Thread safety: value types; a Generator belongs to one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "procreg/options.h"
#include "procreg/types.h"

namespace procreg::model {

enum class OpKind {
  // writes
  kInsert,
  kBulkInsert,
  kErase,
  kBulkDelete,
  kUpdate,
  kClearAll,
  kNodeDown,
  // the writer's clock and janitor (not for the command line: its clock is real)
  kJanitor,
  kAdvance,
  // reads
  kLookup,
  kGetPid,
  kGetPids,
  kLocalPid,
  kEntryExists,
  kDump,
  kDumpAll,
  kMatchTag,
  kProcessList,
  kContains,
  kLocalData,
  kLocalChildren,
  kLocalChildSpecs,
  kRegistry,
};

struct Op {
  OpKind kind = OpKind::kDump;
  std::string table;  // "" = the hub's own table
  bool hooks = false;
  // insert
  ChildSpec spec;
  NodePids node_pids;
  Metadata metadata;
  std::optional<std::int64_t> ttl_ms;
  // bulk_insert, bulk_delete
  std::vector<Entry> entries;
  std::vector<std::pair<ChildId, std::vector<NodeName>>> deletes;
  // erase, update, reads by id
  ChildId child_id;
  // update: the function returns the current row with these parts replaced, or throws
  std::optional<ChildSpec> new_spec;
  std::optional<NodePids> new_node_pids;
  std::optional<Metadata> new_metadata;
  bool update_throws = false;
  // node_down
  NodeName node;
  // advance
  std::int64_t advance_ms = 0;
  // reads
  std::string tag;
  std::vector<ChildId> ids;
  bool with_metadata = false;
  Scope scope = Scope::kGlobal;

  bool is_write() const { return kind <= OpKind::kNodeDown; }
};

// The op as one line of C++-like call syntax, for failure reports.
std::string describe(const Op& op);

// Canonical text of values: equal text, equal value (for comparisons and reports).
std::string text(const NodePids& pairs);
std::string text(const ChildSpec& spec);
std::string text(const Entry& entry);

// What an update op's function returns for the row (spec, node_pids, metadata): the row with
// the op's parts replaced. Throws std::runtime_error when op.update_throws.
Entry update_result(const Op& op, const ChildSpec& spec, const NodePids& node_pids,
                    const Metadata& metadata);

class Generator {
 public:
  // for_cli: only what `procreg call` can express (no clock, janitor or throwing update).
  Generator(std::uint64_t seed, bool for_cli);
  Op next();

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return pick(0, 99) < percent; }
  ChildId id();
  NodePid pair();
  NodePids pairs();
  Metadata metadata();
  ChildSpec spec(const ChildId& id);
  Entry entry();
  std::string table();
  Op write(OpKind kind);
  Op read(OpKind kind);

  std::mt19937_64 rng_;
  bool for_cli_;
  std::vector<Entry> recent_;  // entries written before: re-sent as they were or changed
};

}  // namespace procreg::model
