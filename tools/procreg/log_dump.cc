// procreg log dump: a log directory's events as JSON lines, offline (docs/CLI.md, "log dump"),
// as Kafka's kafka-dump-log.sh prints a partition's records. The shape is tail's, so the same
// jq filters read both.
//
// It reads with the reader recovery uses (replay::LogReader), which modifies nothing and stops
// at the last complete record (a live log can be read). Selection: seqs --from..--to, and
// events the writer wrote at or after --since and before --until (its clock).
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "events/codec.h"
#include "log/log_reader.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

struct LogDumpOptions {
  std::string log_dir;
  std::uint64_t from = 1;
  std::uint64_t to = 0;  // 0: the last
  std::string since;     // ms since the epoch, or an ISO-8601 UTC time
  std::string until;
};

int run_log_dump(const LogDumpOptions& o) {
  if (o.from == 0) usage_error("--from: seqs start at 1");
  if (o.to != 0 && o.to < o.from) usage_error("--to is below --from");
  const std::int64_t since = o.since.empty() ? std::numeric_limits<std::int64_t>::min()
                                             : parse_time_ms(o.since, "--since");
  const std::int64_t until = o.until.empty() ? std::numeric_limits<std::int64_t>::max()
                                             : parse_time_ms(o.until, "--until");
  auto reader = replay::LogReader::open(o.log_dir, o.from);
  if (!reader.ok()) {
    const Status& s = reader.status();
    if (s.code() == Code::kCompacted) {
      throw CliError(kExitCompacted,
                     s.to_string() + " (a snapshot holds the state instead: " + "procreg replay)");
    }
    throw CliError(kExitFailure, "cannot read the log in " + o.log_dir + ": " + s.to_string());
  }
  const auto limits = events::record_limits(std::numeric_limits<std::uint32_t>::max());
  replay::LogRecord record;
  for (;;) {
    auto more = (*reader)->next(&record);
    if (!more.ok()) {
      // What came before the damage was printed; verify says more.
      throw CliError(kExitFailure,
                     "the log is damaged after what was printed: " + more.status().to_string());
    }
    if (!*more || (o.to != 0 && record.seq > o.to)) break;
    auto event = events::decode(record.payload, limits);
    if (!event.ok()) {
      throw CliError(kExitFailure, "seq " + std::to_string(record.seq) + " in " + record.segment +
                                       " does not decode: " + event.status().to_string());
    }
    if (event->writer_time_ms < since || event->writer_time_ms >= until) continue;
    out_line(dump_line(to_json(*event)));
  }
  return kExitOk;
}

}  // namespace

void add_log_command(CLI::App& app, Commands* commands) {
  CLI::App* log = app.add_subcommand("log", "Read a log directory offline");
  log->require_subcommand(1, 1);
  auto o = std::make_shared<LogDumpOptions>();
  CLI::App* dump =
      log->add_subcommand("dump", "Print a log's events as JSON lines (tail's shape), offline");
  dump->add_option("--log-dir", o->log_dir, "the hub's log directory")->required();
  dump->add_option("--from", o->from, "the first seq printed")->capture_default_str();
  dump->add_option("--to", o->to, "the last seq printed (0: the log's last)")
      ->capture_default_str();
  dump->add_option("--since", o->since,
                   "only events written at or after this time (ms since the epoch, or "
                   "YYYY-MM-DDTHH:MM:SS[.mmm]Z), by the writer's clock");
  dump->add_option("--until", o->until, "only events written before this time");
  commands->push_back({dump, [o] { return run_log_dump(*o); }});
}

}  // namespace procreg::cli
