#include "replay/restore.h"

#include "log/log.h"
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
    for (auto it = files->rbegin(); it != files->rend(); ++it) {
      if (o.upto_seq != 0 && it->seq > o.upto_seq) continue;  // not a failure: just later
      std::string why = try_snapshot(dir, *it, projection, o);
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
