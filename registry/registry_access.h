// procreg::replay: what plugin/ needs of a Registry beyond its public API: the writer's
// committed events in order (to publish them), its state (to serve snapshots) and log (to
// serve ranges), conditional updates (remote update), and the replica mode: a Registry with
// no log, fed from the bus, whose writes go to the hub's writer through a RemoteWriter.
//
// Thread safety: as each function says; every one may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "procreg/event.h"
#include "procreg/hooks.h"
#include "procreg/registry.h"
#include "registry/remote_writer.h"
#include "state/pages.h"
#include "state/projection.h"

namespace procreg::replay {

struct ReplicatedEvent;  // registry/replica_writer.h

// One committed (durable and applied) event of a writer, as the listener sees it.
struct CommittedEvent {
  std::uint64_t seq;
  std::uint64_t epoch;
  const std::string& table;
  std::string_view encoded;             // the EVENT_FORMAT bytes, exactly the log record's payload
  const std::vector<HookEvent>& hooks;  // empty unless written with hooks on
};
// Called with every committed event in sequence order, on the thread that applied them, with
// the writer's apply lock held: it must not block and must not call back into the Registry.
// One call passes the events applied together (one write, a batch, a commit group), in order;
// the next call continues with the next seq.
using CommitListener = std::function<void(std::span<const CommittedEvent>)>;

// The writer's position when a listener was attached: the next event the listener gets is
// seq + 1, and the chains of docs/PROTOCOL.md continue from these heads.
struct ChainHeads {
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::map<std::string, std::uint64_t, std::less<>> tables;  // last seq of each table
  std::uint64_t registered = 0;
  std::uint64_t unregistered = 0;
};

// A paged read (docs/PROTOCOL.md, "Reads"): which rows, from where, how many.
struct PageQuery {
  std::string table;  // "" = the hub's default table; with all_tables, the table `from` is in
  PageSource source = PageSource::kAll;
  std::string tag;                   // kTagged
  bool bound_only = false;           // only rows with pairs (dump, registry, process_list)
  bool local_pid = false;            // only rows with a non-empty pid on the local node
  bool all_tables = false;           // every table, in name order, one table per page
  std::optional<PagePosition> from;  // empty: the first page
  PageLimits limits;
};
// One page: rows of one table, and where the next page starts (the table, with all_tables,
// and the position in it; an empty position: the table's first page).
struct RowsPage {
  std::string table;
  std::vector<std::pair<ChildId, Entry>> rows;
  bool more = false;
  std::string next_table;
  std::optional<PagePosition> next;
  std::uint64_t seq = 0;  // the state read: the last applied seq, of epoch `epoch`
  std::uint64_t epoch = 0;
};

class RegistryAccess {
 public:
  // ---- any registry ----
  // One page of a read, under the projection's shared lock. kInvalidArgument for a position
  // that is not of this registry's table (another node's, or from before a resync).
  static Result<RowsPage> read_page(const Registry& r, const PageQuery& query);
  // lookup with metadata, and the row's revision (the seq of the event that last wrote it):
  // what a remote update reads.
  struct RowAt {
    Lookup lookup;
    std::uint64_t revision = 0;
  };
  static std::optional<RowAt> lookup_revision(const Registry& r, const std::string& table,
                                              std::string_view child_id);

  // ---- a writer ----
  // Attaches `listener`: `start(heads)` runs first, with the heads at that instant, under the
  // same lock the listener is called with, so no event can come between the two. kUnavailable
  // if a listener is attached already (one publisher per writer). Returns a token for detach.
  static Result<std::uint64_t> attach_commit_listener(
      Registry& r, CommitListener listener, const std::function<void(const ChainHeads&)>& start);
  // Detaches the listener attached with `token` (another one stays). After it returns, the
  // listener is not running and will not be called again.
  static void detach_commit_listener(Registry& r, std::uint64_t token);
  // Runs f(projection) under the projection's shared lock (no event is applied meanwhile).
  static void read_projection(const Registry& r, const std::function<void(const Projection&)>& f);
  static const std::string& log_dir(const Registry& r);
  static std::uint32_t max_record_bytes(const Registry& r);
  // A writer's: what its disk holds (a standby may copy up to it), and a standby's
  // acknowledgement that its copy holds every record up to `seq` (registry/replication.h).
  // 0 and nothing for another registry.
  static std::uint64_t local_durable_seq(const Registry& r);
  // A writer's Log::written_seq(): what a standby copying ahead may copy (0 for another registry).
  static std::uint64_t written_seq(const Registry& r);
  // A writer's Log::local_wake_fd() and Log::arm_local_wake(); -1 and nothing for another
  // registry.
  static int local_wake_fd(Registry& r);
  static void arm_local_wake(Registry& r);
  // A writer's: the incarnation of the record before its incarnation_start_seq() (0: none or
  // unknown).
  static std::uint64_t prev_incarnation(const Registry& r);
  static void standby_ack(Registry& r, const std::string& standby, std::uint64_t seq);
  // update's remote form: writes `entry` if child_id's row still has revision expect_revision
  // (kConflict otherwise; kNotFound without a bound row); otherwise as Registry::update. On a
  // replica it goes to the hub's writer and returns once the replica applied it.
  static Result<std::uint64_t> update_if(Registry& r, std::string_view child_id,
                                         std::uint64_t expect_revision, Entry entry,
                                         const WriteOptions& options);

  // ---- a replica ----
  static std::unique_ptr<Registry> open_replica(std::string hub, std::string local_node,
                                                std::shared_ptr<RemoteWriter> writer);
  // Applies a replicated event (seq must be last + 1 of the same epoch, as Projection::apply)
  // and queues its hook events for the replica's in-process hook handlers. Called by one
  // thread at a time (the replica's).
  static Status apply_replicated(Registry& r, Event&& event);
  // The same for events[0..] in order (consecutive seqs of one epoch) under one exclusive lock
  // and one wake-up of the threads waiting for a seq. Stops at the first event the projection
  // refuses: *applied says how many were applied, and the status why it stopped.
  static Status apply_replicated(Registry& r, std::span<Event> events, std::size_t* applied);
  // The same for events a replica scanned or decoded from the bus (an insert is applied from
  // its bytes, as replay applies a log's).
  static Status apply_replicated(Registry& r, std::span<ReplicatedEvent> events,
                                 std::size_t* applied);
  // Replaces the replica's state: f(projection) runs under the exclusive lock after
  // reset_to(epoch, seq) and loads the rows. In-process hooks do not fire for loaded rows.
  static void load_snapshot(Registry& r, std::uint64_t epoch, std::uint64_t seq,
                            const std::function<void(Projection&)>& load);
  // An empty projection of r's hub and local node, to build a state aside (a replica loads a
  // snapshot into it while the rows arrive; readers keep the old state meanwhile).
  static std::unique_ptr<Projection> new_projection(const Registry& r);
  // Makes `staged` (reset_to(epoch, seq) and loaded by the caller) r's state, under the
  // exclusive lock only for an O(1) swap; on return `staged` holds the old state, for the
  // caller to free without the lock. In-process hooks do not fire for its rows.
  static void install_snapshot(Registry& r, std::uint64_t epoch, std::uint64_t seq,
                               Projection& staged);

 private:
  template <typename E>
  static Status apply_replicated_events(Registry& r, std::span<E> events, std::size_t* applied);
};

}  // namespace procreg::replay
