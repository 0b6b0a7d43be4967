// The Registry: a hub's writer (validate -> event -> log append -> durability -> apply ->
// hooks), a replica, or a read-only replay, over one Projection; the parts are in
// registry/registry_impl.h. See include/procreg/registry.h.
#include "procreg/registry.h"

#include <algorithm>
#include <shared_mutex>

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

// ---- the parts of each mode --------------------------------------------------------------

void Registry::Impl::become_writer(std::unique_ptr<replay::Log> opened) {
  log = std::move(opened);
  applier = std::make_unique<replay::Applier>(log.get(), proj, proj_mu, hooks);
  pipeline = std::make_unique<replay::CommitPipeline>(
      opts, clock, *log, proj, proj_mu, *applier, counters,
      [this](std::size_t events, std::size_t bytes) { snapshotter->note_appended(events, bytes); });
  snapshotter =
      std::make_unique<replay::Snapshotter>(opts, clock, *log, *applier, pipeline->slot());
  replication = std::make_unique<replay::ReplicationTracker>(*log, opts.sync_standbys,
                                                             opts.standby_timeout, opts.lease);
  auto q = std::make_unique<replay::WriterQueue>(
      proj, proj_mu, *pipeline, *applier, *log, counters,
      replay::WriterQueue::Limits{opts.max_group_writes, opts.max_queued_writes},
      replication.get());
  queue = q.get();
  writer = std::move(q);
  // Under group commit (or synchronous replication, or a lease) the writer thread applies what
  // each sync (or standby acknowledgement, or renewal) made durable.
  if (opts.log.durability == Durability::kGroupCommit || opts.sync_standbys > 0 || opts.lease)
    log->on_durable([q = queue] { q->on_durable(); });
}

void Registry::Impl::become_replica(std::shared_ptr<replay::RemoteWriter> remote) {
  applier = std::make_unique<replay::Applier>(nullptr, proj, proj_mu, hooks);
  auto r = std::make_unique<replay::ReplicaWriter>(
      proj, proj_mu, *applier, opts.hub, std::move(remote), counters, opts.max_queued_writes);
  replica = r.get();
  writer = std::move(r);
}

void Registry::Impl::become_read_only() {
  applier = std::make_unique<replay::Applier>(nullptr, proj, proj_mu, hooks);
  writer = std::make_unique<replay::ReadOnlyWriter>(proj, proj_mu);
}

// ---- opening and closing -----------------------------------------------------------------

Registry::Registry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Registry::~Registry() {
  impl_->janitor.stop();
  if (impl_->snapshotter) impl_->snapshotter->stop();
  impl_->writer->close();      // completes every accepted submission
  impl_->replication.reset();  // before the log it gates: the lease may outlive both
  impl_->hooks.stop();
  if (impl_->durable) (void)impl_->durable->flush();
  if (impl_->log) (void)impl_->log->close();  // a close error has nobody left to report to
}

Status Registry::set_durable_position(std::string_view name, std::uint64_t seq) {
  if (!impl_->durable) {
    return Status::unavailable("durable positions are kept by the hub's writer");
  }
  if (const std::uint64_t head = last_sequence(); seq > head) {
    return Status::invalid_argument("position " + std::to_string(seq) + " is past the head " +
                                    std::to_string(head));
  }
  return impl_->durable->set(name, seq);
}

std::map<std::string, std::uint64_t, std::less<>> Registry::durable_positions() const {
  if (!impl_->durable) return {};
  return impl_->durable->all();
}

std::uint64_t Registry::durable_position(std::string_view name) const {
  return impl_->durable ? impl_->durable->get(name) : 0;
}

namespace {

Status check_options(const RegistryOptions& options) {
  if (options.hub.empty()) return Status::invalid_argument("open: hub is empty");
  if (options.log_dir.empty()) return Status::invalid_argument("open: log_dir is empty");
  if (options.tombstone_ttl_ms < 0 || options.pending_ttl_ms < 0 ||
      options.tombstone_ttl_ms > replay::kMaxTtlMs || options.pending_ttl_ms > replay::kMaxTtlMs) {
    return Status::invalid_argument(
        "open: tombstone_ttl_ms and pending_ttl_ms must be within 0 "
        "and 100 years");
  }
  if (options.max_group_writes == 0 || options.max_group_writes > (1u << 20)) {
    return Status::invalid_argument("open: max_group_writes must be 1 to 1048576");
  }
  if (options.max_queued_writes == 0) {
    return Status::invalid_argument("open: max_queued_writes must be at least 1");
  }
  if (options.standby_timeout.count() <= 0 || options.sync_standbys > 64) {
    return Status::invalid_argument(
        "open: standby_timeout must be positive and sync_standbys at most 64");
  }
  if (options.snapshots.compact && !options.snapshots.load) {
    return Status::invalid_argument(
        "open: snapshots.compact needs snapshots.load (a compacted "
        "log opens only from a snapshot)");
  }
  return Status();
}

// Snapshots without any segment: the log itself is gone; a new one would silently start over
// at seq 1.
Status check_log_dir(const std::string& dir) {
  auto segments = replay::list_segments(dir);
  auto snapshots = replay::list_snapshots(dir);
  if (!snapshots.ok()) return snapshots.status();
  if (segments.ok() && segments->empty() && !snapshots->empty()) {
    return Status::corruption("the log directory " + dir + " holds " +
                              std::to_string(snapshots->size()) +
                              " snapshot file(s) but no log segment; refusing to start a new "
                              "log over them");
  }
  return Status();
}

void add_recovery(std::string* report, const std::string& line) {
  *report += (report->empty() ? "" : "; ") + line;
}

}  // namespace

Result<std::unique_ptr<Registry>> Registry::open(RegistryOptions options) {
  if (Status s = check_options(options); !s.ok()) return s;
  auto impl = std::make_unique<Impl>(std::move(options));
  const std::string& dir = impl->opts.log_dir;
  if (Status s = check_log_dir(dir); !s.ok()) return s;
  auto log = replay::Log::open(dir, impl->opts.hub, impl->opts.log);
  if (!log.ok()) return log.status();
  impl->become_writer(std::move(*log));
  replay::Log& opened = *impl->log;
  impl->recovery = opened.recovery().to_string();
  Status cleaned = replay::remove_snapshot_temps(dir);  // snapshots a crash left half-written
  if (!cleaned.ok()) return cleaned;
  auto ahead = replay::remove_snapshots_after(dir, opened.last_seq());
  if (!ahead.ok()) return ahead.status();
  for (const std::string& name : *ahead) {
    add_recovery(&impl->recovery, "removed " + name + ": ahead of the log's last record " +
                                      std::to_string(opened.last_seq()) +
                                      " (the log lost its events)");
  }
  replay::RestoreOptions ro;
  ro.v1_max_record_bytes = impl->opts.log.max_record_bytes;
  ro.use_snapshots = impl->opts.snapshots.load;
  auto restored = replay::restore(dir, &impl->proj, ro);
  if (!restored.ok()) {
    if (restored.status().code() == Code::kCompacted) {
      return Status::corruption(restored.status().message());
    }
    return restored.status();
  }
  if (impl->proj.last_seq() != opened.last_seq()) {
    return Status::corruption("replay ended at " + std::to_string(impl->proj.last_seq()) +
                              " but the log holds " + std::to_string(opened.last_seq()));
  }
  if (std::string r = restored->to_string(); !r.empty()) add_recovery(&impl->recovery, r);
  const std::uint64_t head = impl->proj.last_seq();
  impl->pipeline->set_head(head);
  // The policy counts events since the last snapshot, not since this open: the events the log
  // holds after the snapshot it started from count (a writer restarted before every_events
  // appends would otherwise never write one). Bytes are counted from the open.
  const std::uint64_t snapshot_seq = restored->snapshot ? restored->snapshot->seq : 0;
  impl->snapshotter->opened(snapshot_seq, head - snapshot_seq);
  auto durable = replay::DurablePositions::open(impl->opts.log_dir);
  if (!durable.ok()) return durable.status();
  impl->durable = std::move(*durable);
  impl->snapshotter->set_durable(impl->durable.get());
  impl->applier->set_applied_seq(head);
  impl->hooks.start_at(head);
  std::unique_ptr<Registry> registry(new Registry(std::move(impl)));
  Registry* self = registry.get();
  self->impl_->janitor.start(self->impl_->opts.janitor_interval,
                             [self] { (void)self->run_janitor(); });
  self->impl_->snapshotter->start();
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
  auto impl = std::make_unique<Impl>(std::move(o));
  impl->become_read_only();
  replay::RestoreOptions ro;
  ro.upto_seq = options.upto_seq;
  ro.upto_time_ms = options.upto_time_ms;
  ro.v1_max_record_bytes = options.max_record_bytes;
  ro.use_snapshots = options.use_snapshots;
  ro.progress = options.progress;
  auto restored = replay::restore(options.log_dir, &impl->proj, ro);
  if (!restored.ok()) return restored.status();
  impl->recovery = restored->to_string();
  impl->applier->set_applied_seq(impl->proj.last_seq());
  impl->hooks.start_at(impl->proj.last_seq());
  return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

// ---- writes ------------------------------------------------------------------------------

Result<std::uint64_t> Registry::node_down(std::string_view node, const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = true;  // the point of node-down cleanup (docs/SEMANTICS.md, "node_down")
  if (node.empty()) {
    impl_->counters.invalid_calls.fetch_add(1);
    return Status::invalid_argument("node_down: node is empty");
  }
  return impl_->writer->node_down(node, o);
}

Result<std::uint64_t> Registry::insert(ChildSpec spec, NodePids node_pids,
                                       const InsertOptions& options) {
  return impl_->writer->insert(std::move(spec), std::move(node_pids), options);
}

Result<std::uint64_t> Registry::bulk_insert(std::vector<Entry> children,
                                            const WriteOptions& options) {
  return impl_->writer->bulk_insert(std::move(children), options);
}

Result<std::uint64_t> Registry::erase(std::string_view child_id, const WriteOptions& options) {
  return impl_->writer->erase(child_id, options);
}

Result<std::uint64_t> Registry::bulk_delete(
    std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& options) {
  return impl_->writer->bulk_delete(std::move(children), options);
}

Result<std::uint64_t> Registry::update(std::string_view child_id, const UpdateFn& fn,
                                       const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // update never fires hooks (docs/SEMANTICS.md, "update")
  return impl_->writer->update(child_id, fn, o);
}

Result<bool> Registry::clear_all(const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // clear_all fires no hooks (docs/SEMANTICS.md, "clear_all")
  auto seq = impl_->writer->clear_all(o);
  if (!seq.ok()) return seq.status();
  return true;
}

std::vector<Result<std::uint64_t>> Registry::write(WriteBatch batch) {
  return impl_->writer->write(batch.ops_);
}

void Registry::submit(WriteBatch batch, WriteDone done) {
  impl_->writer->submit(std::move(batch.ops_), std::move(done));
}

std::future<WriteResults> Registry::submit(WriteBatch batch) {
  auto promise = std::make_shared<std::promise<WriteResults>>();
  std::future<WriteResults> results = promise->get_future();
  submit(std::move(batch), [promise](WriteResults r) { promise->set_value(std::move(r)); });
  return results;
}

void Registry::submit_insert(ChildSpec spec, NodePids node_pids, InsertOptions options,
                             std::function<void(Result<std::uint64_t>)> done) {
  WriteBatch batch;
  batch.insert(std::move(spec), std::move(node_pids), std::move(options));
  submit(std::move(batch), [done = std::move(done)](WriteResults r) { done(std::move(r[0])); });
}

// ---- snapshots ---------------------------------------------------------------------------

Result<SnapshotInfo> Registry::snapshot() {
  if (!impl_->snapshotter)
    return Status::unavailable("snapshot: only a hub's writer writes snapshots");
  if (Status failed = impl_->applier->failure(); !failed.ok()) return failed;
  return impl_->snapshotter->take();
}

Result<std::size_t> Registry::compact() {
  if (!impl_->snapshotter) {
    return Status::unavailable("compact: only a hub's writer compacts its log");
  }
  return impl_->snapshotter->compact();
}

}  // namespace procreg
