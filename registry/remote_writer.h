// procreg::replay: the writes of a replica's Registry, carried to the hub's writer.
//
// A Registry opened as a replica (RegistryAccess::open_replica) has no log: its projection is
// fed from the bus, and its write methods call a RemoteWriter, which plugin/ implements over
// the command channel (docs/PROTOCOL.md). Each method returns what the writer answered: the
// committed event's seq (or the seq the writer validated against when nothing changed), or
// the writer's error; kTimeout when no answer came within options.timeout. A replica waits
// until it applied that seq of that epoch before the write returns (read-your-writes).
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

// What the writer answered: the seq of the committed event (or the seq it validated against,
// when nothing changed) in the log `epoch`.
struct RemoteCommit {
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
};

class RemoteWriter {
 public:
  virtual ~RemoteWriter() = default;
  virtual Result<RemoteCommit> insert(const ChildSpec& spec, const NodePids& node_pids,
                                      const InsertOptions& options) = 0;
  virtual Result<RemoteCommit> bulk_insert(const std::vector<Entry>& children,
                                           const WriteOptions& options) = 0;
  virtual Result<RemoteCommit> erase(const ChildId& child_id, const WriteOptions& options) = 0;
  virtual Result<RemoteCommit> bulk_delete(
      const std::vector<std::pair<ChildId, std::vector<NodeName>>>& children,
      const WriteOptions& options) = 0;
  // Writes `entry` for child_id if the writer's row still has `expect_revision` (the revision
  // the caller's update function saw); kConflict otherwise, kNotFound if the row is gone.
  virtual Result<RemoteCommit> update_if(const ChildId& child_id, std::uint64_t expect_revision,
                                         const Entry& entry, const WriteOptions& options) = 0;
  virtual Result<RemoteCommit> clear_all(const WriteOptions& options) = 0;
  virtual Result<RemoteCommit> node_down(const NodeName& node, const WriteOptions& options) = 0;
};

}  // namespace procreg::replay
