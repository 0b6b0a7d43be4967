// procreg replay: the state a log directory holds, rebuilt offline (Registry::open_replay),
// optionally as of a sequence number or a writer time, queried like a running hub.
//
// It starts from the newest usable snapshot file at or before the point asked for (--no-snapshots:
// from the log's first record). Output: one JSON object {"hub", "epoch", "last_seq", "tables",
// "rows", "recovery", "method", "result"}: the counts of the rebuilt state, what it started from
// (Registry::recovery_report(), "" for the whole log without snapshots), and the query's result
// (dump_all by default).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "log/log_format.h"
#include "procreg/options.h"
#include "procreg/registry.h"
#include "tools/procreg/api_call.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"

namespace procreg::cli {

std::int64_t parse_time_ms(const std::string& text, const std::string& flag) {
  try {
    std::size_t used = 0;
    const long long ms = std::stoll(text, &used);
    if (used == text.size()) return ms;
  } catch (const std::exception&) {
  }
  std::tm tm{};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) usage_error(flag + ": expected ms since the epoch or an ISO-8601 UTC time");
  std::int64_t ms = 0;
  if (*rest == '.') {
    int digits = 0;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest) {
      if (digits++ < 3) ms = ms * 10 + (*rest - '0');
    }
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (std::string(rest) != "Z" && !std::string(rest).empty()) {
    usage_error(flag + ": only UTC times (ending in Z) are accepted");
  }
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + ms;
}

namespace {

struct ReplayCmdOptions {
  std::string log_dir;
  std::uint64_t upto = 0;
  std::string upto_time;
  std::string method = "dump_all";
  std::string args;
  std::string node = "local";
  std::uint32_t max_record_bytes = LogOptions{}.max_record_bytes;
  bool no_snapshots = false;
};

int run_replay(const ReplayCmdOptions& o) {
  ReplayOptions ro;
  ro.log_dir = o.log_dir;
  ro.local_node = o.node;
  ro.upto_seq = o.upto;
  ro.max_record_bytes = o.max_record_bytes;
  ro.use_snapshots = !o.no_snapshots;
  if (!o.upto_time.empty()) ro.upto_time_ms = parse_time_ms(o.upto_time, "--upto-time");
  Json args;
  if (!o.args.empty()) {
    try {
      args = parse_json_input(o.args);
    } catch (const Json::parse_error& e) {
      usage_error(std::string("the arguments are not JSON: ") + e.what());
    }
  }
  const auto& names = api_methods();
  if (std::find(names.begin(), names.end(), o.method) == names.end()) {
    usage_error("unknown method \"" + o.method + "\" (procreg call --list lists them)");
  }
  if (api_method_writes(o.method)) {
    usage_error("--query " + o.method +
                " writes, and a replay is read-only: give a read, such as dump_all, get_pid or "
                "match_tag (procreg call --list lists every method)");
  }

  // A bar by bytes of the segments (snapshots load fast; the log after them is the long part).
  std::map<std::string, std::uint64_t> bytes_before;
  std::uint64_t total_bytes = 0;
  if (auto segments = replay::list_segments(o.log_dir); segments.ok()) {
    for (const auto& s : *segments) {
      bytes_before[s.name] = total_bytes;
      std::error_code ec;
      const auto size = std::filesystem::file_size(o.log_dir + "/" + s.name, ec);
      total_bytes += ec ? 0 : static_cast<std::uint64_t>(size);
    }
  }
  Progress progress("replaying " + o.log_dir, total_bytes);
  ro.progress = [&](const std::string& segment, std::uint64_t offset, std::uint64_t) {
    auto it = bytes_before.find(segment);
    if (it != bytes_before.end()) progress.update(it->second + offset);
  };
  std::optional<Result<std::unique_ptr<Registry>>> opened;
  opened.emplace(Registry::open_replay(ro));
  progress.finish();
  if (!opened->ok()) {
    throw CliError(exit_code_of(opened->status()),
                   "cannot replay " + o.log_dir + ": " + opened->status().to_string());
  }
  Registry& registry = ***opened;
  if (o.upto > registry.last_sequence()) {
    std::fprintf(stderr,
                 "procreg replay: --upto %llu is past the log's head (seq %llu): the state "
                 "is at the head\n",
                 static_cast<unsigned long long>(o.upto),
                 static_cast<unsigned long long>(registry.last_sequence()));
  }
  std::size_t rows = 0;
  const auto tables = registry.dump_all_tables();
  for (const auto& [table, dump] : tables) rows += dump.size();
  Json result;
  try {
    result = call_api(registry, o.method, args);
  } catch (const JsonError& e) {
    usage_error(e.what());
  }
  Json out = {{"hub", registry.hub()},
              {"epoch", id_json(registry.epoch())},
              {"last_seq", registry.last_sequence()},
              {"tables", tables.size()},
              {"rows", rows},
              {"recovery", registry.recovery_report()},
              {"method", o.method},
              {"result", result}};
  out_line(dump_line(out));
  return result.is_object() && result.contains("error") && result.size() == 1 ? kExitFailure
                                                                              : kExitOk;
}

}  // namespace

void add_replay_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<ReplayCmdOptions>();
  CLI::App* replay =
      app.add_subcommand("replay", "Rebuild the state from a log directory and query it");
  replay->add_option("--log-dir", o->log_dir, "the hub's log directory")->required();
  replay->add_option("--upto", o->upto, "the state after this seq (0: the whole log)");
  replay->add_option("--upto-time", o->upto_time,
                     "the state as of this writer time: ms since the epoch or "
                     "YYYY-MM-DDTHH:MM:SS[.mmm]Z");
  replay->add_option("--query", o->method, "the read to run (any `call` method)")
      ->capture_default_str();
  replay->add_option("--args", o->args, "its arguments as a JSON object");
  replay->add_option("--node", o->node, "the local node of local_* queries")->capture_default_str();
  replay->add_flag("--no-snapshots", o->no_snapshots,
                   "replay the log from its first record, ignoring snapshot files");
  replay->add_option("--max-record-bytes", o->max_record_bytes,
                     "the record limit of segments written before log format version 2 "
                     "(newer segments record theirs), if it was not the default");
  commands->push_back({replay, [o] { return run_replay(*o); }});
}

}  // namespace procreg::cli
