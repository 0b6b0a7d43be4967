// The commit pipeline (registry/commit_pipeline.h).
#include "registry/commit_pipeline.h"

#include <algorithm>
#include <mutex>

#include "events/codec.h"
#include "registry/timing.h"

namespace procreg::replay {

namespace {
// The pipeline whose resolver this thread runs (while an update function runs, say).
thread_local const void* tl_writing = nullptr;

struct WritingMark {
  explicit WritingMark(const void* owner) { tl_writing = owner; }
  ~WritingMark() { tl_writing = nullptr; }
  WritingMark(const WritingMark&) = delete;
  WritingMark& operator=(const WritingMark&) = delete;
};
}  // namespace

CommitPipeline::CommitPipeline(const RegistryOptions& opts, const Clock& clock, Log& log,
                               Projection& proj, std::shared_mutex& proj_mu, Applier& applier,
                               WriteCounters& counters,
                               std::function<void(std::size_t, std::size_t)> note_appended)
    : opts_(opts),
      clock_(clock),
      log_(log),
      applier_(applier),
      counters_(counters),
      note_appended_(std::move(note_appended)),
      overlay_(proj, proj_mu),
      inline_capable_(opts.log.durability == Durability::kGroupCommit &&
                      opts.log.group_commit_interval.count() == 0 && opts.sync_standbys == 0 &&
                      !opts.lease) {}

bool CommitPipeline::writing_on_this_thread() const { return tl_writing == this; }

void CommitPipeline::run(std::span<const Write> writes, std::span<Result<std::uint64_t>* const> out,
                         std::span<const Bound> bounds, bool quiesce_first) noexcept {
  // The slot is held only by leaders and, briefly, by compaction: wait for it as long as the
  // group's latest deadline (every call of the group was taken before its own).
  auto latest = bounds.front().deadline;
  for (const Bound& b : bounds) latest = std::max(latest, b.deadline);
  std::unique_lock lock(slot_, std::defer_lock);
  if (!lock.try_lock_until(latest)) {
    for (std::size_t i = 0; i < writes.size(); ++i) {
      *out[i] = Status::timeout("write slot not free within " + ms_text(bounds[i].timeout) +
                                "; nothing written");
    }
    return;
  }
  if (Status f = applier_.failure(); !f.ok()) {
    for (auto* r : out) *r = f;
    return;
  }
  if (quiesce_first && !quiesce(bounds.front(), out)) return;
  overlay_.prune(applier_.applied_seq());
  // When the append makes the group durable, the whole group is applied before the slot is
  // released: the overlay then borrows the staged events' rows instead of copying them, and
  // is cleared before the slot is released.
  // (With synchronous replication no append makes its records durable: standbys must too; nor
  // with a lease: it must be held when they count.)
  Pass pass{
      opts_.log.durability != Durability::kGroupCommit && opts_.sync_standbys == 0 && !opts_.lease,
      head_seq_};
  pass.deadline = latest;
  try {
    stage(writes, out, pass);
    if (staged_.empty()) return;
    if (!append(out, pass)) return;
    settle(out, pass);
  } catch (const std::exception& e) {  // out of memory
    recover(out, pass, e);
  }
}

bool CommitPipeline::quiesce(const Bound& bound, std::span<Result<std::uint64_t>* const> out) {
  if (applier_.applied_seq() >= head_seq_) return true;
  auto all = [&](const Status& s) {
    for (auto* r : out) *r = s;
    return false;
  };
  Status s = log_.wait_durable(head_seq_, bound.deadline);
  if (!s.ok()) {
    if (s.code() == Code::kTimeout) {
      return all(Status::timeout("earlier writes not durable within " + ms_text(bound.timeout) +
                                 "; nothing written"));
    }
    return all(s);
  }
  applier_.apply_durable();
  if (applier_.applied_seq() < head_seq_) return all(applier_.failure());
  return true;
}

// Validates every write in order, each against the state the ones before it leave. An event
// goes into the overlay unless the append will make it durable and it is the group's last
// (then it is applied before the slot is released, and nothing validates against it first).
void CommitPipeline::stage(std::span<const Write> writes,
                           std::span<Result<std::uint64_t>* const> out, Pass& pass) {
  staged_.clear();
  staged_at_.clear();
  payloads_.clear();
  staged_.reserve(writes.size());  // no reallocation: the overlay may point into it
  payloads_.reserve(writes.size());
  for (std::size_t i = 0; i < writes.size(); ++i) {
    const WriteOptions& o = *writes[i].options;
    const std::string& table = table_name(o.table);
    const std::int64_t now = clock_();
    CommandContext ctx{overlay_, table, now, o.hooks, opts_.tombstone_ttl_ms, opts_.pending_ttl_ms};
    Resolved body = [&] {
      WritingMark mark(this);
      return writes[i].resolve(ctx);
    }();
    if (!body.ok()) {
      if (body.status().code() == Code::kInvalidArgument) counters_.invalid_calls.fetch_add(1);
      *out[i] = body.status();
      continue;
    }
    if (!body->has_value()) {  // nothing to write: the state as of the events before it
      counters_.writes_without_event.fetch_add(1);
      *out[i] = pass.next_seq;
      continue;
    }
    // Built and encoded in place (staged_ has room for every write: no reallocation).
    Pending& p = staged_.emplace_back();
    p.event.hub = opts_.hub;
    p.event.table = table;
    p.event.seq = pass.next_seq + 1;
    p.event.epoch = log_.epoch();
    p.event.writer_time_ms = now;
    p.event.hooks = o.hooks;
    p.event.body = std::move(**body);
    events::encode(p.event, &p.encoded, &p.rows);
    // Everything that can fail on the caller's input is done before the append: once the
    // record is in the log, the event is committed whatever happens to this call.
    if (p.encoded.size() > opts_.log.max_record_bytes) {
      counters_.invalid_calls.fetch_add(1);
      *out[i] = Status::resource_exhausted("the event is " + std::to_string(p.encoded.size()) +
                                           " bytes encoded, over the log's max_record_bytes " +
                                           std::to_string(opts_.log.max_record_bytes) +
                                           "; nothing written");
      staged_.pop_back();
      continue;
    }
    p.hooks = hook_events_of(p.event);
    p.table = p.event.table;
    ++pass.next_seq;
    staged_at_.push_back(i);
    payloads_.emplace_back(p.encoded);
    if (!pass.append_makes_durable || i + 1 < writes.size()) {
      // Borrowed from staged_, where the events stay through the append: the rows are copied
      // only if the group is not applied in this pass (append()).
      pass.overlay_ahead = true;
      overlay_.record(p.event, p.encoded, p.rows);
    }
  }
}

bool CommitPipeline::append(std::span<Result<std::uint64_t>* const> out, Pass& pass) {
  pass.first = staged_.front().event.seq;
  const std::uint64_t first = pass.first;
  // Under group commit settle() offers to sync on this thread: the syncer is left asleep.
  Status s = log_.append_many(first, payloads_, !pass.append_makes_durable);
  if (!s.ok()) {
    // Refused with the log's files as they were (a full disk): nothing of the group is in the
    // log, which takes writes again once there is room. Else the overlay already answers with
    // events the log does not hold: no later write may validate against it.
    const bool refused =
        s.code() == Code::kIoError && log_.failure().ok() && log_.last_seq() < first;
    if (refused) {
      if (pass.overlay_ahead && !forget_refused(pass)) applier_.fail(s);
    } else if (s.code() == Code::kIoError || pass.overlay_ahead) {
      applier_.fail(s);
    }
    // The overlay borrows from staged_, cleared below: forget_refused() emptied it, or the
    // registry failed.
    if (pass.overlay_ahead) overlay_.clear();
    // A batch across a segment roll may have reached the log in part (the log is poisoned
    // then): those events take effect when the registry is reopened.
    const std::uint64_t reached = log_.last_seq();
    for (std::size_t k = 0; k < staged_at_.size(); ++k) {
      const std::uint64_t seq = first + k;
      *out[staged_at_[k]] = seq <= reached
                                ? Status(s.code(), s.message() + "; event " + std::to_string(seq) +
                                                       " reached the log before the failure and "
                                                       "takes effect when the registry is reopened")
                                : s;
    }
    for (auto* r : out) {  // writes that saw those events share their outcome
      if (r->ok() && **r >= first) *r = s;
    }
    staged_.clear();
    return false;
  }
  pass.appended = true;
  if (!pass.append_makes_durable) {
    // The overlay borrows this group's rows from staged_. They may stay borrowed only if the
    // group is applied before the slot is released: this thread syncs it (claimed before the
    // events reach the applier, so that no other thread can apply them first) and applies it.
    // Otherwise they are copied now, while the events are still staged_'s.
    pass.applies_inline = inline_capable_ && log_.claim_inline_sync();
    if (!pass.applies_inline) overlay_.own_borrowed();
  }
  head_seq_ = staged_.back().event.seq;
  counters_.events_written.fetch_add(staged_.size());
  std::size_t bytes = 0;
  for (const Pending& p : staged_) bytes += p.encoded.size();
  counters_.bytes_written.fetch_add(bytes);
  note_appended_(staged_.size(), bytes);
  applier_.push(staged_);
  staged_.clear();
  // The borrowed rows moved to the applier; nothing reads the overlay until they are applied.
  if (pass.append_makes_durable) overlay_.clear();
  for (std::size_t k = 0; k < staged_at_.size(); ++k) *out[staged_at_[k]] = first + k;
  return true;
}

bool CommitPipeline::forget_refused(const Pass& pass) {
  // Appends that make their group durable apply every group before the slot is released: the
  // overlay holds this group's events alone, and append() clears it.
  if (pass.append_makes_durable) return true;
  if (applier_.applied_seq() < head_seq_) {
    if (!log_.wait_durable(head_seq_, pass.deadline).ok()) return false;
    applier_.apply_durable();
    if (applier_.applied_seq() < head_seq_) return false;
  }
  overlay_.clear();  // the projection holds every earlier event: what is left is this group's
  return true;
}

void CommitPipeline::settle(std::span<Result<std::uint64_t>* const> out, const Pass& pass) {
  const std::uint64_t last = head_seq_;
  // (append() left the syncer asleep: this thread syncs here, having claimed the sync in
  // append(), or sync_if_idle() syncs or hands them to the syncer.)
  const bool durable =
      pass.append_makes_durable ||
      (pass.applies_inline
           ? log_.sync_claimed() && log_.durable_seq() >= last
           : log_.durable_seq() >= last || (log_.sync_if_idle() && log_.durable_seq() >= last));
  Status applied;
  if (Status f = applier_.failure(); !f.ok()) {
    applied = f;
  } else if (durable) {
    // Durable already (no sync, synced by the append, or, under group commit with the syncer
    // idle, synced here: the queue fills behind the slot as under sync-each, without two
    // thread hand-offs per sync): applied before the slot is released, so the next write
    // validates against the projection itself. (Otherwise, group commit: the syncer is busy,
    // and each caller waits for the durability point of its own writes.)
    applier_.apply_durable();
    if (applier_.applied_seq() < last) {
      applied = applier_.failure();
      if (applied.ok()) applied = Status::internal("events appended but not applied");
    }
    // The group's borrowed rows go with it (those of an apply that failed stay: the events
    // stay pending and alive, and no write reads the overlay once the applier failed).
    if (pass.applies_inline) overlay_.prune(applier_.applied_seq());
  }
  if (!applied.ok()) {
    // The group's events, and the writes that saw them, share the outcome.
    for (auto* r : out) {
      if (r->ok() && **r >= pass.first) *r = applied;
    }
  }
}

void CommitPipeline::recover(std::span<Result<std::uint64_t>* const> out, const Pass& pass,
                             const std::exception& e) {
  // The overlay may hold events that never reached the log, or the log events the
  // projection will not get: either way the live state can no longer follow the log.
  if (pass.overlay_ahead || pass.appended) {
    applier_.fail(Status::internal(std::string(pass.appended ? "events were appended but could "
                                                               "not be queued for apply ("
                                                             : "writes could not be staged (") +
                                   e.what() + "); reopen the registry"));
  }
  if (pass.overlay_ahead) overlay_.clear();  // it points into staged_
  staged_.clear();
  const Status f = applier_.failure();
  for (auto* r : out) {
    if (!f.ok()) {
      *r = f;
    } else if (r->ok() || r->status() == unset_result()) {
      *r = Status::internal(std::string("nothing written: ") + e.what());
    }
  }
}

}  // namespace procreg::replay
