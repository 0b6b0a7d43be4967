// procreg::replay: the writes of a replica's Registry, carried to the hub's writer.
//
// A Registry opened as a replica (RegistryAccess::open_replica) has no log: its projection is
// fed from the bus, and its write methods call a RemoteWriter, which plugin/ implements over
// the command channel (docs/PROTOCOL.md). Each method returns what the writer answered: the
// committed event's seq (or the seq the writer validated against when nothing changed), or
// the writer's error; kTimeout when no answer came within options.timeout.
//
// Thread safety: implementations are called from any application thread, concurrently.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "procreg/options.h"
#include "procreg/status.h"
#include "procreg/types.h"

namespace procreg::replay {

class RemoteWriter {
 public:
  virtual ~RemoteWriter() = default;
  virtual Result<std::uint64_t> insert(const ChildSpec& spec, const NodePids& node_pids,
                                       const InsertOptions& options) = 0;
  virtual Result<std::uint64_t> bulk_insert(const std::vector<Entry>& children,
                                            const WriteOptions& options) = 0;
  virtual Result<std::uint64_t> erase(const ChildId& child_id, const WriteOptions& options) = 0;
  virtual Result<std::uint64_t> bulk_delete(
      const std::vector<std::pair<ChildId, std::vector<NodeName>>>& children,
      const WriteOptions& options) = 0;
  // Writes `entry` for child_id if the writer's row still has `expect_revision` (the revision
  // the caller's update function saw); kConflict otherwise, kNotFound if the row is gone.
  virtual Result<std::uint64_t> update_if(const ChildId& child_id, std::uint64_t expect_revision,
                                          const Entry& entry, const WriteOptions& options) = 0;
  virtual Result<std::uint64_t> clear_all(const WriteOptions& options) = 0;
};

}  // namespace procreg::replay
