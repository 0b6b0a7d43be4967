// The Registry: a hub's writer (validate -> event -> log append -> durability -> apply ->
// hooks) or a read-only replay, over one Projection. See include/procreg/registry.h.
#include "procreg/registry.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "events/codec.h"
#include "replay/commands.h"
#include "replay/hook_dispatcher.h"
#include "replay/log.h"
#include "replay/overlay.h"
#include "replay/projection.h"
#include "replay/queries.h"
#include "replay/replay.h"

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

// ---- Impl --------------------------------------------------------------------------------

// The writer's lock, with a timed acquire. (std::timed_mutex's timed lock is not understood by
// GCC 12's ThreadSanitizer, which then reports false errors; a condition variable is.)
// Meets TimedLockable, so std::unique_lock drives it.
class WriteSlot {
 public:
  void lock() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return !busy_; });
    busy_ = true;
  }
  bool try_lock() {
    std::lock_guard l(mu_);
    return !std::exchange(busy_, true);
  }
  template <typename Rep, typename Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock l(mu_);
    if (!cv_.wait_for(l, timeout, [&] { return !busy_; })) return false;
    busy_ = true;
    return true;
  }
  void unlock() {
    {
      std::lock_guard l(mu_);
      busy_ = false;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false;
};

struct Registry::Impl {
  Impl(RegistryOptions o, bool read_only_)
      : opts(std::move(o)),
        read_only(read_only_),
        clock(opts.clock ? opts.clock : Clock(&system_clock_ms)),
        proj(opts.hub, opts.local_node),
        overlay(proj, proj_mu) {}

  struct Pending {
    Event event;
    std::vector<HookEvent> hooks;
  };

  using Resolver = std::function<replay::Resolved(const replay::CommandContext&)>;
  Result<std::uint64_t> commit(const WriteOptions& o, const Resolver& resolve);
  Status wait_applied(std::uint64_t seq);
  void apply_durable();
  const std::string& table_name(const std::string& t) const { return t.empty() ? opts.hub : t; }
  template <typename F>
  auto read(const std::string& table, F&& f) const {
    std::shared_lock lock(proj_mu);
    return f(proj.table(table_name(table)));
  }
  void start_janitor(Registry* self);
  void stop_janitor();

  const RegistryOptions opts;
  const bool read_only;
  const Clock clock;
  std::unique_ptr<replay::Log> log;
  std::string recovery;

  mutable std::shared_mutex proj_mu;  // the projection: shared for reads, exclusive for apply
  replay::Projection proj;

  WriteSlot write_mu;  // serialises validation and append; guards the four below
  replay::Overlay overlay;
  std::uint64_t head_seq = 0;  // last appended
  Status failed;               // once set, every write returns it
  std::string buffer;          // encode buffer

  std::mutex pending_mu;  // appended, not yet applied, in sequence order
  std::deque<Pending> pending;
  std::mutex apply_mu;  // one applier at a time, in sequence order
  std::atomic<std::uint64_t> applied_seq{0};

  replay::HookDispatcher hooks;

  std::thread janitor;
  std::mutex janitor_mu;
  std::condition_variable janitor_cv;
  bool janitor_stop = false;

  std::atomic<std::uint64_t> events_written{0}, bytes_written{0}, writes_without_event{0},
      invalid_calls{0}, rows_expired{0};
};

Result<std::uint64_t> Registry::Impl::commit(const WriteOptions& o, const Resolver& resolve) {
  if (read_only) return Status::unavailable("registry is a read-only replay");
  std::unique_lock lock(write_mu, std::defer_lock);
  if (!lock.try_lock_for(o.timeout)) {
    return Status::timeout("write slot not free within " + std::to_string(o.timeout.count()) +
                           " ms; nothing written");
  }
  if (!failed.ok()) return failed;
  overlay.prune(applied_seq.load());
  const std::string& table = table_name(o.table);
  const std::int64_t now = clock();
  replay::CommandContext ctx{overlay, table, now, o.hooks, opts.tombstone_ttl_ms,
                             opts.pending_ttl_ms};
  replay::Resolved body = resolve(ctx);
  if (!body.ok()) {
    if (body.status().code() == Code::kInvalidArgument) invalid_calls.fetch_add(1);
    return body.status();
  }
  if (!body->has_value()) {
    writes_without_event.fetch_add(1);
    const std::uint64_t seen = head_seq;
    lock.unlock();
    Status s = wait_applied(seen);
    if (!s.ok()) return s;
    return seen;
  }
  Event event{kEventSchemaVersion, opts.hub, table, head_seq + 1, log->epoch(), now, o.hooks,
              std::move(**body)};
  buffer.clear();
  events::encode(event, &buffer);
  Status s = log->append(event.seq, buffer);
  if (!s.ok()) {
    if (s.code() == Code::kIoError) failed = s;
    return s;
  }
  head_seq = event.seq;
  events_written.fetch_add(1);
  bytes_written.fetch_add(buffer.size());
  overlay.record(event);
  {
    std::lock_guard pl(pending_mu);
    std::vector<HookEvent> hook_events = hook_events_of(event);
    pending.push_back(Pending{std::move(event), std::move(hook_events)});
  }
  const std::uint64_t seq = head_seq;
  lock.unlock();
  s = wait_applied(seq);
  if (!s.ok()) return s;
  return seq;
}

Status Registry::Impl::wait_applied(std::uint64_t seq) {
  if (applied_seq.load() >= seq) return Status();
  Status s = log->wait_durable(seq, std::chrono::steady_clock::time_point::max());
  if (!s.ok()) return s;
  apply_durable();
  return Status();
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
  {
    std::unique_lock pl(proj_mu);
    for (auto& p : batch) {
      Status s = proj.apply(std::move(p.event));
      // The writer validated the event against this very state: a refusal is a bug.
      assert(s.ok() && "the writer's own event was refused by its projection");
      (void)s;
    }
  }
  for (auto& p : batch) hooks.publish(p.event.seq, std::move(p.hooks));
  applied_seq.store(proj.last_seq());
}

void Registry::Impl::start_janitor(Registry* self) {
  if (opts.janitor_interval.count() <= 0) return;
  janitor = std::thread([this, self] {
    std::unique_lock lock(janitor_mu);
    while (!janitor_cv.wait_for(lock, opts.janitor_interval, [&] { return janitor_stop; })) {
      lock.unlock();
      (void)self->run_janitor();  // a failure is the log's, and every write reports it
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
  impl_->hooks.stop();
  if (impl_->log) (void)impl_->log->close();  // a close error has nobody left to report to
}

Result<std::unique_ptr<Registry>> Registry::open(RegistryOptions options) {
  if (options.hub.empty()) return Status::invalid_argument("open: hub is empty");
  if (options.log_dir.empty()) return Status::invalid_argument("open: log_dir is empty");
  if (options.tombstone_ttl_ms < 0 || options.pending_ttl_ms < 0) {
    return Status::invalid_argument("open: TTLs must not be negative");
  }
  auto impl = std::make_unique<Impl>(std::move(options), false);
  auto log = replay::Log::open(impl->opts.log_dir, impl->opts.hub, impl->opts.log);
  if (!log.ok()) return log.status();
  impl->log = std::move(*log);
  impl->recovery = impl->log->recovery().to_string();
  auto replayed = replay::replay_log(impl->opts.log_dir, &impl->proj);
  if (!replayed.ok()) return replayed.status();
  if (impl->proj.last_seq() != impl->log->last_seq()) {
    return Status::corruption("replay ended at " + std::to_string(impl->proj.last_seq()) +
                              " but the log holds " + std::to_string(impl->log->last_seq()));
  }
  impl->head_seq = impl->proj.last_seq();
  impl->applied_seq.store(impl->head_seq);
  impl->hooks.start_at(impl->head_seq);
  std::unique_ptr<Registry> registry(new Registry(std::move(impl)));
  registry->impl_->start_janitor(registry.get());
  return registry;
}

Result<std::unique_ptr<Registry>> Registry::open_replay(const ReplayOptions& options) {
  auto reader = replay::LogReader::open(options.log_dir);
  if (!reader.ok()) return reader.status();
  RegistryOptions o;
  o.hub = (*reader)->hub();
  o.log_dir = options.log_dir;
  o.local_node = options.local_node;
  auto impl = std::make_unique<Impl>(std::move(o), true);
  auto replayed = replay::replay_log(options.log_dir, &impl->proj, options.upto_seq);
  if (!replayed.ok()) return replayed.status();
  impl->head_seq = impl->proj.last_seq();
  impl->applied_seq.store(impl->head_seq);
  impl->hooks.start_at(impl->head_seq);
  return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

// ---- writes ------------------------------------------------------------------------------

Result<std::uint64_t> Registry::insert(ChildSpec spec, NodePids node_pids,
                                       const InsertOptions& options) {
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_insert(ctx, std::move(spec), std::move(node_pids), options);
  });
}

Result<std::uint64_t> Registry::bulk_insert(std::vector<Entry> children,
                                            const WriteOptions& options) {
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_bulk_insert(ctx, std::move(children));
  });
}

Result<std::uint64_t> Registry::erase(std::string_view child_id, const WriteOptions& options) {
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_delete(ctx, child_id);
  });
}

Result<std::uint64_t> Registry::bulk_delete(
    std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& options) {
  return impl_->commit(options, [&](const replay::CommandContext& ctx) {
    return replay::resolve_bulk_delete(ctx, std::move(children));
  });
}

Result<std::uint64_t> Registry::update(std::string_view child_id, const UpdateFn& fn,
                                       const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // update never fires hooks (B2)
  return impl_->commit(o, [&](const replay::CommandContext& ctx) {
    return replay::resolve_update(ctx, child_id, fn);
  });
}

Result<bool> Registry::clear_all(const WriteOptions& options) {
  WriteOptions o = options;
  o.hooks = false;  // clear_all fires no hooks (B2)
  auto seq = impl_->commit(o, [&](const replay::CommandContext& ctx) {
    return replay::resolve_clear(ctx);
  });
  if (!seq.ok()) return seq.status();
  return true;
}

// ---- reads -------------------------------------------------------------------------------

std::vector<ChildId> Registry::contains_children(const std::vector<ChildId>& ids,
                                                 const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::contains_children(t, ids); });
}
Dump Registry::dump(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::dump(t, false); });
}
Dump Registry::dump_all(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::dump(t, true); });
}
bool Registry::entry_exists(std::string_view id, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::entry_exists(t, id); });
}
std::optional<Pid> Registry::get_pid(std::string_view id, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::get_pid(t, id); });
}
std::vector<Pid> Registry::get_pids(std::string_view id, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::get_pids(t, id); });
}
std::vector<ChildSpec> Registry::local_child_specs(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::local_child_specs(t); });
}
Dump Registry::local_children(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::local_children(t); });
}
std::vector<std::pair<ChildId, Entry>> Registry::local_data(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::local_data(t); });
}
std::optional<Pid> Registry::local_pid(std::string_view id, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) {
    return replay::local_pid(t, id, impl_->opts.local_node);
  });
}
std::optional<Lookup> Registry::lookup(std::string_view id, const LookupOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) {
    return replay::lookup(t, id, o.with_metadata);
  });
}
ChildNodePids Registry::match_tag(std::string_view tag, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::match_tag(t, tag); });
}
ChildNodePids Registry::process_list(Scope scope, const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) {
    return scope == Scope::kGlobal ? replay::process_list_global(t)
                                   : replay::process_list_local(t, impl_->opts.local_node);
  });
}
RegistryMap Registry::registry(const ReadOptions& o) const {
  return impl_->read(o.table, [&](const auto* t) { return replay::registry_map(t); });
}
std::map<std::string, Dump> Registry::dump_all_tables() const {
  std::shared_lock lock(impl_->proj_mu);
  return impl_->proj.dump_all_tables();
}

// ---- hooks -------------------------------------------------------------------------------

HookSubscription Registry::subscribe(HookTopic topic, HookHandler handler, int priority) {
  const std::uint64_t id = impl_->hooks.subscribe(topic, std::move(handler), priority);
  return HookSubscription([impl = impl_.get(), id] { impl->hooks.unsubscribe(id); });
}

void Registry::on_hook_error(HookErrorSink sink) { impl_->hooks.set_error_sink(std::move(sink)); }

Status Registry::wait_for_hooks(std::uint64_t seq, std::chrono::milliseconds timeout) {
  return impl_->hooks.wait_dispatched(seq, timeout);
}

// ---- janitor -----------------------------------------------------------------------------

std::vector<Registry::ExpiryCandidate> Registry::scan_expired() const {
  const std::int64_t now = impl_->clock();
  std::vector<ExpiryCandidate> out;
  std::shared_lock lock(impl_->proj_mu);
  for (const auto& name : impl_->proj.table_names()) {
    for (const replay::StoredRow* row : impl_->proj.table(name)->ttl_rows()) {
      if (*row->expires_at_ms <= now) out.push_back(ExpiryCandidate{name, row->id(), row->seq});
    }
  }
  return out;
}

Result<std::size_t> Registry::expire(const std::vector<ExpiryCandidate>& candidates) {
  std::map<std::string, std::vector<const ExpiryCandidate*>> by_table;
  for (const auto& c : candidates) by_table[c.table].push_back(&c);
  std::size_t expired = 0;
  for (const auto& [table, list] : by_table) {
    WriteOptions o;
    o.table = table;
    o.timeout = std::chrono::hours(24);  // the janitor waits for its turn
    std::size_t n = 0;
    auto seq = impl_->commit(o, [&](const replay::CommandContext& ctx) -> replay::Resolved {
      events::Expire body;
      for (const ExpiryCandidate* c : list) {
        const replay::StoredRow* row = ctx.view.find(ctx.table, c->child_id);
        // Only the row that expired: one written again since the scan stays (B7 case 52).
        if (row != nullptr && row->seq == c->row_seq && row->expires_at_ms) {
          body.items.push_back(events::ExpireItem{c->child_id, c->row_seq});
        }
      }
      n = body.items.size();
      if (n == 0) return std::optional<EventBody>();
      return std::optional<EventBody>(std::move(body));
    });
    if (!seq.ok()) return seq.status();
    expired += n;
  }
  impl_->rows_expired.fetch_add(expired);
  return expired;
}

Result<std::size_t> Registry::run_janitor() { return expire(scan_expired()); }

// ---- state -------------------------------------------------------------------------------

const std::string& Registry::hub() const { return impl_->opts.hub; }
const std::string& Registry::local_node() const { return impl_->opts.local_node; }
std::uint64_t Registry::last_sequence() const { return impl_->applied_seq.load(); }
std::uint64_t Registry::epoch() const {
  std::shared_lock lock(impl_->proj_mu);
  return impl_->log ? impl_->log->epoch() : impl_->proj.epoch();
}
bool Registry::read_only() const { return impl_->read_only; }
std::string Registry::recovery_report() const { return impl_->recovery; }

RegistryStats Registry::stats() const {
  RegistryStats s;
  s.events_written = impl_->events_written.load();
  s.bytes_written = impl_->bytes_written.load();
  s.writes_without_event = impl_->writes_without_event.load();
  s.invalid_calls = impl_->invalid_calls.load();
  s.rows_expired = impl_->rows_expired.load();
  s.hook_events = impl_->hooks.dispatched();
  s.hook_handler_errors = impl_->hooks.errors();
  return s;
}

}  // namespace procreg
