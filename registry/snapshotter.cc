// The snapshotter (registry/snapshotter.h).
#include "registry/snapshotter.h"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "log/file_util.h"
#include "replay/restore.h"
#include "replay/snapshot.h"

namespace procreg::replay {

namespace {

bool policy_due(const SnapshotOptions& p, std::uint64_t events, std::uint64_t bytes) {
  return (p.every_events != 0 && events >= p.every_events) ||
         (p.every_bytes != 0 && bytes >= p.every_bytes);
}

}  // namespace

void Snapshotter::opened(std::uint64_t snapshot_seq, std::uint64_t events_since) {
  if (snapshot_seq != 0) last_seq_.store(snapshot_seq);
  since_events_.store(events_since);
}

void Snapshotter::note_appended(std::size_t events, std::size_t bytes) {
  if (!thread_.joinable()) return;
  const std::uint64_t counted = since_events_.fetch_add(events) + events;
  const std::uint64_t total = since_bytes_.fetch_add(bytes) + bytes;
  if (policy_due(opts_.snapshots, counted, total)) {
    {
      std::lock_guard lock(thread_mu_);
      if (due_) return;
      due_ = true;
    }
    thread_cv_.notify_all();
  }
}

void Snapshotter::start() {
  const SnapshotOptions& p = opts_.snapshots;
  if (p.every_events == 0 && p.every_bytes == 0) return;
  thread_ = std::thread([this] { run(); });
}

void Snapshotter::run() {
  std::unique_lock lock(thread_mu_);
  for (;;) {
    thread_cv_.wait(lock, [&] { return stop_ || due_; });
    if (stop_) return;
    lock.unlock();
    const std::uint64_t before = last_seq_.load();
    Status error;
    try {
      auto taken = take();
      if (!taken.ok()) error = taken.status();
    } catch (const std::exception& e) {  // out of memory: the next trigger tries again
      error = Status::internal(std::string("snapshot: ") + e.what());
    }
    if (!error.ok()) {
      failures_.fetch_add(1);
      std::lock_guard error_lock(error_mu_);
      last_error_ = error.message();
    }
    lock.lock();
    // Events appended while it ran may already make the next one due.
    due_ = error.ok() && policy_due(opts_.snapshots, since_events_.load(), since_bytes_.load());
    if (due_ && last_seq_.load() == before) {
      // Due, but nothing new was applied (the events counted wait for their sync): look again
      // shortly rather than at once.
      thread_cv_.wait_for(lock, std::chrono::milliseconds(10), [&] { return stop_; });
    }
  }
}

void Snapshotter::stop() {
  {
    std::lock_guard lock(thread_mu_);
    stop_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Snapshotter::Stats Snapshotter::stats() const {
  Stats s{written_.load(), failures_.load(), last_seq_.load(), segments_compacted_.load(), {}};
  std::lock_guard lock(error_mu_);
  s.last_error = last_error_;
  return s;
}

Result<SnapshotInfo> Snapshotter::take() {
  std::lock_guard one_at_a_time(mu_);
  const auto started = std::chrono::steady_clock::now();
  // The policy's counters, read before the target. They count appended events, and some may not
  // be applied yet (they wait for their sync): only the events at or before the target are
  // covered, and the bytes in proportion. The rest count towards the next snapshot.
  const std::uint64_t events = since_events_.load();
  const std::uint64_t bytes = since_bytes_.load();
  const std::uint64_t previous = last_seq_.load();
  const std::uint64_t target = applier_.applied_seq();
  if (target == 0) return Status::invalid_argument("snapshot: the log holds no event yet");
  auto info = write_or_find(target);
  if (!info.ok()) return info.status();
  last_seq_.store(info->seq);
  const std::uint64_t covered = std::min(events, info->seq > previous ? info->seq - previous : 0);
  const auto covered_bytes = static_cast<std::uint64_t>(
      events == 0 ? 0.0L
                  : static_cast<long double>(bytes) * static_cast<long double>(covered) /
                        static_cast<long double>(events));
  since_events_.fetch_sub(std::min(covered, since_events_.load()));
  since_bytes_.fetch_sub(std::min(covered_bytes, since_bytes_.load()));
  if (Status kept = keep_newest(); !kept.ok()) return kept;
  if (opts_.snapshots.compact) {
    auto compacted = compact_locked();
    if (!compacted.ok()) return compacted.status();
  }
  info->took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return info;
}

// The snapshot file at `target`: the newest one if it is there already, else a new one.
Result<SnapshotInfo> Snapshotter::write_or_find(std::uint64_t target) {
  SnapshotInfo info;
  auto files = list_snapshots(opts_.log_dir);
  if (!files.ok()) return files.status();
  if (!files->empty() && files->back().seq == target) {
    info.seq = target;
    info.file = files->back().name;
    info.bytes = files->back().bytes;
    auto reader = SnapshotReader::open(opts_.log_dir + "/" + info.file);
    if (!reader.ok()) return reader.status();
    info.rows = (*reader)->meta().rows;
    return info;
  }
  Projection state(opts_.hub, opts_.local_node);
  RestoreOptions ro;
  ro.upto_seq = target;
  ro.v1_max_record_bytes = opts_.log.max_record_bytes;
  auto restored = restore(opts_.log_dir, &state, ro);
  if (!restored.ok()) return restored.status();
  if (state.last_seq() != target) {
    return Status::corruption("snapshot: the log replayed to " + std::to_string(state.last_seq()) +
                              ", not to the applied seq " + std::to_string(target));
  }
  auto written = write_snapshot(opts_.log_dir, state, clock_());
  if (!written.ok()) return written.status();
  info.seq = written->seq;
  info.file = written->name;
  info.bytes = written->bytes;
  state.for_each_table([&](const std::string&, const Table& t) { info.rows += t.size(); });
  written_.fetch_add(1);
  return info;
}

// Keep: the newest `keep` snapshot files stay.
Status Snapshotter::keep_newest() {
  auto files = list_snapshots(opts_.log_dir);
  if (!files.ok()) return files.status();
  const std::size_t keep = std::max<std::size_t>(1, opts_.snapshots.keep);
  if (files->size() <= keep) return Status();
  auto dir = open_file(opts_.log_dir, O_RDONLY | O_DIRECTORY);
  if (!dir.ok()) return dir.status();
  for (std::size_t i = 0; i + keep < files->size(); ++i) {
    Status s = remove_and_sync_dir(dir->get(), opts_.log_dir, (*files)[i].name);
    if (!s.ok()) return s;
  }
  return Status();
}

Result<std::size_t> Snapshotter::compact() {
  std::lock_guard one_at_a_time(mu_);
  return compact_locked();
}

Result<std::size_t> Snapshotter::compact_locked() {
  auto files = list_snapshots(opts_.log_dir);
  if (!files.ok()) return files.status();
  if (files->empty()) return std::size_t{0};
  // The oldest kept snapshot: a damaged newer one must still be able to fall back to it. And
  // the events after the lowest durable subscriber's position, within the bound.
  std::uint64_t covered = files->front().seq;
  std::vector<std::string> names;
  {
    std::lock_guard slot(slot_);  // only to read the segment list and the head
    if (durable_ != nullptr && opts_.snapshots.durable_max_events > 0) {
      covered =
          std::min(covered, durable_->floor(log_.last_seq(), opts_.snapshots.durable_max_events));
    }
    names = log_.compactable(covered);
  }
  // The files go without the writer's lock: appends and reads go on meanwhile.
  auto removed = remove_segments(opts_.log_dir, names, opts_.snapshots.archive_dir);
  const std::size_t done = removed.ok() ? *removed : names.size();
  {
    std::lock_guard slot(slot_);
    // On an error, some prefix was removed; forget only what is surely gone.
    std::size_t gone = 0;
    for (const std::string& name : names) {
      std::error_code ec;
      if (std::filesystem::exists(opts_.log_dir + "/" + name, ec) || ec) break;
      ++gone;
    }
    log_.forget_oldest(gone);
    segments_compacted_.fetch_add(gone);
  }
  if (!removed.ok()) return removed.status();
  return done;
}

}  // namespace procreg::replay
