// Replica: a follower (plugin/follower.h) whose thread is the only one to apply events to the
// replica's Registry: it (re)synchronises from a snapshot, then the range above it, applies the
// bus's events in order, buffers what arrives early, and repairs gaps from the replay service.
// docs/PROTOCOL.md, "Replicas", describes the same algorithm.
#include "procreg/replica.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>

#include "events/codec.h"
#include "events/row_scan.h"
#include "plugin/command_client.h"
#include "plugin/command_service.h"
#include "plugin/follower.h"
#include "plugin/wire.h"
#include "plugin/zap_handler.h"
#include "registry/registry_access.h"
#include "registry/replica_writer.h"

namespace procreg {

namespace {
constexpr std::size_t kMaxBuffered = 1u << 20;  // early events held while a gap is repaired
// A snapshot header's row count pre-sizes the staged table up to this many rows (a bogus
// count must not reserve unbounded memory; past it the table grows as rows arrive).
constexpr std::uint64_t kMaxReservedRows = 1u << 22;
// In-order live events are applied in bursts of up to this many (under one lock, one wake-up)
// when the bus delivers them faster than one at a time.
constexpr std::size_t kMaxBurst = 256;

plugin::FollowerOptions make_follower_options(const ReplicaOptions& o) {
  plugin::FollowerOptions f = plugin::follower_options("replica", o);
  f.topics = {plugin::wire::events_prefix(o.hub)};
  f.live_kind = plugin::wire::TopicKind::kEvent;
  f.read_while_behind = true;  // live events are buffered while a sync or repair runs
  return f;
}
}  // namespace

// The follower (plugin/follower.h) syncs, repairs and reads the bus; this applies: a snapshot
// (sync()), the events of a repair (on_fetched()) and live events (on_live()), holding early
// ones until the gap below them is repaired.
struct Replica::Impl final : plugin::FollowerUser {
  ReplicaOptions options;
  events::DecodeLimits limits = events::record_limits(plugin::wire::kMaxChunkBytes);
  std::unique_ptr<Registry> registry;
  plugin::ServerCounters served;                     // the serve endpoint's
  std::shared_ptr<plugin::ConnectionBudget> budget;  // the serve endpoint's connections
  std::unique_ptr<plugin::CommandService> service;   // the serve endpoint, if any
  // The writer's command channel, the registry's remote writer (null without one): redirected
  // when a writer of a newer term says where it is.
  std::shared_ptr<plugin::CommandClient> commands;

  std::map<std::uint64_t, Event> early;  // live events above a gap, by seq
  // In-order live events not applied yet. An insert as procreg writes it is kept as its bytes
  // (burst_bytes[i] for burst[i], whose views point there) and applied from them, as replay
  // applies a log's; anything else is decoded. The strings are reused from burst to burst
  // and never move (reserved for a whole burst).
  std::vector<replay::ReplicatedEvent> burst;
  std::vector<std::string> burst_bytes;
  std::vector<std::string_view> batch_events;  // the events of the batch being read

  // Shared with other threads.
  std::atomic<std::uint64_t> known_head{0};
  std::atomic<bool> synced{false};
  std::atomic<std::uint64_t> events_applied{0}, live_events{0}, events_repaired{0},
      snapshots_loaded{0};
  plugin::Follower follower;  // last: its thread stops before the rest goes

  Impl(zmq::context_t& c, ReplicaOptions o)
      : options(std::move(o)), follower(c, *this, make_follower_options(options)) {
    burst.reserve(kMaxBurst);
    burst_bytes.reserve(kMaxBurst);
  }

  std::uint64_t applied() const { return registry->last_sequence(); }
  bool caught_up() const { return synced.load() && applied() >= known_head.load(); }
  void notify() { follower.notify(); }
  Status check(std::string_view hub, std::uint64_t epoch) const;
  Status apply(Event&& event);
  Status apply_bytes(std::string_view bytes);
  // The next seq to apply, counting the burst.
  std::uint64_t next_seq() const { return burst.empty() ? applied() + 1 : burst.back().seq() + 1; }
  // The next burst entry's bytes holder, holding `bytes`.
  std::string_view keep_for_burst(std::string_view bytes);
  // Appends an in-order event that passed its checks to the burst.
  bool add_to_burst(replay::ReplicatedEvent&& event);
  void flush_burst();
  void drain_early();
  void discard_beyond(std::uint64_t head);
  // An event message: one event, or a batch of header.count events.
  void on_event(const plugin::Frames& frames);
  // One event of a message, seq and epoch from its header. False: the rest of the message is
  // not to be looked at (a bad event, which is repaired with what follows it, or a new epoch).
  bool on_event_bytes(std::uint64_t seq, std::uint64_t event_epoch, std::string_view bytes);
  void on_bad_event();
  void on_other_epoch();

  // plugin::FollowerUser
  std::uint64_t position() const override { return applied(); }
  bool sync() override;
  Status on_fetched(std::string_view event) override;
  void on_caught_up(const plugin::wire::ReplayReplyHeader& reply) override;
  void on_live(const plugin::wire::ParsedTopic&, const plugin::Frames& frames) override {
    on_event(frames);
  }
  void on_heartbeat(const plugin::wire::Heartbeat& heartbeat) override;
  void on_writer_moved(const plugin::wire::Heartbeat& heartbeat) override {
    if (commands && !heartbeat.command_endpoint.empty()) {
      commands->redirect(heartbeat.command_endpoint);
    }
  }
  void flush() override { flush_burst(); }
  bool on_new_log(std::uint64_t) override;
  // What this replica holds above the writer's head, or above what the writer still holds, is
  // not the writer's history any more: start over from a snapshot.
  void on_shorter_history(std::uint64_t) override { follower.start_over(0); }
  void on_history_gone(const Status&) override { follower.start_over(0); }
  void on_diverged(const Status&) override { follower.start_over(0); }
};

Status Replica::Impl::check(std::string_view hub, std::uint64_t epoch) const {
  if (hub != options.hub) return Status::corruption("event of hub '" + std::string(hub) + "'");
  if (epoch != follower.epoch.load()) {
    return Status::unavailable("event of epoch " + std::to_string(epoch));
  }
  return Status();
}

Status Replica::Impl::apply(Event&& event) {
  if (Status s = check(event.hub, event.epoch); !s.ok()) return s;
  Status s = replay::RegistryAccess::apply_replicated(*registry, std::move(event));
  if (s.ok()) events_applied.fetch_add(1);
  return s;
}

void Replica::Impl::flush_burst() {
  if (burst.empty()) return;
  std::size_t applied_now = 0;
  Status s = replay::RegistryAccess::apply_replicated(
      *registry, std::span<replay::ReplicatedEvent>(burst), &applied_now);
  events_applied.fetch_add(applied_now);
  if (!s.ok()) follower.set_behind(true);  // refused (cannot happen for an exact stream): refetch
  burst.clear();
  notify();
}

Status Replica::Impl::apply_bytes(std::string_view bytes) {
  // An insert as procreg writes it is applied from its bytes (they outlive this call).
  replay::ReplicatedEvent scanned;
  if (events::scan_insert_event(bytes, limits, &scanned.scanned)) {
    if (Status s = check(scanned.scanned.hub, scanned.scanned.epoch); !s.ok()) return s;
    std::size_t applied_now = 0;
    Status s = replay::RegistryAccess::apply_replicated(
        *registry, std::span<replay::ReplicatedEvent>(&scanned, 1), &applied_now);
    events_applied.fetch_add(applied_now);
    return s;
  }
  auto event = events::decode(bytes, limits);
  if (!event.ok()) return event.status();
  return apply(std::move(*event));
}

void Replica::Impl::drain_early() {
  while (!early.empty()) {
    auto it = early.begin();
    if (it->first <= applied()) {
      early.erase(it);
      continue;
    }
    if (it->first != applied() + 1) break;
    Event e = std::move(it->second);
    early.erase(it);
    if (!apply(std::move(e)).ok()) break;  // refused (cannot happen for an exact stream)
  }
  follower.set_behind(!early.empty() || applied() < known_head.load());
}

// A snapshot, loaded as the state; the follower then fetches the range above it.
bool Replica::Impl::sync() {
  // The rows go into a state built aside as they arrive (decoding and loading overlap the
  // service's work); readers keep the old state until one O(1) swap, and the old state is
  // freed after it, outside the lock.
  std::unique_ptr<replay::Projection> staged = replay::RegistryAccess::new_projection(*registry);
  std::uint64_t total = 0;
  bool reserved = false;
  auto header = follower.replay().fetch_snapshot(
      [&](std::string_view row) {
        if (follower.stopping()) return Status::unavailable("replica stopping");
        // Rows as procreg writes them are kept as they are; anything else is decoded (and
        // refused there if it is not a row).
        const auto reserve_once = [&](std::string_view table) {
          if (reserved) return;  // the rows of a hub are nearly always in one table
          staged->reserve_rows(std::string(table), static_cast<std::size_t>(total));
          reserved = true;
        };
        events::ScannedSnapshotRow scanned;
        if (events::scan_snapshot_row(row, limits, &scanned)) {
          reserve_once(scanned.table);
          staged->load_row(scanned.table, scanned.row, scanned.revision);
          return Status();
        }
        auto r = plugin::wire::decode_snapshot_row(row, limits);
        if (!r.ok()) return r.status();
        reserve_once(r->table);
        staged->load_row(r->table, r->row, r->revision);
        return Status();
      },
      [&](const plugin::wire::ReplayReplyHeader& h) {
        staged->reset_to(h.epoch, h.last);
        total = std::min<std::uint64_t>(h.total, kMaxReservedRows);
        return Status();
      });
  if (!header.ok()) {
    follower.counters.replay_failures.fetch_add(1);
    return false;
  }
  follower.epoch = header->epoch;  // before the state is visible: a waiter may check both
  follower.note_incarnation(header->last, header->last_incarnation);
  replay::RegistryAccess::install_snapshot(*registry, header->epoch, header->last, *staged);
  staged.reset();  // the old state
  snapshots_loaded.fetch_add(1);
  if (known_head.load() < header->last) known_head = header->last;
  return true;
}

Status Replica::Impl::on_fetched(std::string_view event) {
  Status s = apply_bytes(event);
  if (s.ok()) events_repaired.fetch_add(1);
  return s;
}

// After a repair to the head: everything this thread took from the bus was read before the
// repair's first request was sent, so whatever the writer published then is at or below the
// head it answered with. Then whatever arrived meanwhile is applied.
void Replica::Impl::on_caught_up(const plugin::wire::ReplayReplyHeader& reply) {
  if (known_head.load() < reply.head) known_head = reply.head;
  discard_beyond(std::max(reply.head, applied()));
  drain_early();
  notify();
  if (!follower.behind() && !synced.load()) {
    synced = true;
    notify();
  }
}

// A buffered event or an announced seq above the writer's head is not the writer's (a forged
// or corrupt message): drop it and count it, instead of waiting for a seq the writer may never
// reach.
void Replica::Impl::discard_beyond(std::uint64_t head) {
  std::uint64_t discarded = 0;
  for (auto it = early.upper_bound(head); it != early.end(); it = early.erase(it)) ++discarded;
  if (known_head.load() > head) {
    known_head = head;
    ++discarded;
  }
  if (discarded != 0) follower.counters.bad_frames.fetch_add(discarded);
}

// The replica starts over from a snapshot, whatever the new log's epoch (the snapshot's is the
// one followed).
bool Replica::Impl::on_new_log(std::uint64_t) {
  early.clear();
  synced = false;
  known_head = 0;
  notify();
  return false;
}

void Replica::Impl::on_other_epoch() {
  flush_burst();
  follower.on_other_epoch();
}

void Replica::Impl::on_event(const plugin::Frames& frames) {
  auto& counters = follower.counters;
  if (frames.size() != 3) {
    live_events.fetch_add(1);
    counters.bad_frames.fetch_add(1);
    return;
  }
  auto header = plugin::wire::decode_event_header(plugin::view(frames[1]));
  if (!header.ok()) {
    live_events.fetch_add(1);
    counters.bad_frames.fetch_add(1);
    return;
  }
  live_events.fetch_add(header->count);
  if (header->seq > std::numeric_limits<std::uint64_t>::max() - (header->count - 1)) {
    counters.bad_frames.fetch_add(1);  // seqs past 2^64 - 1: forged
    return;
  }
  if (!follower.accept_term(header->term)) return;  // a fenced writer's, even while syncing
  if (!follower.syncing()) {
    if (!follower.accept_live(*header, next_seq() - 1)) {
      flush_burst();
      return;
    }
  }
  if (header->count == 1) {
    (void)on_event_bytes(header->seq, header->epoch, plugin::view(frames[2]));
    return;
  }
  if (!follower.syncing()) {  // what needs no decoding
    if (header->epoch != follower.epoch.load()) {
      on_other_epoch();
      return;
    }
    if (header->seq + (header->count - 1) < next_seq()) {
      counters.duplicates_dropped.fetch_add(header->count);
      return;
    }
  }
  batch_events.clear();
  if (!plugin::wire::decode_event_batch(plugin::view(frames[2]), header->count, limits,
                                        &batch_events)
           .ok()) {
    if (follower.syncing()) {
      counters.bad_frames.fetch_add(1);  // the sync fetches everything up to the head anyway
    } else {
      on_bad_event();
    }
    return;
  }
  for (std::uint32_t i = 0; i < header->count; ++i) {
    if (!on_event_bytes(header->seq + i, header->epoch, batch_events[i])) return;
  }
}

void Replica::Impl::on_bad_event() {
  flush_burst();
  follower.counters.bad_frames.fetch_add(1);  // refetched from the replay service as a gap
  follower.on_gap();
}

bool Replica::Impl::on_event_bytes(std::uint64_t seq, std::uint64_t event_epoch,
                                   std::string_view bytes) {
  if (follower.syncing()) {  // buffered until the sync, which may make it obsolete
    if (early.size() < kMaxBuffered) {
      auto event = events::decode(bytes, limits);
      if (event.ok()) early.emplace(seq, std::move(*event));
    }
    return true;
  }
  if (event_epoch != follower.epoch.load()) {
    on_other_epoch();
    return false;
  }
  const std::uint64_t next = next_seq();
  if (seq < next || early.count(seq) != 0) {
    follower.counters.duplicates_dropped.fetch_add(1);
    return true;
  }
  if (seq == next && early.empty()) {  // in order: an insert is scanned, not decoded
    replay::ReplicatedEvent scanned;
    if (events::scan_insert_event(keep_for_burst(bytes), limits, &scanned.scanned)) {
      if (scanned.scanned.seq != seq || scanned.scanned.epoch != event_epoch) {
        on_bad_event();
        return false;  // the rest of its message is repaired with it
      }
      if (seq > known_head.load()) known_head = seq;
      return add_to_burst(std::move(scanned));
    }
  }
  auto event = events::decode(bytes, limits);
  if (!event.ok() || event->seq != seq || event->epoch != event_epoch) {
    on_bad_event();
    return false;  // the rest of its message is repaired with it
  }
  if (seq > known_head.load()) known_head = seq;
  if (seq == next && early.empty()) {
    replay::ReplicatedEvent decoded;
    decoded.decoded = std::move(*event);
    return add_to_burst(std::move(decoded));
  }
  flush_burst();
  follower.on_gap();
  if (early.size() < kMaxBuffered) early.emplace(seq, std::move(*event));
  return true;
}

std::string_view Replica::Impl::keep_for_burst(std::string_view bytes) {
  if (burst_bytes.size() <= burst.size()) burst_bytes.emplace_back();  // within the reserve
  std::string& kept = burst_bytes[burst.size()];
  kept.assign(bytes.data(), bytes.size());
  return kept;
}

bool Replica::Impl::add_to_burst(replay::ReplicatedEvent&& event) {
  if (!check(event.hub(), event.epoch()).ok()) {
    flush_burst();
    follower.set_behind(true);
    return false;
  }
  burst.push_back(std::move(event));
  if (burst.size() >= kMaxBurst) flush_burst();
  return true;
}

void Replica::Impl::on_heartbeat(const plugin::wire::Heartbeat& heartbeat) {
  if (heartbeat.seq > known_head.load()) known_head = heartbeat.seq;
  // Events come before the heartbeat that counts them on the same pipe: anything below its
  // seq that is not here by now was lost.
  if (heartbeat.seq > applied()) follower.on_gap();
  notify();
}

Result<std::unique_ptr<Replica>> Replica::start(zmq::context_t& context,
                                                const ReplicaOptions& options) {
  if (options.hub.empty()) return Status::invalid_argument("replica: hub is empty");
  if (options.bus_endpoint.empty() || options.replay_endpoint.empty()) {
    return Status::invalid_argument("replica: bus_endpoint and replay_endpoint are required");
  }
  if (options.chunk_events == 0 || options.chunk_events > plugin::wire::kMaxChunkItems) {
    return Status::invalid_argument("replica: chunk_events must be 1.." +
                                    std::to_string(plugin::wire::kMaxChunkItems));
  }
  if (options.max_writes_in_flight < 1) {
    return Status::invalid_argument("replica: max_writes_in_flight must be at least 1");
  }
  if (Status s = plugin::check_client_curve(options.curve, true, "replica"); !s.ok()) return s;
  auto impl = std::make_unique<Impl>(context, options);
  std::shared_ptr<replay::RemoteWriter> writer;
  try {
    if (options.command_endpoint.empty()) {
      writer = std::make_shared<plugin::NoWriter>();
    } else {
      auto client = std::make_shared<plugin::CommandClient>(
          context, options.command_endpoint, options.hub,
          static_cast<std::size_t>(options.max_writes_in_flight), 64u << 20, options.curve);
      impl->commands = client;
      writer = std::move(client);
    }
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("replica: cannot connect: ") + e.what());
  }
  if (Status s = impl->follower.connect(); !s.ok()) return s;
  impl->registry =
      replay::RegistryAccess::open_replica(options.hub, options.local_node, std::move(writer));
  if (!options.serve_endpoint.empty()) {
    HubServerOptions so;
    so.command_threads = options.serve_threads;
    so.curve = options.curve;  // its own keys, and the policy of who may use it
    impl->budget = std::make_shared<plugin::ConnectionBudget>(options.max_connections);
    auto service = plugin::CommandService::start(context, *impl->registry, options.serve_endpoint,
                                                 so, impl->served, impl->budget);
    if (!service.ok()) return service.status();
    impl->service = std::move(*service);
  }
  impl->follower.start();
  return std::unique_ptr<Replica>(new Replica(std::move(impl)));
}

Replica::Replica(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replica::~Replica() { stop(); }

void Replica::stop() {
  if (impl_->service) impl_->service->stop();
  impl_->follower.stop();
}

const std::string& Replica::serve_endpoint() const {
  static const std::string kNone;
  return impl_->service ? impl_->service->endpoint() : kNone;
}

Registry& Replica::registry() { return *impl_->registry; }
const Registry& Replica::registry() const { return *impl_->registry; }
bool Replica::caught_up() const { return impl_->caught_up(); }
std::uint64_t Replica::last_applied() const { return impl_->applied(); }
std::uint64_t Replica::head() const { return std::max(impl_->known_head.load(), impl_->applied()); }
// The epoch of the state queries see (set with its seq), not the one the sync is heading for.
std::uint64_t Replica::epoch() const { return impl_->registry->epoch(); }

Status Replica::wait_for(std::uint64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock l(impl_->follower.mu);
  if (!impl_->follower.cv.wait_for(l, timeout, [&] { return impl_->applied() >= seq; })) {
    return Status::timeout("replica at " + std::to_string(impl_->applied()) + ", waiting for " +
                           std::to_string(seq));
  }
  return Status();
}

Status Replica::wait_caught_up(std::chrono::milliseconds timeout) const {
  std::unique_lock l(impl_->follower.mu);
  if (!impl_->follower.cv.wait_for(l, timeout, [&] { return impl_->caught_up(); })) {
    return Status::timeout("replica not caught up: applied " + std::to_string(impl_->applied()) +
                           ", head " + std::to_string(impl_->known_head.load()));
  }
  return Status();
}

ReplicaStats Replica::stats() const {
  const Impl& i = *impl_;
  ReplicaStats s;
  i.follower.counters.copy_to(&s);
  s.events_applied = i.events_applied.load();
  s.live_events = i.live_events.load();
  s.events_repaired = i.events_repaired.load();
  s.snapshots_loaded = i.snapshots_loaded.load();
  s.heartbeats = i.follower.counters.heartbeats.load();
  s.commands_served = i.served.commands.load();
  s.command_errors = i.served.command_errors.load() + i.served.bad_frames.load();
  s.permission_denied = i.served.permission_denied.load();
  s.replies_refused = i.served.replies_refused.load();
  s.connections_refused = i.service ? i.service->connections_refused() : 0;
  if (i.budget) {
    s.connections_open = i.budget->open();
    s.connections_over_limit = i.budget->over_limit();
  }
  return s;
}

}  // namespace procreg
