// procreg: the Registry, ProcessHub's ProcessRegistry API over an event-sourced projection.
//
// A Registry opened with open() is its hub's writer: each write call is validated against the
// current state, becomes one event (or none, when it changes nothing and fires no hook),
// is appended to the hub's log, becomes durable under the log's policy, and only then is
// applied to the in-memory projection and its hook events dispatched. A write returns after
// all of that, so a read right after it sees it (read-your-writes). Calls from several
// threads at once queue up and are committed in groups: one append (one write(2)) and, under
// kSyncEach, one fdatasync for a group, each call still its own event(s) in queue order. A Registry
// opened with open_replay() is a read-only projection of a log, optionally as of a sequence number.
//
// Method names mirror ProcessHub's (docs/SEMANTICS.md): erase is ProcessHub's delete,
// entry_exists its entry_exists?. Writes return the sequence number of the event they wrote,
// or, if they wrote none, the last sequence at the time (what a reader must have seen).
//
// Reads run against the in-memory projection only: no I/O, no lock held across I/O, and never
// half of a bulk operation (an event is applied under an exclusive lock). Every method is
// safe to call from any thread, including from a hook handler.
//
// Errors (Status codes): kInvalidArgument (an empty child id, node or pid; a bulk key that is
// not its spec's id; an update function's invalid row), kNotFound (update of a row that is
// not bound), kTimeout (the write slot was not free within WriteOptions::timeout; nothing was
// written), kUnavailable (a read-only registry, or a writer whose log failed), kIoError,
// kResourceExhausted (an event over the log's record limit).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "procreg/hooks.h"
#include "procreg/options.h"
#include "procreg/status.h"
#include "procreg/types.h"

namespace procreg {

class Client;
class Registry;
// A batch's results: one per write, in batch order (what Registry::write returns).
using WriteResults = std::vector<Result<std::uint64_t>>;
// Registry::submit's completion.
using WriteDone = std::function<void(WriteResults)>;
namespace replay {
class RegistryAccess;
class Writer;
}  // namespace replay

// Writes for Registry::write, kept in the order they are added. Each is the write of the
// Registry method of the same name with the same arguments, and becomes an event of its own
// (its own seq, its own hook events), exactly as if made by its own call in this order.
// A batch is a pipeline, not a transaction: a write that fails validation gets its own error
// and writes nothing, and the others still commit; a reader may see some of a batch's events
// applied and not yet the rest (each event on its own is never half-applied).
class WriteBatch {
 public:
  using UpdateFn = procreg::UpdateFn;

  WriteBatch& insert(ChildSpec spec, NodePids node_pids, InsertOptions options = {});
  WriteBatch& bulk_insert(std::vector<Entry> children, WriteOptions options = {});
  WriteBatch& erase(std::string_view child_id, WriteOptions options = {});
  WriteBatch& bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> children,
                          WriteOptions options = {});
  WriteBatch& update(std::string_view child_id, UpdateFn fn, WriteOptions options = {});
  WriteBatch& clear_all(WriteOptions options = {});

  std::size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  void clear() { ops_.clear(); }

 private:
  friend class Registry;
  friend class replay::Writer;  // turns the writes into resolvers or remote calls
  friend class Client;          // sends the writes as commands
  enum class Kind : std::uint8_t { kInsert, kBulkInsert, kErase, kBulkDelete, kUpdate, kClearAll };
  struct Op {
    Kind kind;
    InsertOptions options;        // a WriteOptions, with insert's fields used by insert alone
    ChildSpec spec;               // insert
    NodePids node_pids;           // insert
    std::vector<Entry> children;  // bulk_insert
    std::vector<std::pair<ChildId, std::vector<NodeName>>> nodes;  // bulk_delete
    ChildId child_id;                                              // erase, update
    UpdateFn fn;                                                   // update
  };
  Op& add(Kind kind, WriteOptions options);
  std::vector<Op> ops_;
};

// Keeps a hook handler subscribed; unsubscribes when destroyed or reset(). It must not
// outlive its Registry. Move-only.
//
// reset() (and the destructor, and move-assigning over a live subscription) returns only once
// the handler is not running and will never be called again: an invocation in progress on the
// hook thread is waited for, so the caller must not hold anything the handler waits for.
// Called from inside a handler (on the hook thread; the handler's own subscription or another)
// it does not wait and cannot deadlock; the guarantee is then only that the handler is not
// called again after the current invocation.
class HookSubscription {
 public:
  HookSubscription() = default;
  HookSubscription(HookSubscription&& other) noexcept;
  HookSubscription& operator=(HookSubscription&& other) noexcept;
  ~HookSubscription();
  void reset();
  explicit operator bool() const { return unsubscribe_ != nullptr; }

 private:
  friend class Registry;
  explicit HookSubscription(std::function<void()> unsubscribe);
  std::function<void()> unsubscribe_;
};

struct RegistryStats {
  std::uint64_t events_written = 0;        // events appended by this writer
  std::uint64_t bytes_written = 0;         // their encoded bytes
  std::uint64_t writes_without_event = 0;  // calls that changed nothing and fired no hook
  std::uint64_t invalid_calls = 0;         // calls refused for invalid arguments
  std::uint64_t rows_expired = 0;          // rows removed by TTL expiry events
  std::uint64_t hook_events = 0;           // hook events dispatched
  std::uint64_t hook_handler_errors = 0;   // handler invocations that threw
  std::uint64_t snapshots_written = 0;     // snapshot files written (policy and snapshot())
  std::uint64_t snapshot_failures = 0;     // background snapshots that failed (see last_error)
  std::uint64_t last_snapshot_seq = 0;     // seq of the newest snapshot file (0: none)
  std::uint64_t segments_compacted = 0;    // log segments removed or archived
  std::string last_snapshot_error;         // the last background failure's message
  // The log's syncs (kGroupCommit: one per group; kSyncEach: one per event; kNone: none):
  // log_synced_events / log_syncs is the average group-commit size.
  std::uint64_t log_syncs = 0;
  std::uint64_t log_synced_events = 0;
  std::uint64_t log_largest_sync_group = 0;
  // The writer queue: write calls (each insert, ..., or Registry::write) made together by one
  // pass under the writer's slot. write_calls / write_groups is the average group size;
  // write_calls_queued counts the calls in the queue now (waiting, or in the pass under way).
  std::uint64_t write_calls = 0;
  std::uint64_t write_groups = 0;
  std::uint64_t largest_write_group = 0;
  std::uint64_t write_calls_queued = 0;
  // Writes refused because RegistryOptions::max_queued_writes writes were accepted and not
  // completed (kResourceExhausted, nothing written), synchronous and submitted.
  std::uint64_t writes_refused_queue_full = 0;
  // Synchronous replication (RegistryOptions::sync_standbys): standbys heard from within
  // standby_timeout, the seq that many of them hold (the gate), and writes refused because
  // fewer than sync_standbys were in sync (kUnavailable, nothing written).
  std::uint64_t sync_standbys = 0;  // RegistryOptions::sync_standbys
  std::uint64_t standbys_in_sync = 0;
  std::uint64_t replicated_seq = 0;
  std::uint64_t writes_refused_no_standby = 0;
  // A full disk: writes the log refused with its files left as they were (kIoError, nothing
  // written; the log takes writes again once there is room). And why the registry takes no more
  // writes until it is reopened ("" while it does): a failed fdatasync poisons the log, since
  // the kernel may have dropped the pages (docs/LOG_FORMAT.md, "A full disk").
  std::uint64_t log_write_failures = 0;
  std::string write_failure;
  // Durable hook subscribers: names held, names cut off (more than durable_max_events behind
  // when compaction ran), and how far the lowest position is behind the head.
  std::uint64_t durable_subscribers = 0;
  std::uint64_t durable_cut_off = 0;
  std::uint64_t durable_max_lag = 0;
  // Rows in every table now, as dump_all lists them (tombstones and pending rows too).
  std::uint64_t rows = 0;
};

// A snapshot file written by Registry::snapshot().
struct SnapshotInfo {
  std::uint64_t seq = 0;
  std::string file;  // its name inside the log directory
  std::uint64_t bytes = 0;
  std::uint64_t rows = 0;
  std::chrono::milliseconds took{0};
};

// Options of open_replay.
struct ReplayOptions {
  std::string log_dir;
  std::string local_node;
  std::uint64_t upto_seq = 0;  // 0 = the whole log
  // As of a writer time (ms since the epoch, the writer's clock): the state after every event
  // up to the first one written later than this (with upto_seq, whichever comes first).
  std::optional<std::int64_t> upto_time_ms = std::nullopt;
  // Only for a log written before segment format version 2: each newer segment records its
  // writer's LogOptions::max_record_bytes in its header and is read with it, whatever this says.
  // An older segment records none and is read with this limit (a longer record is corruption),
  // so set it to the old writer's limit if that was not the default.
  std::uint32_t max_record_bytes = LogOptions{}.max_record_bytes;
  // Start from the newest snapshot file at or before the point asked for (false: replay the
  // log from its first record, which then must still be there).
  bool use_snapshots = true;
  // Called on the replaying thread with the position in the log: the segment file (its name),
  // the byte offset just past the record last applied (the bytes of that file read), and the
  // record's seq; after every 4096 events or 256 KiB of records, whichever comes first, and
  // after the last record (a replay to the log's end ends at its last segment's size), so
  // that a display by bytes moves on a log of few large records too. For progress displays;
  // it must not call into the registry being opened.
  std::function<void(const std::string& segment, std::uint64_t offset, std::uint64_t seq)>
      progress = nullptr;
};

class Registry {
 public:
  // Opens (or creates) the hub's log in options.log_dir, replays it and becomes its writer.
  // Recovery of a torn tail is reported by recovery_report(); a corrupt log is kCorruption.
  static Result<std::unique_ptr<Registry>> open(RegistryOptions options);
  // A read-only registry rebuilt from the log in options.log_dir, up to options.upto_seq (or
  // upto_time_ms): from the newest usable snapshot at or before that point plus the log after
  // it. recovery_report() says which snapshot it started from and why newer ones were skipped.
  // kCompacted if the point is before the log's first kept record and no snapshot is usable.
  static Result<std::unique_ptr<Registry>> open_replay(const ReplayOptions& options);
  // Stops the janitor, waits for a background snapshot in progress (it is not cancelled; a
  // large one takes seconds), dispatches the hook events already committed, closes the log.
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // ---- writes -------------------------------------------------------------------------
  // Writes the whole row {spec, node_pids, options.metadata} under spec.id, replacing any
  // row; a ttl (or a pending-forward row) makes it a TTL row. Hook: child_registered with
  // node_pids as given.
  Result<std::uint64_t> insert(ChildSpec spec, NodePids node_pids,
                               const InsertOptions& options = {});
  // ProcessHub's map of child_id -> {spec, node_pids, metadata}, processed in the given
  // order; each entry's key is entry.spec.id. Merges node lists (docs/SEMANTICS.md, "bulk_insert").
  Result<std::uint64_t> bulk_insert(std::vector<Entry> children, const WriteOptions& options = {});
  // ProcessHub's delete. Hook: child_unregistered, whether or not the row existed.
  Result<std::uint64_t> erase(std::string_view child_id, const WriteOptions& options = {});
  // Removes the named nodes' pairs from each bound row; a row left empty becomes a tombstone.
  // Hook: child_unregistered once per bound row named.
  Result<std::uint64_t> bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> children,
                                    const WriteOptions& options = {});
  // Runs `fn` on the bound row child_id, atomically with respect to other writes, and writes
  // its result as a permanent row under the returned spec.id. No hooks. Errors: kNotFound
  // "No child found"; kInvalidArgument "Invalid arguments returned from the update function"
  // (nothing written); kInternal if fn throws (nothing written). options.hooks is ignored.
  // The call is committed in a group of its own (see the writer queue above), so `fn` runs on
  // the calling thread and holds up no other call but those queued behind it.
  using UpdateFn = procreg::UpdateFn;
  Result<std::uint64_t> update(std::string_view child_id, const UpdateFn& fn,
                               const WriteOptions& options = {});
  // Removes every row of the table (tombstones and pending rows too). No hooks. true.
  Result<bool> clear_all(const WriteOptions& options = {});
  // Node-down cleanup (docs/SEMANTICS.md, "node_down"): removes `node`'s pairs from every bound row
  // of the table, as one bulk_delete event (a row left empty becomes a tombstone), and fires
  // child_unregistered for each affected child: what ProcessHub's node-down path means to do but
  // does not (it passes no hook storage). Hooks are always on (options.hooks is ignored). No row
  // holds the node: no event, the seq the writer saw. kInvalidArgument for an empty node name.
  Result<std::uint64_t> node_down(std::string_view node, const WriteOptions& options = {});
  // The batch's writes, in order, for the cost of far fewer calls: one pass under the
  // writer's slot validates all of them (each against the state the ones before it leave),
  // one write(2) appends their events to the log (one fdatasync under kSyncEach; one group
  // under kGroupCommit), one apply makes them visible. Returns one result per write, in batch
  // order: its seq (or, for a write that changes nothing, the last seq before it), or the
  // error it alone got (nothing written for it: kInvalidArgument, kNotFound,
  // kResourceExhausted). Errors of the whole batch go to every write: kTimeout waiting for
  // the slot (nothing written) or for the durability point (appended, outcome unknown, as for
  // a single write), the log's failure. The batch is bounded by the smallest of its writes'
  // timeouts. On a replica the writes go to the hub's writer one after another, each as its
  // own command. The batch is consumed.
  std::vector<Result<std::uint64_t>> write(WriteBatch batch);
  // Registry::write without blocking: the batch joins the writer queue with the synchronous
  // calls (one append and one sync cover every write waiting at that moment, synchronous and
  // submitted alike), and `done` gets exactly what write() would have returned, once every
  // write is durable and applied (a read from the completion, or after it, sees them) or
  // failed. Submissions complete in the order their writes were committed.
  //   Where `done` runs: on the registry's writer thread (one per registry, started by the
  // first submission, joined by ~Registry). It must not block for long: it holds up every
  // later completion and, under group commit, every synchronous write waiting for its
  // durability point. It may read, submit, and write synchronously (that write then waits
  // for its durability point on this thread). An exception it throws is dropped. A
  // submission refused before it is queued completes on the calling thread, before submit
  // returns: kResourceExhausted when RegistryOptions::max_queued_writes writes are accepted
  // and not completed (nothing written; synchronous calls share the limit),
  // kUnavailable on a read-only registry or while the registry closes. An empty batch
  // completes at once with no results.
  //   Update functions: a write of WriteBatch::update in a submitted batch is refused
  // (kInvalidArgument, nothing written for it); the batch's other writes go ahead. Use
  // write() or update(), which run the function on the calling thread.
  //   Timeouts are write()'s: the smallest of the writes' timeouts bounds the wait for the
  // slot (kTimeout, nothing written) and for the durability point (kTimeout, appended,
  // outcome unknown).
  //   ~Registry completes every accepted submission: committed, or refused with kUnavailable
  // ("registry closing; nothing written") if no leader had taken it yet. No completion is
  // ever dropped.
  //   On a replica the batch goes to the hub's writer as write() sends it, on the replica's
  // submission thread, one batch after another; `done` runs there once this replica
  // applied the writes.
  void submit(WriteBatch batch, WriteDone done);
  // The same, with a future for the results (do not wait for it from a completion).
  std::future<WriteResults> submit(WriteBatch batch);
  // One insert, submitted: `done` gets its result.
  void submit_insert(ChildSpec spec, NodePids node_pids, InsertOptions options,
                     std::function<void(Result<std::uint64_t>)> done);

  // ---- reads --------------------------------------------------------------------------
  std::vector<ChildId> contains_children(const std::vector<ChildId>& ids,
                                         const ReadOptions& options = {}) const;
  Dump dump(const ReadOptions& options = {}) const;
  Dump dump_all(const ReadOptions& options = {}) const;
  bool entry_exists(std::string_view child_id, const ReadOptions& options = {}) const;
  std::optional<Pid> get_pid(std::string_view child_id, const ReadOptions& options = {}) const;
  std::vector<Pid> get_pids(std::string_view child_id, const ReadOptions& options = {}) const;
  std::vector<ChildSpec> local_child_specs(const ReadOptions& options = {}) const;
  Dump local_children(const ReadOptions& options = {}) const;
  std::vector<std::pair<ChildId, Entry>> local_data(const ReadOptions& options = {}) const;
  std::optional<Pid> local_pid(std::string_view child_id, const ReadOptions& options = {}) const;
  std::optional<Lookup> lookup(std::string_view child_id, const LookupOptions& options = {}) const;
  ChildNodePids match_tag(std::string_view tag, const ReadOptions& options = {}) const;
  // kGlobal: {id, node_pids}; kLocal: {id, [{local_node, pid}]}.
  ChildNodePids process_list(Scope scope, const ReadOptions& options = {}) const;
  RegistryMap registry(const ReadOptions& options = {}) const;
  // dump_all of every table, by table name (replicas, replays and reopens compare these).
  std::map<std::string, Dump> dump_all_tables() const;

  // ---- hooks --------------------------------------------------------------------------
  // Handlers of a topic run in priority order (higher first; ties in subscription order) on
  // the registry's hook thread. Exceptions are counted and passed to on_hook_error's sink.
  // A handler sees the hook events of the events committed after subscribe() returned; a hook
  // event with no handler of its topic then costs nothing on the hook thread.
  [[nodiscard]] HookSubscription subscribe(HookTopic topic, HookHandler handler, int priority = 0);
  void on_hook_error(HookErrorSink sink);
  // Blocks until every hook event of events up to `seq` was dispatched, i.e. every handler
  // invocation for them and for earlier events has returned (kTimeout otherwise). From a
  // handler, a `seq` at or after the event being handled times out: it would wait for itself.
  Status wait_for_hooks(std::uint64_t seq, std::chrono::milliseconds timeout);

  // ---- TTL janitor --------------------------------------------------------------------
  // Expires every TTL row whose expiry is at or before the writer's clock now, as one
  // expire event per table; returns the number of rows expired.
  Result<std::size_t> run_janitor();
  // The two halves of run_janitor, for callers that scan elsewhere: the expired rows now, as
  // (table, child_id, row revision); and their expiry, skipping every row that was written
  // again since it was scanned (no lost re-registration).
  struct ExpiryCandidate {
    std::string table;
    ChildId child_id;
    std::uint64_t row_seq = 0;
  };
  std::vector<ExpiryCandidate> scan_expired() const;
  Result<std::size_t> expire(const std::vector<ExpiryCandidate>& candidates);

  // ---- snapshots and retention (RegistryOptions::snapshots) ---------------------------
  // Writes a snapshot of the state at the last applied seq now (on the caller's thread, built
  // from the log's files; a background snapshot in progress is waited for). If the newest
  // snapshot file is already of that seq, returns it without writing. Then applies the keep
  // and compact policies. kInvalidArgument before the first event; kUnavailable on a replica
  // or a read-only registry; kIoError.
  Result<SnapshotInfo> snapshot();
  // Removes (or archives) the log segments wholly covered by the oldest kept snapshot now,
  // whatever the compact policy says. Returns the number of segments removed.
  Result<std::size_t> compact();

  // ---- durable hook subscribers (docs/PROTOCOL.md, "Durable hook subscribers") --------------
  // Records that the subscriber `name` (1 to 128 characters of A-Z a-z 0-9 . _ -) handled every
  // event up to `seq`, so that compaction keeps the events after it (within
  // SnapshotOptions::durable_max_events); the writer keeps at most 1024 names (then
  // kResourceExhausted) in the log directory's `durable-positions` file. kInvalidArgument for a
  // bad name or a seq past last_sequence(); kUnavailable on a replica or a read-only registry.
  Status set_durable_position(std::string_view name, std::uint64_t seq);
  // Every durable name and its position (empty on a replica or a read-only registry), and one
  // name's (0: unknown).
  std::map<std::string, std::uint64_t, std::less<>> durable_positions() const;
  std::uint64_t durable_position(std::string_view name) const;

  // ---- state --------------------------------------------------------------------------
  const std::string& hub() const;
  const std::string& local_node() const;
  std::uint64_t last_sequence() const;  // last event applied to the projection
  std::uint64_t epoch() const;
  // A writer's term, incarnation (new at each open) and the first seq this incarnation
  // appends (docs/LOG_FORMAT.md section 3; RegistryOptions::log.term); 0 for a replica or a
  // read-only registry.
  std::uint64_t term() const;
  std::uint64_t incarnation() const;
  std::uint64_t incarnation_start_seq() const;
  bool read_only() const;
  // A replica's Registry (procreg::Replica): fed from the bus; writes go to the hub's writer.
  bool is_replica() const;
  std::string recovery_report() const;  // what opening the log found ("" if nothing)
  RegistryStats stats() const;

 private:
  friend class replay::RegistryAccess;  // plugin/'s publisher, replay service and replicas
  struct Impl;
  explicit Registry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg
