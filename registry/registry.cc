// The Registry: a hub's writer (validate -> event -> log append -> durability -> apply ->
// hooks) or a read-only replay, over one Projection. See include/procreg/registry.h.
#include "procreg/registry.h"

#include <algorithm>
#include <shared_mutex>

#include "events/codec.h"
#include "log/log_format.h"
#include "log/log_reader.h"
#include "registry/registry_impl.h"
#include "replay/restore.h"
#include "replay/snapshot.h"

namespace procreg {

std::int64_t system_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// ---- HookSubscription ------------------------------------------------------------------

HookSubscription::HookSubscription(std::function<void()> unsubscribe)
    : unsubscribe_(std::move(unsubscribe)) {}
HookSubscription::HookSubscription(HookSubscription&& other) noexcept
    : unsubscribe_(std::exchange(other.unsubscribe_, nullptr)) {}
HookSubscription& HookSubscription::operator=(HookSubscription&& other) noexcept {
  if (this != &other) {
    reset();
    unsubscribe_ = std::exchange(other.unsubscribe_, nullptr);
  }
  return *this;
}
HookSubscription::~HookSubscription() { reset(); }
void HookSubscription::reset() {
  if (unsubscribe_) std::exchange(unsubscribe_, nullptr)();
}

namespace {
// The registry whose write slot this thread holds (while an update function runs, say).
thread_local const void* tl_writing = nullptr;

struct WritingMark {
  explicit WritingMark(const void* impl) { tl_writing = impl; }
  ~WritingMark() { tl_writing = nullptr; }
  WritingMark(const WritingMark&) = delete;
  WritingMark& operator=(const WritingMark&) = delete;
};

std::string ms_of(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }
}  // namespace

void Registry::Impl::fail(Status s) {
  std::lock_guard l(failed_mu);
  if (failed.ok()) failed = std::move(s);
}

Status Registry::Impl::failure() const {
  std::lock_guard l(failed_mu);
  return failed;
}

Result<std::uint64_t> Registry::Impl::commit(const WriteOptions& o, const Resolver& resolve,
                                             Grouping grouping) {
  const Write write{&o, &resolve};
  Result<std::uint64_t> result = unset();
  commit_many(std::span<const Write>(&write, 1), std::span<Result<std::uint64_t>>(&result, 1),
              grouping);
  return result;
}

void Registry::Impl::commit_many(std::span<const Write> writes,
                                 std::span<Result<std::uint64_t>> out, Grouping grouping) {
  auto all = [&](const Status& s) {
    for (auto& r : out) r = s;
  };
  if (read_only) return all(Status::unavailable("registry is a read-only replay"));
  if (remote) {
    return all(Status::unavailable("TTL expiry and local writes belong to the hub's writer"));
  }
  if (tl_writing == this) {
    invalid_calls.fetch_add(writes.size());
    return all(Status::invalid_argument(
        "a write from inside an update function (it holds the writer's slot): return the "
        "change from the function instead"));
  }
  std::chrono::milliseconds timeout = writes.front().options->timeout;
  for (const Write& w : writes) timeout = std::min(timeout, w.options->timeout);
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  // The writer queue (LevelDB's): the call at its front is the leader; it takes the calls
  // queued behind it as one group, commits the group's writes with one append (and, under
  // kSyncEach, one fdatasync), then hands the front to the next call. A call whose deadline
  // passes before a leader took it leaves the queue with nothing written; once taken, it
  // completes with its group (a pass without user code: validation, encoding, the append).
  Queued me{writes, out, grouping, deadline, timeout, false, false, {}};
  std::unique_lock q(queue_mu);
  queue.push_back(&me);
  while (!me.done && queue.front() != &me) {
    if (me.taken) {
      me.cv.wait(q, [&] { return me.done; });
      break;
    }
    if (me.cv.wait_until(q, deadline) == std::cv_status::timeout && !me.done && !me.taken &&
        queue.front() != &me) {
      queue.erase(std::find(queue.begin(), queue.end(), &me));
      q.unlock();
      return all(
          Status::timeout("write slot not free within " + ms_of(timeout) + "; nothing written"));
    }
  }
  if (!me.done) {
    // The leader. leader_group has room for every possible group: no allocation under the
    // lock, so nothing can throw between marking calls taken and handing them back.
    leader_group.clear();
    std::size_t n = 0;
    const auto now = std::chrono::steady_clock::now();
    for (Queued* w : queue) {
      // A call past its deadline is not taken: it leaves the queue by itself (the group is
      // the queue's front, so it ends there).
      if (!leader_group.empty() && now > w->deadline) break;
      // A quiescing write reads the projection itself, and a call with user code (an update
      // function) must not hold other calls up: both go alone.
      const bool w_alone = w->grouping != Grouping::kAny;
      if (!leader_group.empty() && (w_alone || n + w->writes.size() > kMaxGroupWrites)) break;
      w->taken = true;
      leader_group.push_back(w);
      n += w->writes.size();
      if (w_alone) break;
    }
    const std::size_t members = leader_group.size();
    q.unlock();
    commit_group(leader_group);
    q.lock();
    write_calls += members;
    ++write_groups;
    largest_write_group = std::max<std::uint64_t>(largest_write_group, members);
    for (std::size_t k = 0; k < members; ++k) {
      Queued* w = queue.front();
      queue.pop_front();
      w->done = true;
      if (w != &me) w->cv.notify_one();
    }
    if (!queue.empty()) queue.front()->cv.notify_one();
  }
  q.unlock();
  // Each call waits for its own writes' durability point (group commit), and a write that
  // wrote nothing for the state it saw to be applied.
  std::uint64_t highest = 0;
  for (const auto& r : out) {
    if (r.ok()) highest = std::max(highest, *r);
  }
  if (applied_seq.load() < highest) {
    Result<std::uint64_t> waited = wait_applied(highest, deadline, timeout);
    if (!waited.ok()) {
      for (auto& r : out) {
        if (r.ok() && applied_seq.load() < *r) r = waited.status();
      }
    }
  }
}

void Registry::Impl::commit_group(std::span<Queued* const> group) noexcept {
  try {
    group_writes.clear();
    group_out.clear();
    group_of.clear();
    for (Queued* w : group) {
      for (std::size_t i = 0; i < w->writes.size(); ++i) {
        group_writes.push_back(w->writes[i]);
        group_out.push_back(&w->out[i]);
        group_of.push_back(w);
      }
    }
  } catch (const std::exception& e) {  // out of memory before anything was staged
    for (Queued* w : group) {
      for (auto& r : w->out) r = Status::internal(std::string("nothing written: ") + e.what());
    }
    return;
  }
  stage_and_append(group.front()->grouping == Grouping::kQuiesce);
}

void Registry::Impl::stage_and_append(bool quiesce) noexcept {
  const std::span<const Write> writes = group_writes;
  const std::span<Result<std::uint64_t>* const> out = group_out;
  auto all = [&](const Status& s) {
    for (auto* r : out) *r = s;
  };
  // The slot is held only by leaders and, briefly, by compaction: wait for it as long as the
  // group's latest deadline (every call of the group was taken before its own).
  auto latest = group_of.front()->deadline;
  for (const Queued* w : group_of) latest = std::max(latest, w->deadline);
  std::unique_lock lock(write_slot, std::defer_lock);
  if (!lock.try_lock_until(latest)) {
    for (std::size_t i = 0; i < writes.size(); ++i) {
      *out[i] = Status::timeout("write slot not free within " + ms_of(group_of[i]->timeout) +
                                "; nothing written");
    }
    return;
  }
  if (Status f = failure(); !f.ok()) return all(f);
  if (quiesce && applied_seq.load() < head_seq) {  // alone in its group
    Status s = log->wait_durable(head_seq, group_of.front()->deadline);
    if (!s.ok()) {
      if (s.code() == Code::kTimeout) {
        return all(Status::timeout("earlier writes not durable within " +
                                   ms_of(group_of.front()->timeout) + "; nothing written"));
      }
      return all(s);
    }
    apply_durable();
    if (applied_seq.load() < head_seq) return all(failure());
  }
  overlay.prune(applied_seq.load());
  // Validate every write in order, each against the state the ones before it leave. An event
  // goes into the overlay unless the append will make it durable and it is the group's last
  // (then it is applied before the slot is released, and nothing validates against it first).
  // When the append makes the group durable, the whole group is applied before the slot is
  // released: the overlay then borrows the staged events' rows instead of copying them, and
  // is cleared before the slot is released.
  const bool append_makes_durable = opts.log.durability != Durability::kGroupCommit;
  std::uint64_t next_seq = head_seq;
  bool overlay_ahead = false;  // the overlay holds events of this group
  bool appended = false;       // the log holds (some of) them
  std::uint64_t first = 0;
  try {
    staged.clear();
    staged_at.clear();
    payloads.clear();
    staged.reserve(writes.size());  // no reallocation: the overlay may point into it
    payloads.reserve(writes.size());
    for (std::size_t i = 0; i < writes.size(); ++i) {
      const WriteOptions& o = *writes[i].options;
      const std::string& table = table_name(o.table);
      const std::int64_t now = clock();
      replay::CommandContext ctx{
          overlay, table, now, o.hooks, opts.tombstone_ttl_ms, opts.pending_ttl_ms};
      replay::Resolved body = [&] {
        WritingMark mark(this);
        return (*writes[i].resolve)(ctx);
      }();
      if (!body.ok()) {
        if (body.status().code() == Code::kInvalidArgument) invalid_calls.fetch_add(1);
        *out[i] = body.status();
        continue;
      }
      if (!body->has_value()) {  // nothing to write: the state as of the events before it
        writes_without_event.fetch_add(1);
        *out[i] = next_seq;
        continue;
      }
      Pending p{Event{kEventSchemaVersion, opts.hub, table, next_seq + 1, log->epoch(), now,
                      o.hooks, std::move(**body)},
                {},
                {},
                {},
                {}};
      events::encode(p.event, &p.encoded, &p.rows);
      // Everything that can fail on the caller's input is done before the append: once the
      // record is in the log, the event is committed whatever happens to this call.
      if (p.encoded.size() > opts.log.max_record_bytes) {
        invalid_calls.fetch_add(1);
        *out[i] = Status::resource_exhausted("the event is " + std::to_string(p.encoded.size()) +
                                             " bytes encoded, over the log's max_record_bytes " +
                                             std::to_string(opts.log.max_record_bytes) +
                                             "; nothing written");
        continue;
      }
      p.hooks = hook_events_of(p.event);
      p.table = p.event.table;
      ++next_seq;
      staged.push_back(std::move(p));
      staged_at.push_back(i);
      payloads.emplace_back(staged.back().encoded);
      if (!append_makes_durable || i + 1 < writes.size()) {
        overlay_ahead = true;
        overlay.record(staged.back().event, /*borrow=*/append_makes_durable);
      }
    }
    if (staged.empty()) return;
    first = staged.front().event.seq;
    const std::uint64_t last = staged.back().event.seq;
    Status s = log->append_many(first, payloads);
    if (!s.ok()) {
      // The overlay already answers with events the log does not hold: no later write may
      // validate against it.
      if (s.code() == Code::kIoError || overlay_ahead) fail(s);
      if (append_makes_durable) overlay.clear();
      // A batch across a segment roll may have reached the log in part (the log is poisoned
      // then): those events take effect when the registry is reopened.
      const std::uint64_t reached = log->last_seq();
      for (std::size_t k = 0; k < staged_at.size(); ++k) {
        const std::uint64_t seq = first + k;
        *out[staged_at[k]] =
            seq <= reached
                ? Status(s.code(), s.message() + "; event " + std::to_string(seq) +
                                       " reached the log before the failure and takes effect "
                                       "when the registry is reopened")
                : s;
      }
      for (auto* r : out) {  // writes that saw those events share their outcome
        if (r->ok() && **r >= first) *r = s;
      }
      staged.clear();
      return;
    }
    appended = true;
    head_seq = last;
    events_written.fetch_add(staged.size());
    std::size_t bytes = 0;
    for (const Pending& p : staged) {
      bytes += p.encoded.size();
      note_appended(p.encoded.size());
    }
    bytes_written.fetch_add(bytes);
    {
      std::lock_guard pl(pending_mu);
      for (Pending& p : staged) pending.push_back(std::move(p));
    }
    staged.clear();
    // The borrowed rows moved to `pending`; nothing reads the overlay until they are applied.
    if (append_makes_durable) overlay.clear();
    for (std::size_t k = 0; k < staged_at.size(); ++k) *out[staged_at[k]] = first + k;
    Status applied;
    if (Status f = failure(); !f.ok()) {
      applied = f;
    } else if (append_makes_durable || log->durable_seq() >= last) {
      // Durable already (no sync, or synced by the append): applied before the slot is
      // released, so the next write validates against the projection itself. (Otherwise, group
      // commit: each caller waits for the durability point of its own writes.)
      apply_durable();
      if (applied_seq.load() < last) {
        applied = failure();
        if (applied.ok()) applied = Status::internal("events appended but not applied");
      }
    }
    if (!applied.ok()) {
      // The group's events, and the writes that saw them, share the outcome.
      for (auto* r : out) {
        if (r->ok() && **r >= first) *r = applied;
      }
    }
  } catch (const std::exception& e) {  // out of memory
    // The overlay may hold events that never reached the log, or the log events the
    // projection will not get: either way the live state can no longer follow the log.
    if (overlay_ahead || appended) {
      fail(Status::internal(std::string(appended ? "events were appended but could not be "
                                                   "queued for apply ("
                                                 : "writes could not be staged (") +
                            e.what() + "); reopen the registry"));
    }
    if (append_makes_durable) overlay.clear();  // it points into `staged`
    staged.clear();
    const Status f = failure();
    for (auto* r : out) {
      if (!f.ok()) {
        *r = f;
      } else if (r->ok() || r->status() == unset()) {
        *r = Status::internal(std::string("nothing written: ") + e.what());
      }
    }
  }
}

Result<std::uint64_t> Registry::Impl::wait_applied(std::uint64_t seq,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   std::chrono::milliseconds timeout) {
  if (applied_seq.load() >= seq) return seq;
  Status s = log->wait_durable(seq, deadline);
  if (s.code() == Code::kTimeout) {
    return Status::timeout("event " + std::to_string(seq) +
                           " was appended but is not durable within " + ms_of(timeout) +
                           "; it takes effect if the log's sync succeeds, so its outcome is "
                           "unknown to this call");
  }
  if (!s.ok()) return s;
  apply_durable();
  if (applied_seq.load() < seq) return failure();
  return seq;
}

void Registry::Impl::apply_durable() {
  std::lock_guard al(apply_mu);
  const std::uint64_t durable = log->durable_seq();
  std::vector<Pending> batch;
  {
    std::lock_guard pl(pending_mu);
    while (!pending.empty() && pending.front().event.seq <= durable) {
      batch.push_back(std::move(pending.front()));
      pending.pop_front();
    }
  }
  if (batch.empty()) return;
  std::size_t applied = 0;
  {
    std::unique_lock pl(proj_mu);
    for (auto& p : batch) {
      const std::uint64_t seq = p.event.seq;
      Status s = proj.apply(std::move(p.event), p.encoded, p.rows);
      if (!s.ok()) {
        // The writer validated the event against this very state: a refusal is a bug. The
        // log holds the event, so the live state can no longer follow it: stop writing.
        fail(Status::internal("the projection refused the writer's own event " +
                              std::to_string(seq) + " (" + s.to_string() +
                              "); reopen the registry"));
        break;
      }
      ++applied;
    }
    // Applied before anything is published: whoever sees an event on the bus can ask the
    // replay service for it (its head is applied_seq). Stored under the lock, so that a
    // snapshot captured from the projection is never ahead of the head a later reply gives.
    applied_seq.store(proj.last_seq());
  }
  const std::uint64_t epoch = proj.epoch();
  if (listener && applied > 0) {
    std::vector<replay::CommittedEvent> committed;
    try {
      committed.reserve(applied);
    } catch (const std::bad_alloc&) {  // no room for the list: one event per call, below
    }
    for (std::size_t i = 0; i < applied; ++i) {
      const Pending& p = batch[i];
      const replay::CommittedEvent e{p.event.seq, epoch, p.table, p.encoded, p.hooks};
      if (committed.capacity() >= applied) {
        committed.push_back(e);  // no allocation: reserved
      } else {
        listener(std::span<const replay::CommittedEvent>(&e, 1));
      }
    }
    if (!committed.empty()) listener(committed);
  }
  for (std::size_t i = 0; i < applied; ++i) {
    hooks.publish(batch[i].event.seq, std::move(batch[i].hooks));
  }
}

void Registry::Impl::start_janitor(Registry* self) {
  if (opts.janitor_interval.count() <= 0) return;
  janitor = std::thread([this, self] {
    std::unique_lock lock(janitor_mu);
    while (!janitor_cv.wait_for(lock, opts.janitor_interval, [&] { return janitor_stop; })) {
      lock.unlock();
      try {
        (void)self->run_janitor();       // a failure is the log's, and every write reports it
      } catch (const std::exception&) {  // out of memory: try again next period
      }
      lock.lock();
    }
  });
}

void Registry::Impl::stop_janitor() {
  {
    std::lock_guard lock(janitor_mu);
    janitor_stop = true;
  }
  janitor_cv.notify_all();
  if (janitor.joinable()) janitor.join();
}

// ---- opening and closing -----------------------------------------------------------------

Registry::Registry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Registry::~Registry() {
  impl_->stop_janitor();
  impl_->stop_snapshotter();
  impl_->hooks.stop();
  if (impl_->log) (void)impl_->log->close();  // a close error has nobody left to report to
}

Result<std::unique_ptr<Registry>> Registry::open(RegistryOptions options) {
  if (options.hub.empty()) return Status::invalid_argument("open: hub is empty");
  if (options.log_dir.empty()) return Status::invalid_argument("open: log_dir is empty");
  if (options.tombstone_ttl_ms < 0 || options.pending_ttl_ms < 0 ||
      options.tombstone_ttl_ms > replay::kMaxTtlMs || options.pending_ttl_ms > replay::kMaxTtlMs) {
    return Status::invalid_argument(
        "open: tombstone_ttl_ms and pending_ttl_ms must be within 0 "
        "and 100 years");
  }
  if (options.snapshots.compact && !options.snapshots.load) {
    return Status::invalid_argument(
        "open: snapshots.compact needs snapshots.load (a compacted "
        "log opens only from a snapshot)");
  }
  auto impl = std::make_unique<Impl>(std::move(options), false);
  const std::string& dir = impl->opts.log_dir;
  // Snapshots without any segment: the log itself is gone; a new one would silently start
  // over at seq 1.
  auto segments = replay::list_segments(dir);
  auto snapshots = replay::list_snapshots(dir);
  if (!snapshots.ok()) return snapshots.status();
  if (segments.ok() && segments->empty() && !snapshots->empty()) {
    return Status::corruption("the log directory " + dir + " holds " +
                              std::to_string(snapshots->size()) +
                              " snapshot file(s) but no log segment; refusing to start a new "
                              "log over them");
  }
  auto log = replay::Log::open(dir, impl->opts.hub, impl->opts.log);
  if (!log.ok()) return log.status();
  impl->log = std::move(*log);
  impl->recovery = impl->log->recovery().to_string();
  Status cleaned = replay::remove_snapshot_temps(dir);  // snapshots a crash left half-written
  if (!cleaned.ok()) return cleaned;
  auto ahead = replay::remove_snapshots_after(dir, impl->log->last_seq());
  if (!ahead.ok()) return ahead.status();
  for (const std::string& name : *ahead) {
    impl->recovery += (impl->recovery.empty() ? "" : "; ") + std::string("removed ") + name +
                      ": ahead of the log's last record " + std::to_string(impl->log->last_seq()) +
                      " (the log lost its events)";
  }
  replay::RestoreOptions ro;
  ro.max_record_bytes = impl->opts.log.max_record_bytes;
  ro.use_snapshots = impl->opts.snapshots.load;
  auto restored = replay::restore(dir, &impl->proj, ro);
  if (!restored.ok()) {
    if (restored.status().code() == Code::kCompacted) {
      return Status::corruption(restored.status().message());
    }
    return restored.status();
  }
  if (impl->proj.last_seq() != impl->log->last_seq()) {
    return Status::corruption("replay ended at " + std::to_string(impl->proj.last_seq()) +
                              " but the log holds " + std::to_string(impl->log->last_seq()));
  }
  if (std::string r = restored->to_string(); !r.empty()) {
    impl->recovery += (impl->recovery.empty() ? "" : "; ") + r;
  }
  if (restored->snapshot) impl->last_snapshot_seq.store(restored->snapshot->seq);
  impl->head_seq = impl->proj.last_seq();
  // The policy counts events since the last snapshot, not since this open: the events the log
  // holds after the snapshot it started from count (a writer restarted before every_events
  // appends would otherwise never write one). Bytes are counted from the open.
  impl->since_events.store(impl->head_seq -
                           (restored->snapshot ? restored->snapshot->seq : std::uint64_t{0}));
  impl->applied_seq.store(impl->head_seq);
  impl->hooks.start_at(impl->head_seq);
  std::unique_ptr<Registry> registry(new Registry(std::move(impl)));
  registry->impl_->start_janitor(registry.get());
  registry->impl_->start_snapshotter();
  return registry;
}

Result<std::unique_ptr<Registry>> Registry::open_replay(const ReplayOptions& options) {
  // The hub is in every segment's header: read it from the first one kept.
  auto segments = replay::list_segments(options.log_dir);
  if (!segments.ok()) return segments.status();
  if (segments->empty()) return Status::not_found("no log segment in " + options.log_dir);
  auto reader = replay::LogReader::open(options.log_dir,
                                        std::max<std::uint64_t>(1, segments->front().first_seq),
                                        options.max_record_bytes);
  if (!reader.ok()) return reader.status();
  RegistryOptions o;
  o.hub = (*reader)->hub();
  o.log_dir = options.log_dir;
  o.local_node = options.local_node;
  auto impl = std::make_unique<Impl>(std::move(o), true);
  replay::RestoreOptions ro;
  ro.upto_seq = options.upto_seq;
  ro.upto_time_ms = options.upto_time_ms;
  ro.max_record_bytes = options.max_record_bytes;
  ro.use_snapshots = options.use_snapshots;
  ro.progress = options.progress;
  auto restored = replay::restore(options.log_dir, &impl->proj, ro);
  if (!restored.ok()) return restored.status();
  impl->recovery = restored->to_string();
  impl->head_seq = impl->proj.last_seq();
  impl->applied_seq.store(impl->head_seq);
  impl->hooks.start_at(impl->head_seq);
  return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

// ---- writes ------------------------------------------------------------------------------

Result<std::uint64_t> Registry::node_down(std::string_view node, const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = true;  // the point of node-down cleanup (A.11)
  if (node.empty()) {
    impl_->invalid_calls.fetch_add(1);
    return Status::invalid_argument("node_down: node is empty");
  }
  if (impl_->remote) {
    return impl_->remote_write(o, [&] { return impl_->remote->node_down(NodeName(node), o); });
  }
  return impl_->commit(
      o,
      [&](const replay::CommandContext& ctx) {
        // Quiesced: the overlay is empty, so the projection is the writer's whole state.
        std::vector<std::pair<ChildId, std::vector<NodeName>>> affected;
        {
          std::shared_lock lock(impl_->proj_mu);
          if (const replay::Table* t = impl_->proj.table(ctx.table)) {
            t->for_each([&](const replay::StoredRow& row) {
              if (!row.bound()) return;
              if (row.pid_on(node)) affected.emplace_back(row.id(), std::vector{NodeName(node)});
            });
          }
        }
        std::sort(affected.begin(), affected.end());  // a stable order for hooks and replays
        if (affected.empty()) return replay::Resolved(std::optional<EventBody>());
        return replay::resolve_bulk_delete(ctx, std::move(affected));
      },
      Impl::Grouping::kQuiesce);
}

Result<std::uint64_t> Registry::insert(ChildSpec spec, NodePids node_pids,
                                       const InsertOptions& options) {
  if (impl_->remote) {
    return impl_->remote_write(options,
                               [&] { return impl_->remote->insert(spec, node_pids, options); });
  }
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_insert(ctx, std::move(spec), std::move(node_pids), options);
  });
}

Result<std::uint64_t> Registry::bulk_insert(std::vector<Entry> children,
                                            const WriteOptions& options) {
  if (impl_->remote) {
    return impl_->remote_write(options,
                               [&] { return impl_->remote->bulk_insert(children, options); });
  }
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_bulk_insert(ctx, std::move(children));
  });
}

Result<std::uint64_t> Registry::erase(std::string_view child_id, const WriteOptions& options) {
  if (impl_->remote) {
    return impl_->remote_write(options,
                               [&] { return impl_->remote->erase(ChildId(child_id), options); });
  }
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_delete(ctx, child_id);
  });
}

Result<std::uint64_t> Registry::bulk_delete(
    std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& options) {
  if (impl_->remote) {
    return impl_->remote_write(options,
                               [&] { return impl_->remote->bulk_delete(children, options); });
  }
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_bulk_delete(ctx, std::move(children));
  });
}

Result<std::uint64_t> Registry::update(std::string_view child_id, const UpdateFn& fn,
                                       const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // update never fires hooks (B2)
  if (impl_->remote) return impl_->remote_update(child_id, fn, o);
  return impl_->commit(
      o,
      [&](const replay::CommandContext& ctx) { return replay::resolve_update(ctx, child_id, fn); },
      Impl::Grouping::kAlone);  // fn is user code: it holds no other call up
}

Result<bool> Registry::clear_all(const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // clear_all fires no hooks (B2)
  auto seq = impl_->remote ? impl_->remote_write(o, [&] { return impl_->remote->clear_all(o); })
                           : impl_->commit(o, [&](const replay::CommandContext& ctx) {
                               return replay::resolve_clear(ctx);
                             });
  if (!seq.ok()) return seq.status();
  return true;
}

// ---- batches -----------------------------------------------------------------------------

WriteBatch::Op& WriteBatch::add(Kind kind, WriteOptions options) {
  Op& op = ops_.emplace_back();
  op.kind = kind;
  static_cast<WriteOptions&>(op.options) = std::move(options);
  return op;
}

WriteBatch& WriteBatch::insert(ChildSpec spec, NodePids node_pids, InsertOptions options) {
  Op& op = add(Kind::kInsert, {});
  op.options = std::move(options);
  op.spec = std::move(spec);
  op.node_pids = std::move(node_pids);
  return *this;
}

WriteBatch& WriteBatch::bulk_insert(std::vector<Entry> children, WriteOptions options) {
  add(Kind::kBulkInsert, std::move(options)).children = std::move(children);
  return *this;
}

WriteBatch& WriteBatch::erase(std::string_view child_id, WriteOptions options) {
  add(Kind::kErase, std::move(options)).child_id = ChildId(child_id);
  return *this;
}

WriteBatch& WriteBatch::bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> children,
                                    WriteOptions options) {
  add(Kind::kBulkDelete, std::move(options)).nodes = std::move(children);
  return *this;
}

WriteBatch& WriteBatch::update(std::string_view child_id, UpdateFn fn, WriteOptions options) {
  options.hooks = false;  // update never fires hooks (B2)
  Op& op = add(Kind::kUpdate, std::move(options));
  op.child_id = ChildId(child_id);
  op.fn = std::move(fn);
  return *this;
}

WriteBatch& WriteBatch::clear_all(WriteOptions options) {
  options.hooks = false;  // clear_all fires no hooks (B2)
  add(Kind::kClearAll, std::move(options));
  return *this;
}

std::vector<Result<std::uint64_t>> Registry::write(WriteBatch batch) {
  using Kind = WriteBatch::Kind;
  std::vector<Result<std::uint64_t>> out;
  out.reserve(batch.ops_.size());
  if (impl_->remote) {  // one command each, through the calls themselves
    for (auto& op : batch.ops_) {
      switch (op.kind) {
        case Kind::kInsert:
          out.push_back(insert(std::move(op.spec), std::move(op.node_pids), op.options));
          break;
        case Kind::kBulkInsert:
          out.push_back(bulk_insert(std::move(op.children), op.options));
          break;
        case Kind::kErase:
          out.push_back(erase(op.child_id, op.options));
          break;
        case Kind::kBulkDelete:
          out.push_back(bulk_delete(std::move(op.nodes), op.options));
          break;
        case Kind::kUpdate:
          out.push_back(update(op.child_id, op.fn, op.options));
          break;
        case Kind::kClearAll: {
          auto done =
              impl_->remote_write(op.options, [&] { return impl_->remote->clear_all(op.options); });
          out.push_back(std::move(done));
          break;
        }
      }
    }
    return out;
  }
  if (batch.empty()) return out;
  std::vector<Impl::Resolver> resolvers;
  std::vector<Impl::Write> writes;
  resolvers.reserve(batch.ops_.size());
  writes.reserve(batch.ops_.size());
  for (auto& op : batch.ops_) {
    WriteBatch::Op* o = &op;
    switch (op.kind) {
      case Kind::kInsert:
        resolvers.emplace_back([o](const replay::CommandContext& ctx) {
          return replay::resolve_insert(ctx, std::move(o->spec), std::move(o->node_pids),
                                        o->options);
        });
        break;
      case Kind::kBulkInsert:
        resolvers.emplace_back([o](const replay::CommandContext& ctx) {
          return replay::resolve_bulk_insert(ctx, std::move(o->children));
        });
        break;
      case Kind::kErase:
        resolvers.emplace_back([o](const replay::CommandContext& ctx) {
          return replay::resolve_delete(ctx, o->child_id);
        });
        break;
      case Kind::kBulkDelete:
        resolvers.emplace_back([o](const replay::CommandContext& ctx) {
          return replay::resolve_bulk_delete(ctx, std::move(o->nodes));
        });
        break;
      case Kind::kUpdate:
        resolvers.emplace_back([o](const replay::CommandContext& ctx) {
          return replay::resolve_update(ctx, o->child_id, o->fn);
        });
        break;
      case Kind::kClearAll:
        resolvers.emplace_back(
            [](const replay::CommandContext& ctx) { return replay::resolve_clear(ctx); });
        break;
    }
    writes.push_back(Impl::Write{&op.options, &resolvers.back()});
    out.push_back(Impl::unset());
  }
  // A batch with an update function (user code) holds no other call up: it goes alone.
  const bool has_user_code = std::any_of(batch.ops_.begin(), batch.ops_.end(),
                                         [](const auto& op) { return op.kind == Kind::kUpdate; });
  impl_->commit_many(writes, out, has_user_code ? Impl::Grouping::kAlone : Impl::Grouping::kAny);
  return out;
}

}  // namespace procreg
