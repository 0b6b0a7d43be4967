// procreg tail: a hub's events as JSON lines, as they are committed.
//
// tail subscribes to the hub's events and heartbeats on the bus first, then asks the replay
// service where to start: the writer's head (only new events), or --from SEQ (the log's events
// from SEQ on, fetched as ranges, then the live ones). It prints every event in sequence order,
// exactly once: a live event above the next expected seq, or a heartbeat ahead of the last one
// printed, is a loss that it fills from the replay service (docs/PROTOCOL.md, "Gap detection").
// A new epoch (the writer's log was recreated) is reported on stderr and followed from its
// first event. A writer that no longer holds what tail printed, in the same epoch (it came back
// on a shorter history, or continues another one: plugin/history_check.h), ends tail with exit
// code 1 and a message saying so, as tail --hooks does. Filters (--kind, --child, --tag,
// --table) select what is printed, not what is read.
//
// --since TIME starts with the first event written at or after TIME (first_seq_since), and
// --until-head stops once the writer's head as of the start was read (from seq 1 without
// --from or --since): the history, then exit 0.
//
// On a compacted hub (docs/LOG_FORMAT.md section 12.4) the replay service answers "compacted"
// for events it no longer holds: --from SEQ before the hub's first kept event, a --since whose
// first event may have been compacted away, or a gap tail cannot fill any more, ends tail with
// exit code 4 (kExitCompacted) and a message saying so.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "events/codec.h"
#include "plugin/follower.h"
#include "plugin/history_check.h"
#include "plugin/replay_client.h"
#include "plugin/wire.h"
#include "plugin/zap_handler.h"
#include "plugin/zmq_util.h"
#include "procreg/hook_subscriber.h"
#include "procreg/options.h"
#include "tools/common/signals.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct TailOptions {
  HubEndpoints hub;
  std::optional<std::uint64_t> from;
  std::string since;                     // --since as given
  std::optional<std::int64_t> since_ms;  // parsed by run_tail
  bool until_head = false;
  std::vector<std::string> kinds;
  std::string child, tag, table;
  std::uint64_t count = 0;  // 0: no limit
  std::optional<std::uint64_t> until_seq;
  double seconds = 0;
  bool hooks = false;
  std::string durable;  // --durable: a durable hook subscriber's name
};

bool is_hook_kind(const std::string& kind) {
  return kind == "child_registered" || kind == "child_unregistered";
}

// The writer's head and epoch (a range request from 2^64-1); CliError(kExitUnreachable) if the
// replay service does not answer in time.
plugin::wire::ReplayReplyHeader writer_head(plugin::ReplayClient& client, const TailOptions& o) {
  auto head = client.fetch_range(std::numeric_limits<std::uint64_t>::max(), 0, 0,
                                 [](std::string_view) { return Status(); });
  if (!head.ok()) {
    throw CliError(
        exit_code_of(head.status()),
        "cannot reach hub " + o.hub.hub + " at " + o.hub.replay + ": " + head.status().to_string());
  }
  return *head;
}

// The error for history the hub's log no longer holds.
[[noreturn]] void compacted_error(const Status& s, std::uint64_t from) {
  throw CliError(kExitCompacted,
                 "the hub's log no longer holds the events from seq " + std::to_string(from) +
                     " (compacted away; the replay service answered: " + s.message() +
                     "). Start later with --from, or take the state with `procreg replica`");
}

// --since: the seq of the first event of the writer's log written at or after since_ms (its
// `t`), or head + 1 if there is none yet. The replay service has no request by time, so this
// bisects seqs 1 .. head with one-event range requests (at most 64). It relies on writer times
// not decreasing along the log (each writer reads its clock as it commits; docs/CLI.md says
// what a clock that stepped back does). A seq compacted away counts as earlier; if the seq
// found follows one compacted away, the first event at or after since_ms may have been among
// those: CliError(kExitCompacted), as for --from into compacted history.
std::uint64_t first_seq_since(plugin::ReplayClient& client, const TailOptions& o,
                              const plugin::wire::ReplayReplyHeader& head) {
  const auto limits = events::record_limits(LogOptions{}.max_record_bytes);
  std::uint64_t lo = 1;
  std::uint64_t hi = head.head + 1;  // the answer is in [lo, hi]
  std::uint64_t compacted_through = 0;
  Status compacted;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    std::optional<std::int64_t> t;
    auto r = client.fetch_range(mid, mid, head.epoch, [&](std::string_view bytes) {
      auto event = events::decode(bytes, limits);
      if (!event.ok()) return event.status();
      t = event->writer_time_ms;
      return Status();
    });
    if (r.ok()) {
      // Without an event (the writer's log ends before mid now) the answer is below mid.
      if (t && *t < *o.since_ms) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    } else if (r.status().code() == Code::kCompacted) {
      compacted_through = std::max(compacted_through, mid);
      compacted = r.status();
      lo = mid + 1;
    } else {
      throw CliError(exit_code_of(r.status()), "cannot find the first event at or after --since " +
                                                   o.since + ": " + r.status().to_string());
    }
  }
  if (lo > 1 && compacted_through >= lo - 1) {
    throw CliError(kExitCompacted,
                   "the hub's log no longer holds the events up to seq " + std::to_string(lo - 1) +
                       ", and the first one written at or after " + o.since +
                       " may be among them (compacted away; the replay service answered: " +
                       compacted.message() +
                       "). Start later with --since or --from, or take the state with "
                       "`procreg replica`");
  }
  return lo;
}

// Where tail starts: the seq before its first event (--from, --since, seq 1 for --until-head
// alone), or nullopt for the writer's head.
std::optional<std::uint64_t> start_after(plugin::ReplayClient& client, const TailOptions& o,
                                         const plugin::wire::ReplayReplyHeader& head) {
  std::optional<std::uint64_t> from = o.from;
  if (o.since_ms) from = first_seq_since(client, o, head);
  if (!from && o.until_head) from = 1;
  if (!from) return std::nullopt;
  return *from == 0 ? 0 : *from - 1;
}

class Tail {
 public:
  Tail(const TailOptions& o, zmq::context_t& context)
      : o_(o),
        limits_(events::record_limits(LogOptions{}.max_record_bytes)),
        context_(context),
        client_(std::make_unique<plugin::ReplayClient>(context, o.hub.replay, o.hub.hub,
                                                       o.hub.timeout(), 1024, o.hub.curve)),
        replay_at_(o.hub.replay),
        sub_(context, zmq::socket_type::sub) {
    sub_.set(zmq::sockopt::linger, 0);
    if (Status s = plugin::secure_client(sub_, o.hub.curve, o.hub.curve.bus_key()); !s.ok()) {
      usage_error("the bus: " + s.to_string());
    }
    sub_.set(zmq::sockopt::rcvhwm, 1'000'000);
    sub_.set(zmq::sockopt::subscribe, plugin::wire::events_prefix(o.hub.hub));
    sub_.set(zmq::sockopt::subscribe, plugin::wire::heartbeat_topic(o.hub.hub));
    try {
      sub_.connect(o.hub.bus);
    } catch (const zmq::error_t& e) {
      usage_error("cannot connect to the bus " + o.hub.bus + ": " + e.what());
    }
  }

  int run(const tools::Signals& signals) {
    // Where to start: the writer's head, --from or --since; with --until-head, where to stop.
    const auto head = writer_head(*client_, o_);
    epoch_ = head.epoch;
    writer_incarnation_ = head.incarnation;
    applied_ = start_after(*client_, o_, head).value_or(head.head);
    holds_applied_ = applied_ <= head.head;
    if (o_.until_head) until_head_ = head.head;
    if (!until_head_ || applied_ < *until_head_) {  // else nothing to read
      if (Status s = repair(until_head_.value_or(0)); !s.ok()) {
        if (s.code() == Code::kCompacted) compacted_error(s, applied_ + 1);
        stop_if_history_lost();
        throw CliError(exit_code_of(s), s.to_string());
      }
    }

    const auto deadline = deadline_after(o_.seconds);
    auto last_heard = Clock::now();
    // Nothing heard for this long: ask the writer for its head. Doubled (up to 30 s) while the
    // writer does not answer, and said once, not at every try.
    milliseconds quiet_for = kQuiet;
    bool away = false;
    while (!done() && Clock::now() < deadline) {
      if (tools::Signals::stops(signals.wait(milliseconds(0)))) break;
      plugin::Frames frames;
      auto got =
          plugin::recv_until(sub_, &frames, {4, 17u << 20}, Clock::now() + milliseconds(100));
      if (!got.ok()) continue;  // oversized: dropped; a gap, if any, shows up later
      Status s;
      bool answered = false;
      if (*got) {
        last_heard = Clock::now();
        s = on_message(frames);
        answered = s.ok();
      } else if (Clock::now() - last_heard > quiet_for) {
        last_heard = Clock::now();
        s = repair(0);  // nothing heard: ask the writer for its head
        answered = s.ok();
      }
      if (s.code() == Code::kCompacted) compacted_error(s, applied_ + 1);
      stop_if_history_lost();
      if (!s.ok()) {
        if (!away) {
          warn("cannot follow the hub: " + s.to_string() +
               " (retrying, less often while it does not answer; said once)");
        }
        away = true;
        quiet_for = std::min(quiet_for * 2, kQuietAtMost);
        look_for_writer();
      } else if (answered && away) {
        warn("the hub answers again; following from seq " + std::to_string(applied_ + 1));
        away = false;
        quiet_for = kQuiet;
      }
    }
    return kExitOk;
  }

 private:
  static constexpr milliseconds kQuiet{3'000};
  static constexpr milliseconds kQuietAtMost{30'000};

  bool done() const {
    return (o_.count > 0 && printed_ >= o_.count) || (o_.until_seq && applied_ >= *o_.until_seq) ||
           (until_head_ && applied_ >= *until_head_);
  }

  static void warn(const std::string& what) {
    std::fprintf(stderr, "procreg tail: %s\n", what.c_str());
  }

  // The writer no longer holds the events printed: what follows would not continue them.
  Status lost_history(Status why) {
    history_lost_ = why;
    return why;
  }
  void stop_if_history_lost() const {
    if (history_lost_.ok()) return;
    throw CliError(kExitFailure, "stopped after seq " + std::to_string(applied_) + ": " +
                                     history_lost_.to_string());
  }

  Status on_message(const plugin::Frames& frames) {
    auto topic = plugin::wire::parse_topic(plugin::view(frames[0]));
    if (!topic.ok() || topic->hub != o_.hub.hub) return Status();
    if (topic->kind == plugin::wire::TopicKind::kHeartbeat && frames.size() == 2) {
      auto hb = plugin::wire::decode_heartbeat(plugin::view(frames[1]));
      if (!hb.ok() || fenced(hb->term)) return Status();
      follow(*hb);
      if (hb->epoch != epoch_) return repair(0);  // the replay service says which log is current
      const bool new_writer = hb->incarnation != 0 && hb->incarnation != writer_incarnation_;
      if (hb->incarnation != 0) writer_incarnation_ = hb->incarnation;
      // Below the last seq read: a heartbeat sent before events fetched since, or a writer back
      // on a shorter history; a new writer incarnation (a restart, a promotion) may continue
      // another history. The replay service's answer tells (fetch, check_head).
      const bool check = new_writer || (hb->seq < applied_ && holds_applied_);
      return hb->seq > applied_ || check ? repair(hb->seq) : Status();
    }
    if (topic->kind != plugin::wire::TopicKind::kEvent || frames.size() != 3) return Status();
    auto header = plugin::wire::decode_event_header(plugin::view(frames[1]));
    if (!header.ok() || fenced(header->term)) return Status();
    if (header->epoch != epoch_) return repair(0);
    if (Status s = history_.check_live("tail", *header, applied_); !s.ok()) {
      return lost_history(s);
    }
    if (header->count == 1) {
      if (header->seq <= applied_) return Status();  // a duplicate
      if (header->seq > applied_ + 1) return repair(header->seq);
      return apply(plugin::view(frames[2]));
    }
    // A batch of the events seq .. seq + count - 1.
    if (header->seq > std::numeric_limits<std::uint64_t>::max() - (header->count - 1)) {
      return Status();  // seqs past 2^64 - 1: not the writer's
    }
    const std::uint64_t last = header->seq + header->count - 1;
    if (last <= applied_) return Status();  // duplicates
    if (header->seq > applied_ + 1) return repair(last);
    std::vector<std::string_view> batch;
    if (!plugin::wire::decode_event_batch(plugin::view(frames[2]), header->count, limits_, &batch)
             .ok()) {
      return repair(last);  // the replay service has them intact
    }
    for (std::uint32_t i = 0; i < header->count && !done(); ++i) {
      if (header->seq + i <= applied_) continue;
      if (Status s = apply(batch[i]); !s.ok()) return repair(last);
    }
    return Status();
  }

  // Fetches and prints the events after applied_ up to `to` (0: the writer's head), and starts
  // over on the writer's new log if its epoch changed.
  Status repair(std::uint64_t to) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto r = fetch(to);
      if (r.ok()) return check_head(*r);
      if (r.status().code() != Code::kConflict || !history_lost_.ok()) return r.status();
      auto head = client_->fetch_range(std::numeric_limits<std::uint64_t>::max(), 0, 0,
                                       [](std::string_view) { return Status(); });
      if (!head.ok()) return head.status();
      if (until_head_) {  // its head as of the start belongs to the old log
        return lost_history(
            Status::conflict("the writer started a new log (epoch " + std::to_string(head->epoch) +
                             ") before tail read seq " + std::to_string(*until_head_) +
                             ", its head when tail started (--until-head)"));
      }
      warn("the writer started a new log (epoch " + std::to_string(head->epoch) +
           "); following it from its first event");
      epoch_ = head->epoch;
      applied_ = 0;
      history_ = plugin::HistoryCheck();
      to = 0;
    }
    return Status();
  }

  // The events after applied_ up to `to`, printed, if the writer's log holds at applied_ the
  // event read there (the first reply's pinc); noting the incarnation of the last one read.
  Result<plugin::wire::ReplayReplyHeader> fetch(std::uint64_t to) {
    const std::uint64_t from = applied_ + 1;
    std::optional<std::pair<std::uint64_t, std::uint64_t>> taken;  // seq, incarnation
    auto r = client_->fetch_range(
        from, to, epoch_, [this](std::string_view bytes) { return apply(bytes); },
        [&](const plugin::wire::ReplayReplyHeader& h, std::uint64_t asked_from) {
          if (asked_from == from && !history_.same(h.prev_incarnation, from - 1)) {
            return lost_history(history_.diverged("tail", from - 1, h.prev_incarnation));
          }
          if (h.incarnation != 0) writer_incarnation_ = h.incarnation;
          if (taken) history_.note(taken->first, taken->second);
          taken.reset();
          if (h.count > 0) taken.emplace(h.last, h.last_incarnation);
          return Status();
        });
    if (r.ok() && taken) history_.note(taken->first, taken->second);
    return r;
  }

  // The writer's head never goes back within an epoch while its log keeps what it published: a
  // head below the last seq read means it came back on a log that lost events it had published
  // (a restored copy, or --durability none and an OS crash), and its events after that head may
  // not be those printed. (A --from beyond the head waits for the writer to get there.)
  Status check_head(const plugin::wire::ReplayReplyHeader& h) {
    if (h.head >= applied_) {
      holds_applied_ = true;
      return Status();
    }
    if (!holds_applied_) return Status();
    return lost_history(Status::corruption(
        "tail: the writer's log (epoch " + std::to_string(epoch_) + ") ends at seq " +
        std::to_string(h.head) + ", before seq " + std::to_string(applied_) +
        ", the last one read: the writer came back on a log that lost events it had published, "
        "so its events after seq " +
        std::to_string(h.head) +
        " may differ from those printed; start again with --from a seq the writer holds"));
  }

  Status apply(std::string_view bytes) {
    if (done()) return Status();  // printed what was asked for; the caller stops
    auto event = events::decode(bytes, limits_);
    if (!event.ok()) return event.status();
    if (event->seq != applied_ + 1) {
      return Status::corruption("expected seq " + std::to_string(applied_ + 1) + ", got " +
                                std::to_string(event->seq));
    }
    applied_ = event->seq;
    holds_applied_ = true;
    if (selected(*event)) {
      out_line(dump_line(to_json(*event)));
      ++printed_;
    }
    return Status();
  }

  bool selected(const Event& e) const {
    if (!o_.kinds.empty() && std::find(o_.kinds.begin(), o_.kinds.end(),
                                       std::string(event_kind_name(e.kind()))) == o_.kinds.end()) {
      return false;
    }
    if (!o_.table.empty() && e.table != o_.table) return false;
    if (!o_.child.empty()) {
      const auto ids = children_of(e);
      if (std::find(ids.begin(), ids.end(), o_.child) == ids.end()) return false;
    }
    return o_.tag.empty() || event_has_tag(e, o_.tag);
  }

  // A heartbeat of the highest term heard naming another replay endpoint: the writer moved
  // (automatic failover, docs/PROTOCOL.md "Heartbeats"); a lower term's message is a fenced
  // writer's, and ignored.
  bool fenced(std::uint64_t term) {
    if (term != 0 && term < term_seen_) return true;
    term_seen_ = std::max(term_seen_, term);
    return false;
  }
  // The replay service did not answer: rather than ask it again for each message waiting (each
  // at the timeout), read what waits for the newest writer's heartbeat and follow it. The rest
  // is dropped: the next message shows the gap, which the (new) replay service fills.
  void look_for_writer() {
    auto newest = plugin::newest_heartbeat(
        sub_, o_.hub.hub, 100'000,
        [&](const plugin::wire::Heartbeat& hb) { return !fenced(hb.term); }, nullptr);
    if (newest) follow(*newest);
  }

  void follow(const plugin::wire::Heartbeat& hb) {
    if (replay_term_ == 0) replay_term_ = hb.term;  // the writer the endpoints named
    if (hb.term <= replay_term_ || hb.replay_endpoint.empty()) return;
    replay_term_ = hb.term;
    if (hb.replay_endpoint == replay_at_) return;
    try {
      client_ = std::make_unique<plugin::ReplayClient>(context_, hb.replay_endpoint, o_.hub.hub,
                                                       o_.hub.timeout(), 1024, o_.hub.curve);
    } catch (const std::exception&) {
      return;  // not an endpoint: a malformed heartbeat
    }
    replay_at_ = hb.replay_endpoint;
    warn("the writer of term " + std::to_string(hb.term) + " serves at " + replay_at_ +
         "; following it there");
  }

  const TailOptions& o_;
  const events::DecodeLimits limits_;
  zmq::context_t& context_;
  std::unique_ptr<plugin::ReplayClient> client_;
  std::string replay_at_;
  std::uint64_t term_seen_ = 0;
  std::uint64_t replay_term_ = 0;  // the term of the writer whose replay service client_ asks
  zmq::socket_t sub_;
  std::uint64_t epoch_ = 0;
  std::uint64_t applied_ = 0;
  std::uint64_t printed_ = 0;
  std::optional<std::uint64_t> until_head_;  // --until-head: the writer's head at the start
  // Whether the writer's log held applied_ (not so while a --from beyond its head waits).
  bool holds_applied_ = true;
  std::uint64_t writer_incarnation_ = 0;  // the newest heard
  plugin::HistoryCheck history_;          // the incarnation of the event read at applied_
  Status history_lost_;                   // set once: the writer no longer holds what was read
};

// --hooks: the hub's hook events through a procreg::HookSubscriber (each exactly once, in
// order), printed from the subscriber's thread.
int run_hooks(const TailOptions& o, const tools::Signals& signals, zmq::context_t& context) {
  HookSubscriberOptions so;
  so.hub = o.hub.hub;
  so.bus_endpoint = o.hub.bus;
  so.replay_endpoint = o.hub.replay;
  so.request_timeout = std::min(o.hub.timeout(), milliseconds(2'000));
  so.curve = o.hub.curve;
  so.durable_name = o.durable;
  std::optional<std::uint64_t> until_head;
  {
    // The subscriber retries an unreachable hub forever: fail early instead.
    plugin::ReplayClient probe(context, o.hub.replay, o.hub.hub, o.hub.timeout(), 1, o.hub.curve);
    const auto head = writer_head(probe, o);
    // A durable name without --from or --since starts after its recorded position.
    if (o.durable.empty() || o.from || o.since_ms) so.from_seq = start_after(probe, o, head);
    if (o.until_head) until_head = head.head;
  }
  std::atomic<std::uint64_t> printed{0};
  std::atomic<std::uint64_t> cut_at{0};
  // --durable: tail reports what it printed (or skipped by a filter) itself, never an event
  // --count left out.
  so.report_automatically = false;
  const HookHandler print = [&](const HookEvent& e) {
    if (!o.child.empty() && e.child_id != o.child) return;
    if (!o.table.empty() && e.table != o.table) return;
    if (o.count > 0 && printed >= o.count) {
      std::uint64_t none = 0;  // the first event not printed: a durable name reports before it
      cut_at.compare_exchange_strong(none, e.seq);
      return;
    }
    out_line(dump_line(to_json(e)));
    ++printed;
  };
  std::vector<HookHandlerSpec> handlers;
  for (HookTopic topic : {HookTopic::kChildRegistered, HookTopic::kChildUnregistered}) {
    const std::string name(hook_topic_name(topic));
    if (o.kinds.empty() || std::find(o.kinds.begin(), o.kinds.end(), name) != o.kinds.end()) {
      handlers.push_back({topic, print, 0});
    }
  }
  auto started = HookSubscriber::start(context, so, std::move(handlers));
  if (!started.ok()) throw CliError(kExitUsage, "cannot start: " + started.status().to_string());
  std::unique_ptr<HookSubscriber> subscriber = std::move(*started);
  std::uint64_t reported = 0;
  auto last_report = Clock::now();
  const auto report = [&](bool final) {
    if (o.durable.empty() || (!final && Clock::now() - last_report < milliseconds(1'000))) return;
    last_report = Clock::now();
    std::uint64_t seq = subscriber->position().seq;
    if (const std::uint64_t cut = cut_at.load(); cut != 0) seq = std::min(seq, cut - 1);
    if (seq == reported) return;
    if (Status s = subscriber->report_position(seq); s.ok()) {
      reported = seq;
    } else if (final) {
      std::fprintf(stderr, "procreg tail: could not record the position of %s: %s\n",
                   o.durable.c_str(), s.to_string().c_str());
    }
  };
  const auto deadline = deadline_after(o.seconds);
  while (Clock::now() < deadline) {
    report(false);
    if (o.count > 0 && printed >= o.count) break;
    if (o.until_seq && subscriber->position().seq >= *o.until_seq) break;
    if (until_head && subscriber->position().seq >= *until_head) break;
    if (tools::Signals::stops(signals.wait(milliseconds(50)))) break;
    if (Status s = subscriber->status(); s.code() == Code::kCompacted) {
      subscriber->stop();
      compacted_error(s, subscriber->position().seq + 1);
    } else if (!s.ok()) {  // it stopped delivering: say why, never go on silently
      subscriber->stop();
      throw CliError(kExitFailure, "the hook subscriber stopped after seq " +
                                       std::to_string(subscriber->position().seq) + ": " +
                                       s.to_string());
    }
  }
  subscriber->stop();
  report(true);
  return kExitOk;
}

int run_tail(TailOptions o) {
  const tools::Signals signals;  // before any thread starts
  o.hub.resolve();
  const bool hook_kinds = std::any_of(o.kinds.begin(), o.kinds.end(), is_hook_kind);
  const bool event_kinds = !std::all_of(o.kinds.begin(), o.kinds.end(), is_hook_kind);
  if (o.hooks ? event_kinds : hook_kinds) {
    usage_error(o.hooks ? "with --hooks, --kind is child_registered or child_unregistered"
                        : "--kind child_registered/child_unregistered needs --hooks");
  }
  if (o.hooks && !o.tag.empty()) usage_error("--tag does not apply to hook events");
  if (!o.hooks && !o.durable.empty()) usage_error("--durable needs --hooks");
  if (!o.since.empty()) o.since_ms = parse_time_ms(o.since, "--since");
  zmq::context_t context;
  if (o.hooks) return run_hooks(o, signals, context);
  Tail tail(o, context);
  return tail.run(signals);
}

}  // namespace

void add_tail_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<TailOptions>();
  CLI::App* tail = app.add_subcommand("tail", "Print a hub's events as JSON lines");
  o->hub.add_options(tail, "hbr");
  CLI::Option* from =
      tail->add_option("--from", o->from,
                       "start with the event of this seq (the log's history first); default: only "
                       "new events");
  tail->add_option("--since", o->since,
                   "start with the first event written at or after this time (ms since the "
                   "epoch, or YYYY-MM-DDTHH:MM:SS[.mmm]Z), by the writer's clock")
      ->excludes(from);
  tail->add_flag("--until-head", o->until_head,
                 "exit once the writer's head as of the start was read (from seq 1 without "
                 "--from or --since): print the history, then stop");
  tail->add_option("--kind", o->kinds,
                   "only events of this kind: insert, bulk_insert, delete, bulk_delete, update, "
                   "clear, expire; with --hooks: child_registered, child_unregistered (repeatable)")
      ->check(CLI::IsMember({"insert", "bulk_insert", "delete", "bulk_delete", "update", "clear",
                             "expire", "child_registered", "child_unregistered"}));
  tail->add_flag("--hooks", o->hooks,
                 "print hook events (child_registered, child_unregistered) instead of events");
  tail->add_option("--durable", o->durable,
                   "with --hooks: a durable subscriber of this name: the writer records its "
                   "position and keeps the log it needs; without --from, resume from it");
  tail->add_option("--child", o->child, "only events that name this child id");
  tail->add_option("--tag", o->tag, "only events that write a row with this metadata tag");
  tail->add_option("--table", o->table, "only events of this table");
  tail->add_option("--count", o->count, "exit after printing this many events");
  tail->add_option("--until-seq", o->until_seq, "exit once the event of this seq was read");
  tail->add_option("--seconds", o->seconds, "exit after this many seconds (0: on a signal)")
      ->check(CLI::NonNegativeNumber);
  commands->push_back({tail, [o] { return run_tail(*o); }});
}

}  // namespace procreg::cli
