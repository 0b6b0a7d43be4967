// Replica: one thread owns the SUB socket and the replay client and is the only one to apply
// events to the replica's Registry. Its loop: (re)synchronise when needed (a snapshot, then the
// range above it), read the bus, apply in order, buffer what arrives early, and repair gaps
// from the replay service. docs/PROTOCOL.md, "Replicas", describes the same algorithm.
#include "procreg/replica.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "events/codec.h"
#include "events/row_scan.h"
#include "plugin/command_client.h"
#include "plugin/replay_client.h"
#include "plugin/wire.h"
#include "plugin/zmq_util.h"
#include "registry/registry_access.h"

namespace procreg {

namespace {
using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kMaxBuffered = 1u << 20;  // early events held while a gap is repaired
constexpr std::chrono::milliseconds kRetryPause{200};
// A snapshot header's row count pre-sizes the staged table up to this many rows (a bogus
// count must not reserve unbounded memory; past it the table grows as rows arrive).
constexpr std::uint64_t kMaxReservedRows = 1u << 22;
// In-order live events are applied in bursts of up to this many (under one lock, one wake-up)
// when the bus delivers them faster than one at a time.
constexpr std::size_t kMaxBurst = 256;
}  // namespace

struct Replica::Impl {
  zmq::context_t& context;
  ReplicaOptions options;
  events::DecodeLimits limits = events::record_limits(plugin::wire::kMaxChunkBytes);
  std::unique_ptr<Registry> registry;
  std::unique_ptr<plugin::ReplayClient> replay;
  zmq::socket_t sub;

  std::map<std::uint64_t, Event> early;        // live events above a gap, by seq
  std::vector<Event> burst;                    // in-order live events not applied yet
  std::vector<std::string_view> batch_events;  // the events of the batch being read
  bool need_sync = true;                       // no state yet, or a new epoch
  bool gap = false;  // something between applied and known_head is missing
  SteadyClock::time_point last_heard;

  // Shared with other threads.
  std::atomic<std::uint64_t> epoch{0};
  std::atomic<std::uint64_t> known_head{0};
  std::atomic<bool> synced{false};
  std::atomic<bool> stop{false};
  mutable std::mutex mu;
  mutable std::condition_variable cv;  // applied seq or caught-up state changed
  std::thread thread;

  std::atomic<std::uint64_t> events_applied{0}, live_events{0}, duplicates_dropped{0},
      gaps_detected{0}, events_repaired{0}, snapshots_loaded{0}, resyncs{0}, heartbeats{0},
      bad_frames{0}, replay_failures{0};

  Impl(zmq::context_t& c, ReplicaOptions o) : context(c), options(std::move(o)) {}

  std::uint64_t applied() const { return registry->last_sequence(); }
  bool caught_up() const { return synced.load() && applied() >= known_head.load(); }
  void notify() {
    { std::lock_guard l(mu); }
    cv.notify_all();
  }
  void run();
  void run_loop();
  std::atomic<std::uint64_t> thread_errors{0};
  bool full_sync();
  bool repair(std::uint64_t to);
  Status check(const Event& event) const;
  Status apply(Event&& event);
  Status apply_bytes(std::string_view bytes);
  // The next seq to apply, counting the burst.
  std::uint64_t next_seq() const { return burst.empty() ? applied() + 1 : burst.back().seq + 1; }
  void flush_burst();
  void drain_early();
  void on_message(plugin::Frames& frames);
  // An event message: one event, or a batch of header.count events.
  void on_event(const plugin::Frames& frames);
  // One event of a message, seq and epoch from its header. False: the rest of the message is
  // not to be looked at (a bad event, which is repaired with what follows it, or a new epoch).
  bool on_event_bytes(std::uint64_t seq, std::uint64_t event_epoch, std::string_view bytes);
  void on_bad_event();
  void on_heartbeat(const plugin::Frames& frames);
  void new_epoch(std::uint64_t e);
  void on_other_epoch();
  void discard_beyond(std::uint64_t head);
  void pause();
};

Status Replica::Impl::check(const Event& event) const {
  if (event.hub != options.hub) return Status::corruption("event of hub '" + event.hub + "'");
  if (event.epoch != epoch.load()) {
    return Status::unavailable("event of epoch " + std::to_string(event.epoch));
  }
  return Status();
}

Status Replica::Impl::apply(Event&& event) {
  if (Status s = check(event); !s.ok()) return s;
  Status s = replay::RegistryAccess::apply_replicated(*registry, std::move(event));
  if (s.ok()) events_applied.fetch_add(1);
  return s;
}

void Replica::Impl::flush_burst() {
  if (burst.empty()) return;
  std::size_t applied_now = 0;
  Status s = replay::RegistryAccess::apply_replicated(*registry, burst, &applied_now);
  events_applied.fetch_add(applied_now);
  if (!s.ok()) gap = true;  // refused (cannot happen for an exact stream): fetch it again
  burst.clear();
  notify();
}

Status Replica::Impl::apply_bytes(std::string_view bytes) {
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
    if (!apply(std::move(e)).ok()) {
      gap = true;  // refused (cannot happen for an exact stream): fetch it again
      break;
    }
  }
  gap = !early.empty() || applied() < known_head.load();
}

void Replica::Impl::pause() {
  std::unique_lock l(mu);
  cv.wait_for(l, kRetryPause, [&] { return stop.load(); });
}

bool Replica::Impl::full_sync() {
  // The rows go into a state built aside as they arrive (decoding and loading overlap the
  // service's work); readers keep the old state until one O(1) swap, and the old state is
  // freed after it, outside the lock.
  std::unique_ptr<replay::Projection> staged = replay::RegistryAccess::new_projection(*registry);
  std::uint64_t total = 0;
  bool reserved = false;
  auto header = replay->fetch_snapshot(
      [&](std::string_view row) {
        if (stop.load()) return Status::unavailable("replica stopping");
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
        staged->load_row(r->table, std::move(r->row), r->revision);
        return Status();
      },
      [&](const plugin::wire::ReplayReplyHeader& h) {
        staged->reset_to(h.epoch, h.last);
        total = std::min<std::uint64_t>(h.total, kMaxReservedRows);
        return Status();
      });
  if (!header.ok()) {
    replay_failures.fetch_add(1);
    return false;
  }
  epoch = header->epoch;  // before the state is visible: a waiter may check both at once
  replay::RegistryAccess::install_snapshot(*registry, header->epoch, header->last, *staged);
  staged.reset();  // the old state
  snapshots_loaded.fetch_add(1);
  if (known_head.load() < header->last) known_head = header->last;
  need_sync = false;
  // The range above the snapshot, then whatever arrived meanwhile.
  if (!repair(0)) return true;  // state is loaded; the gap stays marked for a retry
  synced = true;
  notify();
  return true;
}

// Fetches applied+1..to (0: to the head) and applies it. False on failure (gap stays set).
bool Replica::Impl::repair(std::uint64_t to) {
  const std::uint64_t before = applied();
  auto header = replay->fetch_range(before + 1, to, epoch.load(), [&](std::string_view bytes) {
    if (stop.load()) return Status::unavailable("replica stopping");
    return apply_bytes(bytes);
  });
  events_repaired.fetch_add(applied() - before);
  if (!header.ok()) {
    // Another epoch: a new log. compacted / not_found: the writer no longer holds these events
    // (its log was compacted, or recreated under the same endpoints): start over from a
    // snapshot.
    const Code code = header.status().code();
    if (code == Code::kConflict || code == Code::kNotFound || code == Code::kCompacted) {
      new_epoch(0);
    }
    replay_failures.fetch_add(1);
    gap = true;
    return false;
  }
  if (header->head < applied()) {
    // The writer's head never goes back within an epoch, and this replica applied nothing the
    // writer had not applied: the writer came back on a log that lost events it had published
    // (a restored copy, or kNone and an OS crash). What this replica holds above the head is
    // not the writer's history any more: start over from a snapshot.
    new_epoch(0);
    gap = true;
    return false;
  }
  if (known_head.load() < header->head) known_head = header->head;
  if (to == 0) discard_beyond(std::max(header->head, applied()));
  drain_early();
  notify();
  return true;
}

// After a repair to the head: everything this thread took from the bus was read before the
// repair's first request was sent, so whatever the writer published then is at or below the
// head it answered with. A buffered event or an announced seq above that head is not the
// writer's (a forged or corrupt message): drop it and count it, instead of waiting for a seq the
// writer may never reach.
void Replica::Impl::discard_beyond(std::uint64_t head) {
  std::uint64_t discarded = 0;
  for (auto it = early.upper_bound(head); it != early.end(); it = early.erase(it)) ++discarded;
  if (known_head.load() > head) {
    known_head = head;
    ++discarded;
  }
  if (discarded != 0) bad_frames.fetch_add(discarded);
}

// A message of another epoch than the state's: the writer began a new log, or the message is
// not the writer's. The replay service says which (a range request past any head answers with
// the writer's epoch); only a confirmed new log discards the state.
void Replica::Impl::on_other_epoch() {
  plugin::wire::ReplayRequest probe;
  probe.op = plugin::wire::ReplayOp::kRange;
  probe.from = std::numeric_limits<std::uint64_t>::max();
  auto reply = replay->call(probe);
  if (!reply.ok()) {
    replay_failures.fetch_add(1);  // the next message of that epoch asks again
    return;
  }
  if (reply->header.epoch == epoch.load()) {
    bad_frames.fetch_add(1);
    return;
  }
  new_epoch(reply->header.epoch);
}

void Replica::Impl::new_epoch(std::uint64_t e) {
  (void)e;
  resyncs.fetch_add(1);
  early.clear();
  need_sync = true;
  synced = false;
  known_head = 0;
  notify();
}

void Replica::Impl::on_event(const plugin::Frames& frames) {
  if (frames.size() != 3) {
    live_events.fetch_add(1);
    bad_frames.fetch_add(1);
    return;
  }
  auto header = plugin::wire::decode_event_header(plugin::view(frames[1]));
  if (!header.ok()) {
    live_events.fetch_add(1);
    bad_frames.fetch_add(1);
    return;
  }
  live_events.fetch_add(header->count);
  if (header->seq > std::numeric_limits<std::uint64_t>::max() - (header->count - 1)) {
    bad_frames.fetch_add(1);  // seqs past 2^64 - 1: forged
    return;
  }
  if (header->count == 1) {
    (void)on_event_bytes(header->seq, header->epoch, plugin::view(frames[2]));
    return;
  }
  if (!need_sync) {  // what needs no decoding
    if (header->epoch != epoch.load()) {
      flush_burst();
      on_other_epoch();
      return;
    }
    if (header->seq + (header->count - 1) < next_seq()) {
      duplicates_dropped.fetch_add(header->count);
      return;
    }
  }
  batch_events.clear();
  if (!plugin::wire::decode_event_batch(plugin::view(frames[2]), header->count, limits,
                                        &batch_events)
           .ok()) {
    if (need_sync) {
      bad_frames.fetch_add(1);  // the sync fetches everything up to the head anyway
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
  bad_frames.fetch_add(1);  // refetched from the replay service as a gap
  if (!gap) gaps_detected.fetch_add(1);
  gap = true;
}

bool Replica::Impl::on_event_bytes(std::uint64_t seq, std::uint64_t event_epoch,
                                   std::string_view bytes) {
  if (need_sync) {  // buffered until the sync, which may make it obsolete
    if (early.size() < kMaxBuffered) {
      auto event = events::decode(bytes, limits);
      if (event.ok()) early.emplace(seq, std::move(*event));
    }
    return true;
  }
  if (event_epoch != epoch.load()) {
    flush_burst();
    on_other_epoch();
    return false;
  }
  const std::uint64_t next = next_seq();
  if (seq < next || early.count(seq) != 0) {
    duplicates_dropped.fetch_add(1);
    return true;
  }
  auto event = events::decode(bytes, limits);
  if (!event.ok() || event->seq != seq || event->epoch != event_epoch) {
    on_bad_event();
    return false;  // the rest of its message is repaired with it
  }
  if (seq > known_head.load()) known_head = seq;
  if (seq == next && early.empty()) {
    if (!check(*event).ok()) {
      flush_burst();
      gap = true;
      return false;
    }
    burst.push_back(std::move(*event));
    if (burst.size() >= kMaxBurst) flush_burst();
    return true;
  }
  flush_burst();
  if (!gap) gaps_detected.fetch_add(1);
  gap = true;
  if (early.size() < kMaxBuffered) early.emplace(seq, std::move(*event));
  return true;
}

void Replica::Impl::on_heartbeat(const plugin::Frames& frames) {
  flush_burst();  // the checks below compare with the applied seq
  heartbeats.fetch_add(1);
  if (frames.size() != 2) {
    bad_frames.fetch_add(1);
    return;
  }
  auto hb = plugin::wire::decode_heartbeat(plugin::view(frames[1]));
  if (!hb.ok()) {
    bad_frames.fetch_add(1);
    return;
  }
  if (need_sync) return;
  if (hb->epoch != epoch.load()) {
    on_other_epoch();
    return;
  }
  if (hb->seq > known_head.load()) known_head = hb->seq;
  // Events come before the heartbeat that counts them on the same pipe: anything below its
  // seq that is not here by now was lost.
  if (hb->seq > applied()) {
    if (!gap) gaps_detected.fetch_add(1);
    gap = true;
  } else if (hb->seq < applied()) {
    // Either a heartbeat sent before events this replica has since repaired from the replay
    // service, or a writer that came back on a shorter log of the same epoch. The repair's
    // reply carries the writer's head and tells them apart (repair()).
    gap = true;
  }
  notify();
}

void Replica::Impl::on_message(plugin::Frames& frames) {
  if (frames.empty()) return;
  auto topic = plugin::wire::parse_topic(plugin::view(frames[0]));
  if (!topic.ok() || topic->hub != options.hub) {
    bad_frames.fetch_add(1);
    return;
  }
  last_heard = SteadyClock::now();
  if (topic->kind == plugin::wire::TopicKind::kEvent) {
    on_event(frames);
  } else if (topic->kind == plugin::wire::TopicKind::kHeartbeat) {
    on_heartbeat(frames);
  }
}

void Replica::Impl::run() {
  // Nothing may escape the thread (std::terminate): out of memory, or ZeroMQ out of file
  // descriptors when a socket is replaced, ends this pass; the loop starts over after a pause.
  while (!stop.load()) {
    try {
      run_loop();
      return;
    } catch (const std::exception&) {
      thread_errors.fetch_add(1);
      std::unique_lock l(mu);
      cv.wait_for(l, std::chrono::milliseconds(200), [&] { return stop.load(); });
    }
  }
}

void Replica::Impl::run_loop() {
  plugin::Frames frames;
  const plugin::RecvLimits limits_in{4, plugin::wire::kMaxChunkBytes + (1u << 20)};
  last_heard = SteadyClock::now();
  while (!stop.load()) {
    if (need_sync) {
      if (!full_sync()) {
        // Keep reading the bus meanwhile so the buffer holds what comes live.
        auto ready = plugin::wait_readable(sub, kRetryPause);
        if (!ready.ok()) return;
      }
    } else if (gap) {
      if (!repair(0)) pause();
      if (!gap && !synced.load()) {
        synced = true;
        notify();
      }
    }
    auto ready = plugin::wait_readable(sub, std::chrono::milliseconds(50));
    if (!ready.ok()) return;
    for (int i = 0; i < 4096 && !stop.load(); ++i) {
      auto got = plugin::recv_message(sub, &frames, limits_in, /*dont_wait=*/true);
      if (!got.ok()) {
        if (got.status().code() == Code::kUnavailable) return;
        bad_frames.fetch_add(1);
        continue;
      }
      if (!*got) break;
      on_message(frames);
    }
    flush_burst();
    if (!need_sync && !gap && SteadyClock::now() - last_heard > options.idle_check) {
      last_heard = SteadyClock::now();
      gap = true;  // nothing heard: ask the replay service where the head is
    }
  }
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
  auto impl = std::make_unique<Impl>(context, options);
  std::shared_ptr<replay::RemoteWriter> writer;
  try {
    if (options.command_endpoint.empty()) {
      writer = std::make_shared<plugin::NoWriter>();
    } else {
      writer = std::make_shared<plugin::CommandClient>(context, options.command_endpoint,
                                                       options.hub, options.max_writes_in_flight);
    }
    impl->replay =
        std::make_unique<plugin::ReplayClient>(context, options.replay_endpoint, options.hub,
                                               options.request_timeout, options.chunk_events);
    impl->sub = zmq::socket_t(context, zmq::socket_type::sub);
    impl->sub.set(zmq::sockopt::linger, 0);
    impl->sub.set(zmq::sockopt::rcvhwm, options.receive_hwm);
    impl->sub.set(zmq::sockopt::subscribe, plugin::wire::events_prefix(options.hub));
    impl->sub.set(zmq::sockopt::subscribe, plugin::wire::heartbeat_topic(options.hub));
    impl->sub.connect(options.bus_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("replica: cannot connect: ") + e.what());
  }
  impl->registry =
      replay::RegistryAccess::open_replica(options.hub, options.local_node, std::move(writer));
  impl->thread = std::thread([p = impl.get()] { p->run(); });
  return std::unique_ptr<Replica>(new Replica(std::move(impl)));
}

Replica::Replica(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replica::~Replica() { stop(); }

void Replica::stop() {
  impl_->stop = true;
  impl_->notify();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->sub.close();
}

Registry& Replica::registry() { return *impl_->registry; }
const Registry& Replica::registry() const { return *impl_->registry; }
bool Replica::caught_up() const { return impl_->caught_up(); }
std::uint64_t Replica::last_applied() const { return impl_->applied(); }
std::uint64_t Replica::head() const { return std::max(impl_->known_head.load(), impl_->applied()); }
// The epoch of the state queries see (set with its seq), not the one the sync is heading for.
std::uint64_t Replica::epoch() const { return impl_->registry->epoch(); }

Status Replica::wait_for(std::uint64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock l(impl_->mu);
  if (!impl_->cv.wait_for(l, timeout, [&] { return impl_->applied() >= seq; })) {
    return Status::timeout("replica at " + std::to_string(impl_->applied()) + ", waiting for " +
                           std::to_string(seq));
  }
  return Status();
}

Status Replica::wait_caught_up(std::chrono::milliseconds timeout) const {
  std::unique_lock l(impl_->mu);
  if (!impl_->cv.wait_for(l, timeout, [&] { return impl_->caught_up(); })) {
    return Status::timeout("replica not caught up: applied " + std::to_string(impl_->applied()) +
                           ", head " + std::to_string(impl_->known_head.load()));
  }
  return Status();
}

ReplicaStats Replica::stats() const {
  const Impl& i = *impl_;
  ReplicaStats s;
  s.events_applied = i.events_applied.load();
  s.live_events = i.live_events.load();
  s.duplicates_dropped = i.duplicates_dropped.load();
  s.gaps_detected = i.gaps_detected.load();
  s.events_repaired = i.events_repaired.load();
  s.snapshots_loaded = i.snapshots_loaded.load();
  s.resyncs = i.resyncs.load();
  s.heartbeats = i.heartbeats.load();
  s.bad_frames = i.bad_frames.load();
  s.replay_failures = i.replay_failures.load();
  return s;
}

}  // namespace procreg
