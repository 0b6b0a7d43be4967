// procreg::replay: the commit pipeline: one pass, under the writer's slot, for a group of
// writes the writer queue (registry/writer_queue.h) hands it. In three steps:
//
//   stage   validates each write in order against the Overlay (the projection plus appended,
//           not yet applied events), each against the state the ones before it leave, and
//           encodes its event; everything that can fail on a caller's input fails here,
//           before anything is written;
//   append  appends the staged events with one Log::append_many and hands them to the
//           applier; a failed append is attributed to each write (a batch across a segment
//           roll may have reached the log in part);
//   settle  applies the group before the slot is released when the append made it durable
//           (no sync, or sync each); under group commit the events stay in the overlay and
//           each caller waits for the durability point of its own writes.
//
// Locks, in order: the slot (serialises validation and append; compaction takes it briefly to
// read and update the list of segments), then the applier's (registry/applier.h).
//
// Thread safety: run() is called by one writer-queue leader at a time; slot() by compaction.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "log/log.h"
#include "procreg/options.h"
#include "registry/applier.h"
#include "registry/commit.h"
#include "registry/timed_lock.h"
#include "state/overlay.h"

namespace procreg::replay {

class CommitPipeline {
 public:
  // The time a write may wait, for its messages: its call's deadline and timeout.
  struct Bound {
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds timeout;
  };
  // note_appended(events, bytes) is called once per append with what it appended (the
  // snapshot policy).
  CommitPipeline(const RegistryOptions& opts, const Clock& clock, Log& log, Projection& proj,
                 std::shared_mutex& proj_mu, Applier& applier, WriteCounters& counters,
                 std::function<void(std::size_t, std::size_t)> note_appended);

  // Commits writes[i] (bounded by bounds[i]) and sets *out[i] to its seq or its error. With
  // `quiesce` (a group of one), first waits until every appended event is applied.
  void run(std::span<const Write> writes, std::span<Result<std::uint64_t>* const> out,
           std::span<const Bound> bounds, bool quiesce) noexcept;

  // True while this thread runs a resolver of this pipeline (an update function, say): a
  // write from there would wait for the slot it holds.
  bool writing_on_this_thread() const;

  TimedLock& slot() { return slot_; }
  // The last appended seq. Set once at open, before any write.
  void set_head(std::uint64_t seq) { head_seq_ = seq; }

 private:
  // The state of one pass, for the steps and for recovery from a failure in any of them.
  struct Pass {
    bool append_makes_durable;
    std::uint64_t next_seq;      // the seq of the next staged event, minus one
    bool overlay_ahead = false;  // the overlay holds events of this group
    bool appended = false;       // the log holds (some of) them
    // Group commit with nothing to wait for but the disk: the pass syncs the group on this
    // thread and applies it before the slot is released (Log::claim_inline_sync).
    bool applies_inline = false;
    std::uint64_t first = 0;                           // the group's first seq
    std::chrono::steady_clock::time_point deadline{};  // the group's latest
  };
  bool quiesce(const Bound& bound, std::span<Result<std::uint64_t>* const> out);
  void stage(std::span<const Write> writes, std::span<Result<std::uint64_t>* const> out,
             Pass& pass);
  bool append(std::span<Result<std::uint64_t>* const> out, Pass& pass);
  // After the log refused the group with its files as they were (a full disk): drops the
  // group's events from the overlay, once the earlier events are applied. False if they could
  // not be by the group's deadline (the overlay then stays ahead of the log).
  bool forget_refused(const Pass& pass);
  void settle(std::span<Result<std::uint64_t>* const> out, const Pass& pass);
  void recover(std::span<Result<std::uint64_t>* const> out, const Pass& pass,
               const std::exception& e);
  const std::string& table_name(const std::string& t) const { return t.empty() ? opts_.hub : t; }

  const RegistryOptions& opts_;
  const Clock& clock_;
  Log& log_;
  Applier& applier_;
  WriteCounters& counters_;
  const std::function<void(std::size_t, std::size_t)> note_appended_;

  TimedLock slot_;  // guards the members below
  Overlay overlay_;
  // Group commit, no interval, no standbys to wait for, no lease: a pass can sync and apply
  // its group itself (Pass::applies_inline).
  const bool inline_capable_;
  std::uint64_t head_seq_ = 0;              // last appended
  std::vector<Pending> staged_;             // the group's events, before the append
  std::vector<std::size_t> staged_at_;      // ... and the index of the write of each
  std::vector<std::string_view> payloads_;  // ... and their encodings
};

}  // namespace procreg::replay
