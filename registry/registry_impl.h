// procreg internal: the state behind a Registry, shared by registry/registry.cc (opening,
// writes, the commit pipeline) and registry/reads.cc (reads, hooks, janitor, state).
//
// The write pipeline: every write call (commit(), or commit_many() for Registry::write) joins
// the writer queue; the call at its front (the leader) takes the calls behind it as one group
// and, under the writer slot, validates their writes in order against the Overlay (the
// projection plus appended, not yet applied events), encodes the events and appends them with
// one Log::append_many. If the append made them durable (no sync, or sync each), they are
// applied before the slot is released (the overlay only borrowed their rows); otherwise (group
// commit) they stay in the overlay, the slot is released, and each call waits for the
// durability point of its own writes. apply_durable() applies every durable pending event in
// order under the projection's exclusive lock and publishes their hook events. Lock order:
// queue_mu (never held while committing), write_slot, apply_mu, proj_mu.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <thread>

#include "log/log.h"
#include "procreg/registry.h"
#include "registry/hook_dispatcher.h"
#include "registry/registry_access.h"
#include "registry/remote_writer.h"
#include "registry/timed_lock.h"
#include "state/commands.h"
#include "state/overlay.h"
#include "state/projection.h"

namespace procreg {

struct Registry::Impl {
  Impl(RegistryOptions o, bool read_only_)
      : opts(std::move(o)),
        read_only(read_only_),
        clock(opts.clock ? opts.clock : Clock(&system_clock_ms)),
        proj(opts.hub, opts.local_node),
        overlay(proj, proj_mu) {
    leader_group.reserve(kMaxGroupWrites);  // every call has a write: no more calls than this
  }

  struct Pending {
    Event event;
    std::vector<HookEvent> hooks;
    std::string encoded;                     // for the commit listener
    std::vector<events::EntryPartsAt> rows;  // where encoded holds the rows (apply keeps them)
    std::string table;  // the event's, kept for the listener once the event is applied
  };

  using Resolver = std::function<replay::Resolved(const replay::CommandContext&)>;
  // The write pipeline. Bounded by o.timeout: waiting for the slot (kTimeout, nothing
  // written) and for the durability point (kTimeout, the event appended; it takes effect if
  // the log's next sync succeeds).
  // kAny: the writer queue may commit the call together with others. kAlone: in a group of
  // its own (it runs user code: an update function). kQuiesce: also alone, and first waits
  // until every appended event is applied, so that the resolver may read the projection
  // itself (the overlay is then empty); for writes that scan (node_down).
  enum class Grouping { kAny, kAlone, kQuiesce };
  Result<std::uint64_t> commit(const WriteOptions& o, const Resolver& resolve, Grouping grouping);
  Result<std::uint64_t> commit(const WriteOptions& o, const Resolver& resolve) {
    return commit(o, resolve, Grouping::kAny);
  }
  // The same for several writes in one pass (Registry::write): validated in order, each
  // against the state the ones before it leave; the events of those that pass appended with
  // one Log::append_many, applied together. out[i] is write i's seq or its own error. The
  // whole call is bounded by the smallest of the writes' timeouts.
  struct Write {
    const WriteOptions* options;
    const Resolver* resolve;
  };
  void commit_many(std::span<const Write> writes, std::span<Result<std::uint64_t>> out,
                   Grouping grouping = Grouping::kAny);
  // What a result holds before the commit sets it.
  static Status unset() { return Status::internal("result not set"); }
  // A commit_many call in the writer queue.
  struct Queued {
    std::span<const Write> writes;
    std::span<Result<std::uint64_t>> out;
    Grouping grouping;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds timeout;  // for messages
    bool taken = false;                 // in a leader's group (under queue_mu)
    bool done = false;                  // its results are set (under queue_mu)
    std::condition_variable cv;
  };
  static constexpr std::size_t kMaxGroupWrites = 1024;  // a leader takes calls up to this
  // The leader's part: one pass under the writer's slot for the whole group.
  void commit_group(std::span<Queued* const> group) noexcept;
  // Validates, stages and appends group_writes (*group_out[i]: write i's seq or error) and,
  // when the append made them durable, applies them, all under the writer's slot.
  void stage_and_append(bool quiesce) noexcept;
  // Returns seq once event `seq` is applied, kTimeout at the deadline, or the failure.
  Result<std::uint64_t> wait_applied(std::uint64_t seq,
                                     std::chrono::steady_clock::time_point deadline,
                                     std::chrono::milliseconds timeout);
  // The first failure (a failed log write or sync, an event the projection refused) stops
  // every later write; the registry must be reopened.
  void fail(Status s);
  Status failure() const;
  void apply_durable();
  const std::string& table_name(const std::string& t) const { return t.empty() ? opts.hub : t; }
  template <typename F>
  auto read(const std::string& table, F&& f) const {
    std::shared_lock lock(proj_mu);
    return f(proj.table(table_name(table)));
  }
  // A replica's write: the remote call, then the wait until this replica applied its seq.
  Result<std::uint64_t> remote_write(const WriteOptions& o,
                                     const std::function<Result<replay::RemoteCommit>()>& call);
  Result<std::uint64_t> remote_update(std::string_view child_id, const UpdateFn& fn,
                                      const WriteOptions& o);
  // A replica: waits until it applied `seq` of log `epoch` (0: the current one) or the
  // deadline (kTimeout).
  Status wait_replicated(std::uint64_t seq, std::uint64_t epoch,
                         std::chrono::steady_clock::time_point deadline);
  void start_janitor(Registry* self);
  void stop_janitor();

  // Snapshots and retention (registry/snapshotter.cc). take_snapshot builds the state at
  // applied_seq from the log's files into a projection of its own and writes it, then applies
  // keep and compact; one at a time (snapshot_mu). note_appended counts an appended event
  // towards the policy and wakes the snapshotter thread when one is due.
  Result<SnapshotInfo> take_snapshot();
  Result<std::size_t> compact_log();
  void note_appended(std::size_t bytes);
  void start_snapshotter();
  void stop_snapshotter();

  const RegistryOptions opts;
  const bool read_only;
  const Clock clock;
  std::unique_ptr<replay::Log> log;              // a writer's
  std::shared_ptr<replay::RemoteWriter> remote;  // a replica's
  std::string recovery;

  mutable std::shared_mutex proj_mu;  // the projection: shared for reads, exclusive for apply
  replay::Projection proj;

  std::mutex queue_mu;        // the writer queue (commit_many)
  std::deque<Queued*> queue;  // front: the leader
  std::uint64_t write_calls = 0, write_groups = 0, largest_write_group = 0;  // under queue_mu
  // The leader's (one leader at a time): its group, reserved for the largest (kMaxGroupWrites
  // calls) so that building it under queue_mu never allocates; the group's writes flattened, where
  // their results go and whose call each is.
  std::vector<Queued*> leader_group;
  std::vector<Write> group_writes;
  std::vector<Result<std::uint64_t>*> group_out;
  std::vector<const Queued*> group_of;

  replay::TimedLock write_slot;  // serialises validation and append; guards the five below
  replay::Overlay overlay;
  std::uint64_t head_seq = 0;              // last appended
  std::vector<Pending> staged;             // commit_many's events, before the append
  std::vector<std::size_t> staged_at;      // ... and the index of the write of each
  std::vector<std::string_view> payloads;  // ... and their encodings

  mutable std::mutex failed_mu;
  Status failed;  // once set, every write returns it

  std::mutex pending_mu;  // appended, not yet applied, in sequence order
  std::deque<Pending> pending;
  std::mutex apply_mu;  // one applier at a time, in sequence order
  std::atomic<std::uint64_t> applied_seq{0};
  replay::CommitListener listener;   // guarded by apply_mu
  std::uint64_t listener_token = 0;  // of the attached listener (0: none); under apply_mu
  std::uint64_t next_listener_token = 1;
  std::mutex replicated_mu;                        // a replica: signals applied_seq changes
  std::atomic<std::uint64_t> replicated_epoch{0};  // a replica: the epoch of its state
  std::condition_variable replicated_cv;

  replay::HookDispatcher hooks;

  std::thread janitor;
  std::mutex janitor_mu;
  std::condition_variable janitor_cv;
  bool janitor_stop = false;

  std::mutex snapshot_mu;  // one snapshot (or compaction) at a time
  std::thread snapshotter;
  std::mutex snapshotter_mu;
  std::condition_variable snapshotter_cv;
  bool snapshotter_stop = false;                               // under snapshotter_mu
  bool snapshot_due = false;                                   // under snapshotter_mu
  std::atomic<std::uint64_t> since_events{0}, since_bytes{0};  // appended since the last one
  std::atomic<std::uint64_t> snapshots_written{0}, snapshot_failures{0}, last_snapshot_seq{0},
      segments_compacted{0};
  mutable std::mutex snapshot_error_mu;
  std::string last_snapshot_error;  // under snapshot_error_mu

  std::atomic<std::uint64_t> events_written{0}, bytes_written{0}, writes_without_event{0},
      invalid_calls{0}, rows_expired{0};
};

}  // namespace procreg
