// Follower: one thread owns the SUB socket and the replay client. Its loop: (re)synchronise when
// there is no position, catch up to the head when behind, then read the bus in passes of up to
// 4096 messages, handing the user's messages to it and checking heartbeats. docs/PROTOCOL.md,
// "Replicas" and "Hook subscribers", describes the two algorithms built on it.
#include "plugin/follower.h"

#include "plugin/zap_handler.h"

#include <limits>

namespace procreg::plugin {

namespace {
using SteadyClock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kRetryPause{200};
constexpr std::chrono::milliseconds kPoll{50};  // the longest wait for the bus in one pass
constexpr int kMaxPass = 4096;                  // messages read in one pass
}  // namespace

std::optional<wire::Heartbeat> newest_heartbeat(
    zmq::socket_t& sub, std::string_view hub, int max_messages,
    const std::function<bool(const wire::Heartbeat&)>& accept,
    std::atomic<std::uint64_t>* bad_frames) {
  // What waits may span several writers (a backlog read at the replay service's timeouts):
  // the last one accepted counts. Nothing here waits on the network.
  const auto bad = [&] {
    if (bad_frames != nullptr) bad_frames->fetch_add(1);
  };
  Frames frames;
  const RecvLimits limits{4, wire::kMaxChunkBytes + (1u << 20)};
  std::optional<wire::Heartbeat> newest;
  for (int i = 0; i < max_messages; ++i) {
    auto got = recv_message(sub, &frames, limits, /*dont_wait=*/true);
    if (!got.ok()) {
      if (got.status().code() == Code::kUnavailable) break;
      bad();
      continue;
    }
    if (!*got) break;
    if (frames.size() != 2) continue;
    auto topic = wire::parse_topic(view(frames[0]));
    if (!topic.ok() || topic->hub != hub || topic->kind != wire::TopicKind::kHeartbeat) continue;
    auto hb = wire::decode_heartbeat(view(frames[1]));
    if (!hb.ok()) {
      bad();
      continue;
    }
    if (accept(*hb)) newest = std::move(*hb);
  }
  return newest;
}

Follower::Follower(zmq::context_t& context, FollowerUser& user, FollowerOptions options)
    : context_(context), user_(user), options_(std::move(options)) {}

Follower::~Follower() { stop(); }

Status Follower::connect() {
  try {
    replay_ = std::make_unique<ReplayClient>(context_, options_.replay_endpoint, options_.hub,
                                             options_.request_timeout, options_.chunk_events,
                                             options_.curve);
    replay_endpoint_ = options_.replay_endpoint;
    sub_ = zmq::socket_t(context_, zmq::socket_type::sub);
    sub_.set(zmq::sockopt::linger, 0);
    if (Status s = secure_client(sub_, options_.curve, options_.curve.bus_key()); !s.ok()) {
      return Status(s.code(), options_.name + ": the bus: " + s.message());
    }
    sub_.set(zmq::sockopt::rcvhwm, options_.receive_hwm);
    for (const std::string& topic : options_.topics) sub_.set(zmq::sockopt::subscribe, topic);
    sub_.set(zmq::sockopt::subscribe, wire::heartbeat_topic(options_.hub));
    sub_.connect(options_.bus_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::unavailable(options_.name + ": cannot connect: " + e.what());
  }
  return Status();
}

void Follower::start() {
  thread_ = std::thread([this] { run(); });
}

void Follower::stop() {
  {
    std::lock_guard l(mu);
    stop_ = true;
  }
  cv.notify_all();
  if (thread_.joinable()) thread_.join();
  sub_.close();
}

void Follower::notify() {
  { std::lock_guard l(mu); }
  cv.notify_all();
}

void Follower::pause() {
  std::unique_lock l(mu);
  cv.wait_for(l, kRetryPause, [&] { return stop_.load(); });
}

void Follower::on_gap() {
  if (!behind_) counters.gaps_detected.fetch_add(1);
  behind_ = true;
}

Result<wire::ReplayReplyHeader> Follower::probe() {
  wire::ReplayRequest probe;
  probe.op = wire::ReplayOp::kRange;
  probe.from = std::numeric_limits<std::uint64_t>::max();  // past any head: an empty answer
  auto reply = replay_->call(probe);
  if (!reply.ok()) {
    counters.replay_failures.fetch_add(1);
    return reply.status();
  }
  return reply->header;
}

bool Follower::accept_term(std::uint64_t term) {
  if (term != 0 && term < term_seen_) {
    counters.fenced.fetch_add(1);
    return false;
  }
  term_seen_ = std::max(term_seen_, term);
  return true;
}

void Follower::note_incarnation(std::uint64_t seq, std::uint64_t incarnation) {
  history_.note(seq, incarnation);
}

bool Follower::accept_live(const wire::EventHeader& h, std::uint64_t position) {
  Status s = history_.check_live(options_.name, h, position);
  if (s.ok()) return true;
  counters.diverged.fetch_add(1);
  user_.on_diverged(s);
  return false;
}

std::optional<wire::ReplayReplyHeader> Follower::catch_up(std::uint64_t to) {
  if (user_.halted()) return std::nullopt;
  bool diverged = false;
  bool fenced = false;
  // A page's last incarnation counts once its events were taken: at the next page, or the end.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> taken;
  const std::uint64_t from = user_.position() + 1;
  auto reply = replay_->fetch_range(
      from, to, epoch.load(),
      [&](std::string_view event) {
        if (stop_.load()) return Status::unavailable(options_.name + " stopping");
        return user_.on_fetched(event);
      },
      [&](const wire::ReplayReplyHeader& h, std::uint64_t asked_from) {
        if (!accept_term(h.term)) {
          fenced = true;
          return Status::unavailable(options_.name + ": the replay service is of term " +
                                     std::to_string(h.term) + ", below " +
                                     std::to_string(term_seen_) + ": a fenced writer");
        }
        if (asked_from == from && !history_.same(h.prev_incarnation, from - 1)) {
          diverged = true;
          return history_.diverged(options_.name, from - 1, h.prev_incarnation);
        }
        if (h.incarnation != 0) writer_incarnation_ = h.incarnation;
        if (taken) note_incarnation(taken->first, taken->second);
        taken.reset();
        if (h.count > 0) taken.emplace(h.last, h.last_incarnation);
        return Status();
      });
  if (reply.ok() && taken) note_incarnation(taken->first, taken->second);
  if (diverged) {
    counters.diverged.fetch_add(1);
    user_.on_diverged(reply.status());
    return std::nullopt;
  }
  if (!reply.ok()) {
    if (fenced) return std::nullopt;  // counted as fenced
    counters.replay_failures.fetch_add(1);
    const Code code = reply.status().code();
    if (code == Code::kConflict) {
      start_over(0);  // another epoch: a new log
    } else if (code == Code::kCompacted || code == Code::kNotFound) {
      // The writer no longer holds these events: its log was compacted, or recreated under
      // the same endpoints.
      user_.on_history_gone(reply.status());
    } else {
      // Not answered (the writer may be gone): the loop tries again, and looks on the bus for
      // a new writer meanwhile, rather than each message asking again at the same timeout.
      behind_ = true;
    }
    return std::nullopt;
  }
  if (reply->head < user_.position()) {
    // The writer's head never goes back within an epoch, and the user took nothing the writer
    // had not published: the writer came back on a log that lost events it had published (a
    // restored copy, or kNone and an OS crash).
    user_.on_shorter_history(reply->head);
    return std::nullopt;
  }
  return *reply;
}

// A message of another epoch than the one followed: the writer began a new log, or the message
// is not the writer's. The replay service says which: only a confirmed new log starts over
// (starting over on a log that did not change would discard or repeat its whole history).
void Follower::on_other_epoch() {
  auto reply = probe();
  if (!reply.ok()) return;  // counted; the next message of that epoch asks again
  if (reply->epoch == epoch.load()) {
    counters.bad_frames.fetch_add(1);
    return;
  }
  start_over(reply->epoch);
}

void Follower::start_over(std::uint64_t new_epoch) {
  counters.resyncs.fetch_add(1);
  const bool positioned = user_.on_new_log(new_epoch) && new_epoch != 0;
  need_sync_ = !positioned;
  behind_ = positioned;  // at the start of the new log: catch up on it
}

void Follower::on_heartbeat(const Frames& frames) {
  user_.flush();  // the checks compare with the position
  counters.heartbeats.fetch_add(1);
  if (frames.size() != 2) {
    counters.bad_frames.fetch_add(1);
    return;
  }
  auto hb = wire::decode_heartbeat(view(frames[1]));
  if (!hb.ok()) {
    counters.bad_frames.fetch_add(1);
    return;
  }
  if (!accept_term(hb->term)) return;
  if (hb->term != 0 && !hb->replay_endpoint.empty() && hb->replay_endpoint != replay_endpoint_) {
    follow_writer(*hb);
  }
  if (need_sync_) return;
  if (hb->epoch != epoch.load()) {
    on_other_epoch();
    return;
  }
  if (hb->incarnation != 0 && hb->incarnation != writer_incarnation_) {
    // A new writer incarnation (a restart, a promotion): the replay service tells whether it
    // continues the history followed (the range check in catch_up()).
    const bool first = writer_incarnation_ == 0;
    writer_incarnation_ = hb->incarnation;
    if (!first) behind_ = true;
  }
  user_.on_heartbeat(*hb);
  // Below the position: either a heartbeat sent before events fetched since from the replay
  // service, or a writer that came back on a shorter log of the same epoch. The replay
  // service's head tells them apart (catch_up()).
  if (hb->seq < user_.position()) behind_ = true;
}

void Follower::follow_writer(const wire::Heartbeat& hb) {
  try {
    auto moved = std::make_unique<ReplayClient>(context_, hb.replay_endpoint, options_.hub,
                                                options_.request_timeout, options_.chunk_events,
                                                options_.curve);
    replay_ = std::move(moved);
  } catch (const std::exception&) {
    counters.bad_frames.fetch_add(1);  // not an endpoint: the heartbeat is malformed
    return;
  }
  replay_endpoint_ = hb.replay_endpoint;
  behind_ = true;  // the new writer's head, and whether it continues this history
  user_.on_writer_moved(hb);
}

void Follower::on_message(const Frames& frames) {
  if (frames.empty()) return;
  auto topic = wire::parse_topic(view(frames[0]));
  if (!topic.ok() || topic->hub != options_.hub) {
    counters.bad_frames.fetch_add(1);
    return;
  }
  last_heard_ = SteadyClock::now();
  if (topic->kind == options_.live_kind) {
    user_.on_live(*topic, frames);
  } else if (topic->kind == wire::TopicKind::kHeartbeat) {
    on_heartbeat(frames);
  }
}

bool Follower::resume(std::chrono::milliseconds* wait) {
  *wait = kPoll;
  if (need_sync_) {
    if (!user_.sync()) {
      if (!options_.read_while_behind) {
        pause();
        listen_for_writer();
        return false;
      }
      *wait = kRetryPause;  // keep reading the bus meanwhile: the user buffers what comes live
      return true;
    }
    need_sync_ = false;
    behind_ = true;  // from the position taken to the head
  }
  if (behind_) {
    auto reply = catch_up(0);
    if (!reply) {
      pause();
      if (!options_.read_while_behind) listen_for_writer();
      return options_.read_while_behind;
    }
    behind_ = false;
    user_.on_caught_up(*reply);
  }
  return true;
}

void Follower::listen_for_writer() {
  auto newest = newest_heartbeat(
      sub_, options_.hub, kMaxPass,
      [&](const wire::Heartbeat& hb) {
        return accept_term(hb.term) && hb.term != 0 && !hb.replay_endpoint.empty();
      },
      &counters.bad_frames);
  if (newest && newest->replay_endpoint != replay_endpoint_) follow_writer(*newest);
}

// False when the socket or context is closing.
bool Follower::read_pass(Frames& frames) {
  const RecvLimits limits{4, wire::kMaxChunkBytes + (1u << 20)};
  for (int i = 0; i < kMaxPass && !stop_.load(); ++i) {
    auto got = recv_message(sub_, &frames, limits, /*dont_wait=*/true);
    if (!got.ok()) {
      if (got.status().code() == Code::kUnavailable) return false;
      counters.bad_frames.fetch_add(1);
      continue;
    }
    if (!*got) break;
    on_message(frames);
    if (user_.halted() || (!options_.read_while_behind && (need_sync_ || behind_))) break;
  }
  return true;
}

void Follower::run() {
  // Nothing may escape the thread (std::terminate): out of memory, or ZeroMQ out of file
  // descriptors when a socket is replaced, ends this pass; the loop starts over after a pause.
  while (!stop_.load()) {
    try {
      run_loop();
      return;
    } catch (const std::exception&) {
      counters.thread_errors.fetch_add(1);
      pause();
    }
  }
}

void Follower::run_loop() {
  Frames frames;
  last_heard_ = SteadyClock::now();
  while (!stop_.load()) {
    if (user_.halted()) return;
    std::chrono::milliseconds wait = kPoll;
    if (!resume(&wait)) continue;
    auto ready = wait_readable(sub_, wait);
    if (!ready.ok()) return;
    if (!read_pass(frames)) return;
    user_.flush();
    if (!need_sync_ && !behind_ && SteadyClock::now() - last_heard_ > options_.idle_check) {
      last_heard_ = SteadyClock::now();
      behind_ = true;  // nothing heard: ask the replay service where the head is
    }
  }
}

}  // namespace procreg::plugin
