// procreg: options for opening a registry and for each call (ProcessHub's keyword options).
//
// Every default here is the documented default; a zero-initialised options struct is valid.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "procreg/types.h"
#include "procreg/write_lease.h"

namespace procreg {

// When an append counts as durable (a write returns only after its durability point).
enum class Durability {
  kNone,         // written to the OS (write(2)); survives a process crash, not a power loss
  kGroupCommit,  // fdatasync at most every group_commit_interval; writers wait for that sync
  kSyncEach,     // fdatasync after every append, before the write returns
};

// Milliseconds since the Unix epoch, UTC: the writer's clock. Tests pass a fake one.
using Clock = std::function<std::int64_t()>;
// The system clock (std::chrono::system_clock) in ms since the epoch.
std::int64_t system_clock_ms();

struct LogOptions {
  Durability durability = Durability::kSyncEach;
  // Under kGroupCommit, the least time between two syncs (the longest a write waits for more
  // writes to share its sync). 0: sync as soon as the previous sync is done (records written
  // meanwhile share the next one), the best latency and throughput; a larger value trades
  // latency for fewer syncs when the disk's sync rate is the limit.
  std::chrono::milliseconds group_commit_interval{0};
  std::uint64_t segment_bytes = 64ull << 20;  // roll to a new segment past this size
  // Under kSyncEach and kGroupCommit the active segment is kept filled with zeros this far
  // ahead of its records (at least a page), and records are written over them: an fdatasync
  // then has no file size to record, and takes about half as long on ext4. 0: append, growing
  // the file with each write. At most 1 GiB. docs/LOG_FORMAT.md sections 5 and 7.3.
  std::uint64_t zero_fill_bytes = 1ull << 20;
  // Larger appends are refused. 1 to 1 GiB; recorded in each segment's header, so readers need
  // not be told it (docs/LOG_FORMAT.md).
  std::uint32_t max_record_bytes = 16u << 20;
  // The writer's term (docs/LOG_FORMAT.md section 3): 0 keeps the log's (1 for a new log, or
  // one whose segments predate terms); a higher one raises it (a promotion); a lower one is
  // refused with kConflict, the log untouched (a writer of an older term is fenced).
  std::uint64_t term = 0;
};

// Snapshots and retention of a writer's log (docs/LOG_FORMAT.md, "Snapshot files").
//
// A snapshot is the projection at a sequence number, written beside the log. The writer opens
// from the newest valid one plus the log after it. The background snapshotter builds each one
// from files only (the previous snapshot plus the log), never from the live projection, so
// writers and readers never wait for it; it costs one more projection in memory while it runs.
struct SnapshotOptions {
  // Write a snapshot once this many events / bytes of events were appended since the last one
  // (0: not by that measure; both 0: only Registry::snapshot() writes them).
  std::uint64_t every_events = 0;
  std::uint64_t every_bytes = 256ull << 20;
  // Snapshot files kept (at least 1); older ones are removed after a new one is written. More
  // than one lets a damaged newest snapshot fall back to an older one.
  std::size_t keep = 2;
  // Retention: after each snapshot, remove the log segments wholly covered by the oldest kept
  // snapshot. Off by default: the full history stays, for replays to any point.
  bool compact = false;
  // With compact: move those segments into this directory (same file system) instead.
  std::string archive_dir;
  // Open from snapshots (false: always replay the whole log; then compact must be false).
  bool load = true;
  // Durable hook subscribers (Registry::set_durable_position): compaction keeps the events
  // after the lowest position of a name at most this many events behind the head; a name
  // further behind is cut off (forgotten; RegistryStats::durable_cut_off). 0: durable names
  // hold nothing back.
  std::uint64_t durable_max_events = 1'000'000;
};

// Options of Registry::open (a hub's writer on a local log).
struct RegistryOptions {
  std::string hub;      // the hub id; also the default table's name
  std::string log_dir;  // the hub's log directory; created if missing
  // The node local_* queries and process_list(kLocal) use (docs/SEMANTICS.md, "Terms").
  std::string local_node;
  LogOptions log;
  SnapshotOptions snapshots;
  Clock clock;  // the writer's clock; empty = system_clock_ms
  // TTLs of the rows the writer makes (docs/SEMANTICS.md, "TTL and expiry").
  std::int64_t tombstone_ttl_ms = 30'000;  // bulk_delete emptying a row
  std::int64_t pending_ttl_ms = 600'000;   // pending-forward rows
  // Period of the janitor that writes TTL expiry events; 0 = no background janitor (call
  // Registry::run_janitor yourself, as tests do).
  std::chrono::milliseconds janitor_interval{15'000};
  // The writer queue (docs/PERFORMANCE.md, "Writes and durability"). One pass under the
  // writer's slot takes the calls waiting at the queue's front up to this many writes (one
  // append, one sync for all of them); a call with more writes goes alone. 1 to 1,048,576.
  std::size_t max_group_writes = 1024;
  // Flow control: writes accepted and not completed (queued, being committed, or waiting for
  // their durability point), synchronous and submitted together. A call that would go past it
  // is refused at once with kResourceExhausted, nothing written (RegistryStats counts them);
  // a call alone in an empty queue is always accepted. At least 1. On a replica it bounds the
  // submitted writes.
  std::size_t max_queued_writes = 65'536;
  // Synchronous replication (docs/CLI.md, "serve --standby-of"): a write is acknowledged only
  // once its events are durable here and on this many standbys (procreg::Standby), each of
  // which fdatasyncs its copy and then tells the writer. 0: today's behaviour (standbys copy
  // behind). While fewer than this many standbys were heard from within standby_timeout,
  // writes are refused at once with kUnavailable, nothing written; a write already appended
  // waits for its standbys up to its own timeout (then kTimeout, outcome unknown).
  std::size_t sync_standbys = 0;
  std::chrono::milliseconds standby_timeout{2'000};
  // Leadership under automatic failover (include/procreg/write_lease.h): when set, writes are
  // taken, and the log's records count as durable (so are applied, published and
  // acknowledged), only while this lease is held. Null: always (a writer without election).
  std::shared_ptr<WriteLease> lease;
};

// Options shared by all writes.
struct WriteOptions {
  bool hooks = false;  // ProcessHub's :hook_storage: publish this call's hook events
  std::string table;   // ProcessHub's :table; empty = the hub's default table
  // ProcessHub's :timeout: bounds the whole call. Waiting for the writer's slot past it is
  // kTimeout with nothing written; waiting for the durability point past it (group commit on
  // a slow disk) is kTimeout with the event appended: it takes effect if the log's sync
  // succeeds, so the caller cannot know the outcome (as with any timed-out remote write).
  std::chrono::milliseconds timeout{10'000};
};

// insert's options: ProcessHub's :metadata, :table, :hook_storage and :ttl.
struct InsertOptions : WriteOptions {
  Metadata metadata;
  // Time to live in ms from the writer's clock (negative allowed: already expired; at most
  // 100 years either way, else kInvalidArgument). Without
  // it the row is permanent, except a pending-forward row (no pids, metadata pending: true),
  // which gets RegistryOptions::pending_ttl_ms.
  std::optional<std::int64_t> ttl_ms;
};

// Options of every read.
struct ReadOptions {
  std::string table;  // empty = the hub's default table
};

struct LookupOptions : ReadOptions {
  bool with_metadata = false;
};

enum class Scope { kGlobal, kLocal };

}  // namespace procreg
