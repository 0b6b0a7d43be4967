// procreg verify / inspect: check a log directory record by record, without changing it.
//
// Both read the whole log with replay::LogReader, the reader replay and recovery use, so they
// judge bytes exactly as the writer would on open: every record's CRC, length and type, the
// sequence continuity within and across segments, every segment header (magic, version, CRC,
// epoch and hub agreeing with the first segment, first_seq agreeing with its file name), and
// then that each payload decodes as an event of the log's hub and epoch with the record's seq.
// A torn tail at the end of the last segment is a crash remnant the writer truncates on open:
// reported, but sound. A compacted log (its first segment starts after seq 1) is read from its
// first segment on; it is sound only if a valid snapshot of the log covers the records removed.
//
// Snapshot files (docs/LOG_FORMAT.md section 12) are checked completely, as the writer checks
// one before using it: replay::load_snapshot into a scratch projection reads the header, the
// meta, every record's CRC, decodes every row and checks the end record. A damaged snapshot is
// damage like a damaged segment (even though the writer would fall back past it). A valid
// snapshot of another epoch or hub, or one ahead of the log's last record, is reported as not
// usable but is not damage. Other files (a snapshot's .tmp, ...) are listed and not read.
//
// verify prints a short report (or --json); inspect also lists every segment and snapshot.
// Exit status: 0 sound, 1 damaged (the report names the segment or snapshot file, the byte
// offset and, for a segment, the last good seq), or compacted with no valid snapshot covering
// the removed records.
#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "events/codec.h"
#include "log/log.h"
#include "log/log_format.h"
#include "log/log_reader.h"
#include "procreg/options.h"
#include "replay/snapshot.h"
#include "state/projection.h"
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

struct SnapshotSummary {
  std::string name;
  std::uint64_t seq = 0;  // as its name says
  std::uint64_t bytes = 0;
  std::optional<std::uint64_t> rows;    // from its meta, once the header was read
  std::optional<std::uint64_t> epoch;   // likewise
  std::string hub;                      // likewise
  bool valid = false;                   // every byte checked, every row decoded
  bool usable = false;                  // valid, of this log, and the log holds what follows it
  std::string problem;                  // why it is not valid / not usable
  std::optional<std::uint64_t> offset;  // where the damage is, when the reader says
};

struct Scan {
  std::string hub;
  std::uint64_t epoch = 0;
  std::vector<SegmentSummary> segments;
  std::vector<SnapshotSummary> snapshots;
  std::vector<std::string> other_files;
  std::uint64_t compacted_through = 0;   // the first segment starts at this + 1
  std::optional<std::string> uncovered;  // compacted, and no usable snapshot covers it
  std::uint64_t records = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t tail_bytes_ignored = 0;
  std::optional<Damage> damage;
};

// The segment and offset a reader's corruption message names ("segment <name>, offset <n>:"),
// or the segment whose intact header is of a version this build does not read ("segment
// <name>: format version <v>; ...": the header, at offset 0).
void locate(Damage* d) {
  static const std::regex kWhere(R"(segment ([^,\s]+), offset ([0-9]+))");
  static const std::regex kVersion(R"(segment ([^:\s]+): format version)");
  std::smatch m;
  if (std::regex_search(d->status.message(), m, kWhere)) {
    d->segment = m[1];
    d->offset = std::stoull(m[2]);
  } else if (d->status.code() == Code::kUnsupported &&
             std::regex_search(d->status.message(), m, kVersion)) {
    d->segment = m[1];
    d->offset = 0;
  }
}

// Reads every snapshot file completely and judges whether the log can be opened from it.
void check_snapshots(const VerifyOptions& o, Scan* scan) {
  static const std::regex kAt(R"(at byte ([0-9]+))");
  auto listed = replay::list_snapshots(o.log_dir);
  if (!listed.ok()) throw CliError(kExitFailure, listed.status().to_string());
  for (const auto& f : *listed) {
    SnapshotSummary s;
    s.name = f.name;
    s.seq = f.seq;
    s.bytes = f.bytes;
    const std::string path = (fs::path(o.log_dir) / f.name).string();
    Status bad;
    auto reader = replay::SnapshotReader::open(path);
    if (!reader.ok()) {
      bad = reader.status();
    } else {
      const replay::SnapshotMeta& meta = (*reader)->meta();
      s.rows = meta.rows;
      s.epoch = meta.epoch;
      s.hub = meta.hub;
      if (meta.seq != f.seq) {
        bad = Status::corruption("snapshot " + path + ": its meta says seq " +
                                 std::to_string(meta.seq) + ", its name " + std::to_string(f.seq));
      } else {
        replay::Projection scratch(meta.hub, "verify");
        auto loaded = replay::load_snapshot(path, &scratch);
        if (!loaded.ok()) bad = loaded.status();
      }
    }
    if (!bad.ok()) {
      s.problem = bad.to_string();
      std::smatch m;
      const std::string& message = bad.message();
      if (std::regex_search(message, m, kAt)) s.offset = std::stoull(m[1]);
    } else {
      s.valid = true;
      if (scan->segments.empty() || scan->hub.empty()) {
        s.problem = "no log to open it with";
      } else if (s.hub != scan->hub) {
        s.problem = "of hub '" + s.hub + "', the log is of hub '" + scan->hub + "'";
      } else if (*s.epoch != scan->epoch) {
        s.problem = "of epoch " + std::to_string(*s.epoch) + ", the log is epoch " +
                    std::to_string(scan->epoch);
      } else if (s.seq < scan->compacted_through) {
        s.problem = "the log no longer holds the records after it (compacted through seq " +
                    std::to_string(scan->compacted_through) + ")";
      } else if (replay::snapshot_ahead_of_log(s.seq, scan->last_seq)) {
        s.problem = replay::ahead_of_log_reason(scan->last_seq);
      } else {
        s.usable = true;
      }
    }
    scan->snapshots.push_back(std::move(s));
  }
  if (scan->compacted_through > 0 && !scan->damage) {
    const bool covered = std::any_of(scan->snapshots.begin(), scan->snapshots.end(),
                                     [](const SnapshotSummary& s) { return s.usable; });
    if (!covered) {
      scan->uncovered = "compacted through seq " + std::to_string(scan->compacted_through) +
                        " and no valid snapshot covers it: the log cannot be opened";
    }
  }
}

bool snapshot_damaged(const Scan& scan) {
  return std::any_of(scan.snapshots.begin(), scan.snapshots.end(),
                     [](const SnapshotSummary& s) { return !s.valid; });
}

bool sound(const Scan& scan) { return !scan.damage && !snapshot_damaged(scan) && !scan.uncovered; }
// No segment and no snapshot: not a log (a mistyped path), or one nothing was ever written to.
bool empty(const Scan& scan) { return scan.segments.empty() && scan.snapshots.empty(); }

// The segments of a log directory (into scan->segments, in order) and its other files.
struct Listing {
  std::map<std::string, std::size_t> index;  // segment name -> its place in scan->segments
  std::vector<std::uint64_t> bytes_before;   // the log's bytes before each segment (progress)
  std::uint64_t total_bytes = 0;
};

Listing list_files(const std::string& log_dir, const std::vector<replay::SegmentName>& segments,
                   Scan* scan) {
  Listing listing;
  std::error_code ec;
  for (const auto& s : segments) {
    SegmentSummary summary;
    summary.name = s.name;
    summary.name_seq = s.first_seq;
    summary.bytes = fs::file_size(fs::path(log_dir) / s.name, ec);
    listing.index[s.name] = scan->segments.size();
    listing.bytes_before.push_back(listing.total_bytes);
    listing.total_bytes += summary.bytes;
    scan->segments.push_back(summary);
  }
  for (const auto& entry : fs::directory_iterator(log_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!replay::parse_segment_file_name(name) && !replay::parse_snapshot_file_name(name)) {
      scan->other_files.push_back(name);
    }
  }
  std::sort(scan->other_files.begin(), scan->other_files.end());
  return listing;
}

// The damage if the record's payload is not an event of the log's hub and epoch with the
// record's seq; nullopt if it is.
std::optional<Damage> bad_event(const replay::LogRecord& record, const Scan& scan) {
  // The reader bounded the record by its segment's limit; nothing in it is longer.
  auto event = events::decode(
      record.payload, events::record_limits(static_cast<std::uint32_t>(record.payload.size())));
  Status bad;
  if (!event.ok()) {
    bad = event.status();
  } else if (event->seq != record.seq || event->epoch != scan.epoch || event->hub != scan.hub) {
    bad = Status::corruption("the event says hub '" + event->hub + "', epoch " +
                             std::to_string(event->epoch) + ", seq " + std::to_string(event->seq) +
                             "; its record is seq " + std::to_string(record.seq));
  }
  if (bad.ok()) return std::nullopt;
  return Damage{
      Status(Code::kCorruption, "segment " + record.segment + ", offset " +
                                    std::to_string(record.offset) + ": the event of seq " +
                                    std::to_string(record.seq) + " is bad: " + bad.to_string() +
                                    " (last good seq " + std::to_string(scan.last_seq) + ")"),
      record.segment, record.offset, scan.last_seq};
}

Scan scan_log(const VerifyOptions& o) {
  Scan scan;
  std::error_code ec;
  if (!fs::is_directory(o.log_dir, ec)) {
    throw CliError(kExitFailure, o.log_dir + " is not a directory");
  }
  auto listed = replay::list_segments(o.log_dir);
  if (!listed.ok()) throw CliError(kExitFailure, listed.status().to_string());
  const Listing listing = list_files(o.log_dir, *listed, &scan);
  const auto& index = listing.index;
  if (scan.segments.empty()) {
    check_snapshots(o, &scan);
    return scan;
  }

  // A compacted log is read from its first kept segment.
  const std::uint64_t first_seq = std::max<std::uint64_t>(1, scan.segments.front().name_seq);
  scan.compacted_through = first_seq - 1;
  scan.last_seq = scan.compacted_through;
  auto opened = replay::LogReader::open(o.log_dir, first_seq, o.max_record_bytes);
  if (!opened.ok()) {
    Damage d{opened.status(), scan.segments.front().name, std::nullopt, scan.compacted_through};
    locate(&d);
    scan.damage = d;
    check_snapshots(o, &scan);
    return scan;
  }
  replay::LogReader& reader = **opened;
  scan.hub = reader.hub();
  scan.epoch = reader.epoch();
  Progress progress("verifying " + o.log_dir, listing.total_bytes);
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
      if (!current.empty()) scan.segments[index.at(current)].checked = true;
      current = record.segment;
    }
    SegmentSummary& seg = scan.segments[it->second];
    scan.damage = bad_event(record, scan);
    if (scan.damage) break;
    if (seg.records == 0) seg.first_seq = record.seq;
    seg.last_seq = record.seq;
    ++seg.records;
    ++scan.records;
    scan.last_seq = record.seq;
    // By bytes, to the end of the record: the bar reaches the log's size with its last record.
    progress.update(listing.bytes_before[it->second] + record.offset + replay::kRecordHeaderBytes +
                    record.payload.size());
  }
  progress.finish();
  if (!scan.damage) {
    for (auto& seg : scan.segments) seg.checked = true;
  }
  check_snapshots(o, &scan);
  return scan;
}

Json snapshot_json(const SnapshotSummary& s) {
  return {{"name", s.name},
          {"seq", s.seq},
          {"bytes", s.bytes},
          {"rows", s.rows ? Json(*s.rows) : Json(nullptr)},
          {"epoch", s.epoch ? id_json(*s.epoch) : Json(nullptr)},
          {"valid", s.valid},
          {"usable", s.usable},
          {"problem", s.problem.empty() ? Json(nullptr) : Json(s.problem)},
          {"offset", s.offset ? Json(*s.offset) : Json(nullptr)}};
}

Json scan_json(const Scan& scan, bool with_segments) {
  std::size_t valid = 0;
  Json damaged = Json::array();
  for (const auto& s : scan.snapshots) {
    if (s.valid) {
      ++valid;
    } else {
      damaged.push_back({{"file", s.name},
                         {"offset", s.offset ? Json(*s.offset) : Json(nullptr)},
                         {"message", s.problem}});
    }
  }
  Json j = {{"sound", sound(scan)},
            {"empty", empty(scan)},
            {"hub", scan.hub},
            {"epoch", id_json(scan.epoch)},
            {"segments", scan.segments.size()},
            {"records", scan.records},
            {"last_good_seq", scan.last_seq},
            {"torn_tail_bytes", scan.tail_bytes_ignored},
            {"compacted_through", scan.compacted_through},
            {"snapshots", scan.snapshots.size()},
            {"valid_snapshots", valid}};
  if (scan.uncovered) j["uncovered"] = *scan.uncovered;
  if (!damaged.empty()) j["snapshot_damage"] = damaged;
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
    Json snaps = Json::array();
    for (const auto& s : scan.snapshots) snaps.push_back(snapshot_json(s));
    j["snapshot_list"] = snaps;
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
               "  " + std::to_string(s.records) + " record(s)" +
               (s.checked ? "" : "  (not checked)"));
    }
    for (const auto& s : scan.snapshots) {
      out_line("  snapshot " + s.name + "  " + std::to_string(s.bytes) + " bytes  seq " +
               std::to_string(s.seq) + "  " +
               (s.rows ? std::to_string(*s.rows) : std::string("?")) + " row(s)  epoch " +
               (s.epoch ? std::to_string(*s.epoch) : std::string("?")) + "  " +
               (s.usable  ? std::string("valid")
                : s.valid ? "valid, not usable: " + s.problem
                          : std::string("INVALID")));
    }
    for (const auto& f : scan.other_files) out_line("  other file " + f + " (not read)");
  }
  if (!scan.snapshots.empty()) {
    std::size_t valid = 0;
    for (const auto& s : scan.snapshots) valid += s.valid ? 1 : 0;
    out_line(std::to_string(scan.snapshots.size()) + " snapshot(s) checked, " +
             std::to_string(valid) + " valid, newest seq " +
             std::to_string(scan.snapshots.back().seq));
  }
  if (scan.compacted_through > 0) {
    out_line("compacted through seq " + std::to_string(scan.compacted_through) +
             (scan.uncovered ? std::string(": no valid snapshot covers it")
                             : std::string(": covered by a valid snapshot")));
  }
  if (scan.tail_bytes_ignored > 0) {
    out_line("torn tail: " + std::to_string(scan.tail_bytes_ignored) +
             " byte(s) after the last record (a crash remnant; the writer truncates it on open)");
  }
  for (const auto& s : scan.snapshots) {
    if (s.valid) continue;
    out_line("DAMAGED snapshot: " + s.problem);
    out_line("  snapshot " + s.name + ", offset " +
             (s.offset ? std::to_string(*s.offset) : std::string("?")));
  }
  if (scan.uncovered) out_line("UNSOUND: " + *scan.uncovered);
  if (scan.damage) {
    const Damage& d = *scan.damage;
    out_line("DAMAGED: " + d.status.to_string());
    out_line("  segment " + (d.segment.empty() ? std::string("?") : d.segment) + ", offset " +
             (d.offset ? std::to_string(*d.offset) : std::string("?")) + ", last good seq " +
             std::to_string(d.last_good_seq));
  } else if (!sound(scan)) {
    // reported above
  } else {
    out_line(empty(scan) ? "EMPTY: the directory holds no segment and no snapshot file: not a "
                           "log, or one nothing was ever written to"
                         : "sound");
  }
}

int run_verify(const VerifyOptions& o, bool inspect) {
  const Scan scan = scan_log(o);
  if (o.json) {
    out_line(dump_line(scan_json(scan, inspect)));
  } else {
    print_text(scan, o.log_dir, inspect);
  }
  return sound(scan) && !empty(scan) ? kExitOk : kExitFailure;
}

CLI::App* add_one(CLI::App& app, Commands* commands, const char* name, const char* help,
                  bool inspect) {
  auto o = std::make_shared<VerifyOptions>();
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("--log-dir", o->log_dir, "the hub's log directory")->required();
  sub->add_flag("--json", o->json, "one JSON object instead of text");
  sub->add_option("--max-record-bytes", o->max_record_bytes,
                  "the record limit of segments written before log format version 2 "
                  "(newer segments record theirs), if it was not the default");
  commands->push_back({sub, [o, inspect] { return run_verify(*o, inspect); }});
  return sub;
}

}  // namespace

void add_verify_commands(CLI::App& app, Commands* commands) {
  add_one(app, commands, "verify",
          "Check every record of a log and every snapshot file; exit 1 if damaged", false);
  add_one(app, commands, "inspect",
          "List a log's segments, snapshots and other files, and check them as verify does", true);
}

}  // namespace procreg::cli
