// procreg verify / inspect: check a log directory record by record, without changing it.
//
// Both read the whole log with replay::LogReader, the reader replay and recovery use, so they
// judge bytes exactly as the writer would on open: every record's CRC, length and type, the
// sequence continuity within and across segments, every segment header (magic, version, CRC,
// epoch and hub agreeing with the first segment, first_seq agreeing with its file name), and
// then that each payload decodes as an event of the log's hub and epoch with the record's seq.
// A torn tail at the end of the last segment is a crash remnant the writer truncates on open:
// reported, but sound. Files that are not segments are listed as "other files" and not read.
//
// verify prints a short report (or --json); inspect also lists every segment. Exit status: 0
// sound, 1 damaged (the report names the segment, the byte offset and the last good seq).
#include <algorithm>
#include <filesystem>
#include <optional>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "events/codec.h"
#include "procreg/options.h"
#include "replay/log.h"
#include "replay/log_format.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

namespace fs = std::filesystem;

struct VerifyOptions {
  std::string log_dir;
  bool json = false;
  std::uint32_t max_record_bytes = LogOptions{}.max_record_bytes;
};

struct SegmentSummary {
  std::string name;
  std::uint64_t name_seq = 0;  // the first seq its name says
  std::uint64_t bytes = 0;
  std::uint64_t records = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  bool checked = false;  // read to its end without damage
};

struct Damage {
  Status status;
  std::string segment;
  std::optional<std::uint64_t> offset;
  std::uint64_t last_good_seq = 0;
};

struct Scan {
  std::string hub;
  std::uint64_t epoch = 0;
  std::vector<SegmentSummary> segments;
  std::vector<std::string> other_files;
  std::uint64_t records = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t tail_bytes_ignored = 0;
  std::optional<Damage> damage;
};

// The segment and offset a reader's corruption message names ("segment <name>, offset <n>:").
void locate(Damage* d) {
  static const std::regex kWhere(R"(segment ([^,\s]+), offset ([0-9]+))");
  std::smatch m;
  if (std::regex_search(d->status.message(), m, kWhere)) {
    d->segment = m[1];
    d->offset = std::stoull(m[2]);
  }
}

Scan scan_log(const VerifyOptions& o) {
  Scan scan;
  std::error_code ec;
  if (!fs::is_directory(o.log_dir, ec)) {
    throw CliError(kExitFailure, o.log_dir + " is not a directory");
  }
  auto listed = replay::list_segments(o.log_dir);
  if (!listed.ok()) throw CliError(kExitFailure, listed.status().to_string());
  std::uint64_t total_bytes = 0;
  std::map<std::string, std::size_t> index;
  std::vector<std::uint64_t> bytes_before;
  for (const auto& s : *listed) {
    SegmentSummary summary;
    summary.name = s.name;
    summary.name_seq = s.first_seq;
    summary.bytes = fs::file_size(fs::path(o.log_dir) / s.name, ec);
    index[s.name] = scan.segments.size();
    bytes_before.push_back(total_bytes);
    total_bytes += summary.bytes;
    scan.segments.push_back(summary);
  }
  for (const auto& entry : fs::directory_iterator(o.log_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!replay::parse_segment_file_name(name)) scan.other_files.push_back(name);
  }
  std::sort(scan.other_files.begin(), scan.other_files.end());
  if (scan.segments.empty()) return scan;

  auto opened = replay::LogReader::open(o.log_dir, 1, o.max_record_bytes);
  if (!opened.ok()) {
    Damage d{opened.status(), scan.segments.front().name, std::nullopt, 0};
    locate(&d);
    scan.damage = d;
    return scan;
  }
  replay::LogReader& reader = **opened;
  scan.hub = reader.hub();
  scan.epoch = reader.epoch();
  const auto limits = events::record_limits(o.max_record_bytes);
  Progress progress("verifying " + o.log_dir, total_bytes);
  replay::LogRecord record;
  std::string current;
  for (;;) {
    auto more = reader.next(&record);
    if (!more.ok()) {
      Damage d{more.status(), current, std::nullopt, scan.last_seq};
      locate(&d);
      scan.damage = d;
      break;
    }
    if (!*more) {
      scan.tail_bytes_ignored = reader.tail_bytes_ignored();
      break;
    }
    const auto it = index.find(record.segment);
    if (it == index.end()) continue;  // cannot happen: the reader reads listed segments
    if (record.segment != current) {
      if (!current.empty()) scan.segments[index[current]].checked = true;
      current = record.segment;
    }
    SegmentSummary& seg = scan.segments[it->second];
    auto event = events::decode(record.payload, limits);
    Status bad;
    if (!event.ok()) {
      bad = event.status();
    } else if (event->seq != record.seq || event->epoch != scan.epoch || event->hub != scan.hub) {
      bad = Status::corruption("the event says hub '" + event->hub + "', epoch " +
                               std::to_string(event->epoch) + ", seq " + std::to_string(event->seq) +
                               "; its record is seq " + std::to_string(record.seq));
    }
    if (!bad.ok()) {
      scan.damage = Damage{Status(Code::kCorruption,
                                  "segment " + record.segment + ", offset " +
                                      std::to_string(record.offset) + ": the event of seq " +
                                      std::to_string(record.seq) + " is bad: " + bad.to_string() +
                                      " (last good seq " + std::to_string(scan.last_seq) + ")"),
                           record.segment, record.offset, scan.last_seq};
      break;
    }
    if (seg.records == 0) seg.first_seq = record.seq;
    seg.last_seq = record.seq;
    ++seg.records;
    ++scan.records;
    scan.last_seq = record.seq;
    progress.update(bytes_before[it->second] + record.offset);
  }
  progress.finish();
  if (!scan.damage) {
    for (auto& seg : scan.segments) seg.checked = true;
  }
  return scan;
}

Json scan_json(const Scan& scan, bool with_segments) {
  Json j = {{"sound", !scan.damage},
            {"hub", scan.hub},
            {"epoch", scan.epoch},
            {"segments", scan.segments.size()},
            {"records", scan.records},
            {"last_good_seq", scan.last_seq},
            {"torn_tail_bytes", scan.tail_bytes_ignored}};
  if (scan.damage) {
    j["damage"] = {{"code", std::string(code_name(scan.damage->status.code()))},
                   {"message", scan.damage->status.message()},
                   {"segment", scan.damage->segment},
                   {"offset", scan.damage->offset ? Json(*scan.damage->offset) : Json(nullptr)},
                   {"last_good_seq", scan.damage->last_good_seq}};
  }
  if (with_segments) {
    Json segs = Json::array();
    for (const auto& s : scan.segments) {
      segs.push_back({{"name", s.name},
                      {"bytes", s.bytes},
                      {"records", s.records},
                      {"first_seq", s.records ? Json(s.first_seq) : Json(nullptr)},
                      {"last_seq", s.records ? Json(s.last_seq) : Json(nullptr)},
                      {"checked", s.checked}});
    }
    j["segment_list"] = segs;
    j["other_files"] = scan.other_files;
  }
  return j;
}

void print_text(const Scan& scan, const std::string& dir, bool with_segments) {
  out_line("log " + dir + ": hub " + scan.hub + ", epoch " + std::to_string(scan.epoch) + ", " +
           std::to_string(scan.segments.size()) + " segment(s), " + std::to_string(scan.records) +
           " record(s) checked, last good seq " + std::to_string(scan.last_seq));
  if (with_segments) {
    for (const auto& s : scan.segments) {
      out_line("  segment " + s.name + "  " + std::to_string(s.bytes) + " bytes  " +
               (s.records ? "seq " + std::to_string(s.first_seq) + ".." + std::to_string(s.last_seq)
                          : std::string("no record read")) +
               "  " + std::to_string(s.records) + " record(s)" + (s.checked ? "" : "  (not checked)"));
    }
    for (const auto& f : scan.other_files) out_line("  other file " + f + " (not read)");
  }
  if (scan.tail_bytes_ignored > 0) {
    out_line("torn tail: " + std::to_string(scan.tail_bytes_ignored) +
             " byte(s) after the last record (a crash remnant; the writer truncates it on open)");
  }
  if (scan.damage) {
    const Damage& d = *scan.damage;
    out_line("DAMAGED: " + d.status.to_string());
    out_line("  segment " + (d.segment.empty() ? std::string("?") : d.segment) + ", offset " +
             (d.offset ? std::to_string(*d.offset) : std::string("?")) + ", last good seq " +
             std::to_string(d.last_good_seq));
  } else {
    out_line(scan.segments.empty() ? "empty: the directory holds no segment" : "sound");
  }
}

int run_verify(const VerifyOptions& o, bool inspect) {
  const Scan scan = scan_log(o);
  if (o.json) {
    out_line(dump_line(scan_json(scan, inspect)));
  } else {
    print_text(scan, o.log_dir, inspect);
  }
  return scan.damage ? kExitFailure : kExitOk;
}

CLI::App* add_one(CLI::App& app, Commands* commands, const char* name, const char* help,
                  bool inspect) {
  auto o = std::make_shared<VerifyOptions>();
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("--log-dir", o->log_dir, "the hub's log directory")->required();
  sub->add_flag("--json", o->json, "one JSON object instead of text");
  sub->add_option("--max-record-bytes", o->max_record_bytes,
                  "the writer's record limit, if it was not the default");
  commands->push_back({sub, [o, inspect] { return run_verify(*o, inspect); }});
  return sub;
}

}  // namespace

void add_verify_commands(CLI::App& app, Commands* commands) {
  add_one(app, commands, "verify",
          "Check every record of a log (CRC, sequence, events); exit 1 if damaged", false);
  add_one(app, commands, "inspect",
          "List a log's segments and other files, and check it as verify does", true);
}

}  // namespace procreg::cli
