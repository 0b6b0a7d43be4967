#include "replay/restore.h"

#include <algorithm>

#include "log/log.h"
#include "log/log_format.h"
#include "log/log_reader.h"
#include "replay/replay.h"

namespace procreg::replay {

std::string RestoreReport::to_string() const {
  std::string out;
  if (snapshot) {
    out = "started from " + snapshot->name + " (seq " + std::to_string(snapshot->seq) + ") + " +
          std::to_string(events_replayed) + " events of the log";
  } else if (!skipped.empty()) {
    out = "replayed the whole log (" + std::to_string(events_replayed) + " events)";
  }
  for (const std::string& why : skipped) out += "; skipped " + why;
  return out;
}

namespace {

// The seq of the log's last record if it is below `newest` (the newest snapshot), read as the
// writer's recovery reads it (the last whole record: a torn tail or a segment header cut short
// holds none) without changing anything; else nothing, and nothing too if the log cannot be read
// (the replay then says why). Each segment before the last ends where the next one starts, so
// only the last one can end before a snapshot: it alone is read, up to `newest`, and only when
// `newest` is at or past its first seq.
std::optional<std::uint64_t> log_end_before(const std::string& dir, std::uint64_t newest,
                                            std::uint32_t v1_max_record_bytes) {
  auto segments = list_segments(dir);
  if (!segments.ok() || segments->empty()) return std::nullopt;
  const std::uint64_t first = std::max<std::uint64_t>(1, segments->back().first_seq);
  if (newest < first) return std::nullopt;
  auto reader = LogReader::open(dir, first, v1_max_record_bytes);
  if (!reader.ok()) return std::nullopt;
  std::uint64_t last = first - 1;
  LogRecord record;
  while (last < newest) {
    auto more = (*reader)->next(&record);
    if (!more.ok()) return std::nullopt;
    if (!*more) return last;
    last = record.seq;
  }
  return std::nullopt;
}

// Why the snapshot `file` cannot start this restore, or "" if it can (the projection then
// holds it).
std::string try_snapshot(const std::string& dir, const SnapshotFile& file, Projection* projection,
                         const RestoreOptions& o) {
  auto reader = LogReader::open(dir, file.seq + 1, o.v1_max_record_bytes);
  if (!reader.ok()) return reader.status().message();
  const std::string path = dir + "/" + file.name;
  auto loaded = load_snapshot(path, projection);
  if (!loaded.ok()) return loaded.status().message();
  std::string why;
  if (loaded->epoch != (*reader)->epoch()) {
    why = "of epoch " + std::to_string(loaded->epoch) + ", the log is epoch " +
          std::to_string((*reader)->epoch());
  } else if (o.upto_time_ms && loaded->max_time_ms > *o.upto_time_ms) {
    why = "holds events written after the time asked for";
  }
  if (!why.empty()) projection->reset_to(0, 0);
  return why;
}

}  // namespace

Result<RestoreReport> restore(const std::string& dir, Projection* projection,
                              const RestoreOptions& o) {
  RestoreReport report;
  if (o.use_snapshots) {
    auto files = list_snapshots(dir);
    if (!files.ok()) return files.status();
    // Listed first: a snapshot written meanwhile is of events the log holds by then.
    const std::optional<std::uint64_t> log_end =
        files->empty() ? std::nullopt
                       : log_end_before(dir, files->back().seq, o.v1_max_record_bytes);
    for (auto it = files->rbegin(); it != files->rend(); ++it) {
      if (o.upto_seq != 0 && it->seq > o.upto_seq) continue;  // not a failure: just later
      std::string why = log_end && snapshot_ahead_of_log(it->seq, *log_end)
                            ? ahead_of_log_reason(*log_end)
                            : try_snapshot(dir, *it, projection, o);
      if (why.empty()) {
        report.snapshot = *it;
        break;
      }
      report.skipped.push_back(it->name + ": " + why);
    }
  }
  auto replayed =
      replay_log(dir, projection, o.upto_seq, o.v1_max_record_bytes, o.upto_time_ms, o.progress);
  if (!replayed.ok()) {
    Status s = replayed.status();
    if (s.code() == Code::kCompacted && !report.skipped.empty()) {
      std::string why = s.message() + "; no usable snapshot:";
      for (const std::string& skipped : report.skipped) why += " " + skipped + ";";
      return Status::compacted(why);
    }
    return s;
  }
  report.events_replayed = replayed->events;
  return report;
}

}  // namespace procreg::replay
