// A program the process tests run (tests/plugin/process_test.cc), not an example of the API.
//
// bus_hooks: ProcessHub's hooks in another process. Starts a procreg::HookSubscriber with a
// handler for both topics (child_registered, child_unregistered) that appends one line per
// hook event to --out, and keeps its position (what it delivered) in --position-file, so that
// a restart with --from-epoch/--from-seq/--from-partial set from that file misses and repeats
// nothing.
//
//   bus_hooks --bus EP --replay EP --out F [flags]
//
//   --bus EP            the writer's PUB, or a proxy's backend (XPUB)            required
//   --replay EP         the writer's replay service                              required
//   --out F             hook events are appended here, one line each:            required
//                       "<seq> <kind> <child> <node_pids>" (written with one write(2) per line)
//   --hub NAME          the hub id                                               demo
//   --from-seq S        deliver the hook events of every event after S (default: only new ones)
//   --from-epoch E      ... of the log with epoch E (0: whatever log the writer has)
//   --from-partial P    ... and skip the first P hook events of event S + 1
//   --position-file F   "<epoch> <seq> <partial>" stored atomically every 500 ms while running
//                       (a checkpoint at or behind --out) and exactly on a clean exit
//   --until-seq S       exit once every hook event of events up to S was delivered
//   --seconds S         exit after S seconds (0: no limit)                       0
//
// Output, one line per notable thing:
//   started from=head | started from_epoch=.. from_seq=.. from_partial=..
//   position <seq>        (whenever the position moved, checked every 50 ms)
//   stopped epoch=.. seq=.. partial=.. delivered=.. gaps=.. fetched=.. resyncs=..
// Exit status: 0 after a clean stop (SIGINT/SIGTERM, --until-seq, --seconds), 1 on an error
// (message on stderr; a line that could not be written is one), 2 on bad flags.
#include <memory>
#include <string>

#include <zmq.hpp>

#include "harness/canonical_text.h"
#include "harness/flags.h"
#include "procreg/hook_subscriber.h"
#include "tools/common/files.h"
#include "tools/common/signals.h"

namespace {

using namespace procreg;
using namespace procreg::harness;
using namespace procreg::tools;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* const kProgram = "bus_hooks";

std::string position_text(const HookPosition& p) {
  return std::to_string(p.epoch) + ' ' + std::to_string(p.seq) + ' ' + std::to_string(p.partial) +
         '\n';
}

int run(int argc, char** argv, const Signals& signals) {
  const Flags flags(argc, argv,
                    {"bus", "replay", "out", "hub", "from-seq", "from-epoch", "from-partial",
                     "position-file", "until-seq", "seconds"});
  HookSubscriberOptions options;
  options.hub = flags.str("hub", "demo");
  options.bus_endpoint = flags.required("bus");
  options.replay_endpoint = flags.required("replay");
  options.request_timeout = milliseconds(1'000);
  if (flags.has("from-seq")) options.from_seq = flags.u64("from-seq", 0);
  options.from_epoch = flags.u64("from-epoch", 0);
  const std::uint64_t partial = flags.u64("from-partial", 0);
  if (partial > 0xffffffffu) throw std::invalid_argument("--from-partial is too large");
  options.from_partial = static_cast<std::uint32_t>(partial);
  if (!options.from_seq && (flags.has("from-epoch") || flags.has("from-partial"))) {
    throw std::invalid_argument("--from-epoch and --from-partial need --from-seq");
  }
  const std::uint64_t until = flags.u64("until-seq", ~std::uint64_t{0});  // default: never
  const std::string position_file = flags.str("position-file");
  const std::uint64_t seconds = flags.u64("seconds", 0);
  const auto deadline =
      seconds == 0 ? Clock::time_point::max() : Clock::now() + std::chrono::seconds(seconds);
  const LineFile out(flags.required("out"));

  // Runs on the subscriber's thread; a throw is counted (stats().handler_errors).
  const HookHandler append = [&out](const HookEvent& e) { out.append(hook_line(e) + '\n', false); };
  zmq::context_t context;
  auto started = HookSubscriber::start(
      context, options,
      {{HookTopic::kChildRegistered, append, 0}, {HookTopic::kChildUnregistered, append, 0}},
      [](std::string_view error, const HookEvent& e) {
        fail(kProgram,
             "handler failed at seq " + std::to_string(e.seq) + ": " + std::string(error));
      });
  if (!started.ok()) return fail(kProgram, "cannot start: " + started.status().to_string());
  std::unique_ptr<HookSubscriber> subscriber = std::move(*started);
  if (options.from_seq) {
    say("started from_epoch=" + std::to_string(options.from_epoch) +
        " from_seq=" + std::to_string(*options.from_seq) +
        " from_partial=" + std::to_string(options.from_partial));
  } else {
    say("started from=head");
  }

  std::uint64_t shown = ~std::uint64_t{0};
  std::string stored;
  auto last_store = Clock::now();
  for (;;) {
    const HookPosition p = subscriber->position();
    if (p.seq != shown) {
      say("position " + std::to_string(p.seq));
      shown = p.seq;
    }
    if (!position_file.empty() && Clock::now() - last_store >= milliseconds(500) &&
        position_text(p) != stored) {
      stored = position_text(p);
      write_file_atomic(position_file, stored);  // a checkpoint: --out may be ahead of it
      last_store = Clock::now();
    }
    if (p.seq >= until || Clock::now() >= deadline) break;
    if (Signals::stops(signals.wait(milliseconds(50)))) break;
  }

  subscriber->stop();  // a handler running finishes first: the position is now exact
  const HookPosition p = subscriber->position();
  if (!position_file.empty()) write_file_atomic(position_file, position_text(p));
  const HookSubscriberStats stats = subscriber->stats();
  say("stopped epoch=" + std::to_string(p.epoch) + " seq=" + std::to_string(p.seq) +
      " partial=" + std::to_string(p.partial) + " delivered=" + std::to_string(stats.delivered) +
      " gaps=" + std::to_string(stats.gaps_detected) + " fetched=" +
      std::to_string(stats.events_fetched) + " resyncs=" + std::to_string(stats.resyncs));
  if (stats.handler_errors > 0) {
    return fail(kProgram, std::to_string(stats.handler_errors) + " hook events not written");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program(kProgram, [&](const Signals& signals) { return run(argc, argv, signals); });
}
