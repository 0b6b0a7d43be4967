// A writer's snapshots and retention: Registry::snapshot, Registry::compact and the background
// snapshotter that RegistryOptions::snapshots drives.
//
// A snapshot is built from files only: the newest usable snapshot plus the log up to the
// applied (hence durable) head, replayed into a projection of its own (replay/restore.h). The
// live projection is never locked for it, so writes and reads go on at full speed meanwhile; the
// price is the memory of a second projection while it runs. Compaction takes the writer slot
// only to read and then update the list of segments; the files are removed without it.
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>

#include "log/file_util.h"
#include "registry/registry_impl.h"
#include "replay/restore.h"
#include "replay/snapshot.h"

namespace procreg {

namespace {

bool policy_due(const SnapshotOptions& p, std::uint64_t events, std::uint64_t bytes) {
  return (p.every_events != 0 && events >= p.every_events) ||
         (p.every_bytes != 0 && bytes >= p.every_bytes);
}

}  // namespace

void Registry::Impl::note_appended(std::size_t bytes) {
  if (!snapshotter.joinable()) return;
  const std::uint64_t events = since_events.fetch_add(1) + 1;
  const std::uint64_t total = since_bytes.fetch_add(bytes) + bytes;
  if (policy_due(opts.snapshots, events, total)) {
    {
      std::lock_guard lock(snapshotter_mu);
      if (snapshot_due) return;
      snapshot_due = true;
    }
    snapshotter_cv.notify_all();
  }
}

void Registry::Impl::start_snapshotter() {
  const SnapshotOptions& p = opts.snapshots;
  if (p.every_events == 0 && p.every_bytes == 0) return;
  snapshotter = std::thread([this] {
    std::unique_lock lock(snapshotter_mu);
    for (;;) {
      snapshotter_cv.wait(lock, [&] { return snapshotter_stop || snapshot_due; });
      if (snapshotter_stop) return;
      lock.unlock();
      Status error;
      try {
        auto taken = take_snapshot();
        if (!taken.ok()) error = taken.status();
      } catch (const std::exception& e) {  // out of memory: the next trigger tries again
        error = Status::internal(std::string("snapshot: ") + e.what());
      }
      if (!error.ok()) {
        snapshot_failures.fetch_add(1);
        std::lock_guard error_lock(snapshot_error_mu);
        last_snapshot_error = error.message();
      }
      lock.lock();
      // Events appended while it ran may already make the next one due.
      snapshot_due =
          error.ok() && policy_due(opts.snapshots, since_events.load(), since_bytes.load());
    }
  });
}

void Registry::Impl::stop_snapshotter() {
  {
    std::lock_guard lock(snapshotter_mu);
    snapshotter_stop = true;
  }
  snapshotter_cv.notify_all();
  if (snapshotter.joinable()) snapshotter.join();
}

Result<SnapshotInfo> Registry::Impl::take_snapshot() {
  std::lock_guard one_at_a_time(snapshot_mu);
  const auto started = std::chrono::steady_clock::now();
  // What this snapshot will cover of the policy's counters, read before the target: the events
  // counted are all at or before it (ones appended meanwhile count towards the next one).
  const std::uint64_t events = since_events.load();
  const std::uint64_t bytes = since_bytes.load();
  const std::uint64_t target = applied_seq.load();
  if (target == 0) return Status::invalid_argument("snapshot: the log holds no event yet");

  SnapshotInfo info;
  auto files = replay::list_snapshots(opts.log_dir);
  if (!files.ok()) return files.status();
  if (!files->empty() && files->back().seq == target) {
    info.seq = target;
    info.file = files->back().name;
    info.bytes = files->back().bytes;
    auto reader =
        replay::SnapshotReader::open(opts.log_dir + "/" + info.file, opts.log.max_record_bytes);
    if (!reader.ok()) return reader.status();
    info.rows = (*reader)->meta().rows;
  } else {
    replay::Projection state(opts.hub, opts.local_node);
    replay::RestoreOptions ro;
    ro.upto_seq = target;
    ro.max_record_bytes = opts.log.max_record_bytes;
    auto restored = replay::restore(opts.log_dir, &state, ro);
    if (!restored.ok()) return restored.status();
    if (state.last_seq() != target) {
      return Status::corruption("snapshot: the log replayed to " +
                                std::to_string(state.last_seq()) + ", not to the applied seq " +
                                std::to_string(target));
    }
    auto written = replay::write_snapshot(opts.log_dir, state, clock());
    if (!written.ok()) return written.status();
    info.seq = written->seq;
    info.file = written->name;
    info.bytes = written->bytes;
    state.for_each_table(
        [&](const std::string&, const replay::Table& t) { info.rows += t.size(); });
    snapshots_written.fetch_add(1);
  }
  last_snapshot_seq.store(info.seq);
  since_events.fetch_sub(std::min(events, since_events.load()));
  since_bytes.fetch_sub(std::min(bytes, since_bytes.load()));

  // Keep: the newest `keep` snapshot files stay.
  files = replay::list_snapshots(opts.log_dir);
  if (!files.ok()) return files.status();
  const std::size_t keep = std::max<std::size_t>(1, opts.snapshots.keep);
  if (files->size() > keep) {
    auto dir = replay::open_file(opts.log_dir, O_RDONLY | O_DIRECTORY);
    if (!dir.ok()) return dir.status();
    for (std::size_t i = 0; i + keep < files->size(); ++i) {
      Status s = replay::remove_and_sync_dir(dir->get(), opts.log_dir, (*files)[i].name);
      if (!s.ok()) return s;
    }
  }
  if (opts.snapshots.compact) {
    auto compacted = compact_log();
    if (!compacted.ok()) return compacted.status();
  }
  info.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return info;
}

Result<std::size_t> Registry::Impl::compact_log() {
  auto files = replay::list_snapshots(opts.log_dir);
  if (!files.ok()) return files.status();
  if (files->empty()) return std::size_t{0};
  // The oldest kept snapshot: a damaged newer one must still be able to fall back to it.
  const std::uint64_t covered = files->front().seq;
  std::vector<std::string> names;
  {
    std::lock_guard slot(write_slot);  // only to read the segment list
    names = log->compactable(covered);
  }
  // The files go without the writer's lock: appends and reads go on meanwhile.
  auto removed = replay::remove_segments(opts.log_dir, names, opts.snapshots.archive_dir);
  const std::size_t done = removed.ok() ? *removed : names.size();
  {
    std::lock_guard slot(write_slot);
    // On an error, some prefix was removed; forget only what is surely gone.
    std::size_t gone = 0;
    for (const std::string& name : names) {
      std::error_code ec;
      if (std::filesystem::exists(opts.log_dir + "/" + name, ec) || ec) break;
      ++gone;
    }
    log->forget_oldest(gone);
    segments_compacted.fetch_add(gone);
  }
  if (!removed.ok()) return removed.status();
  return done;
}

Result<SnapshotInfo> Registry::snapshot() {
  if (impl_->read_only || impl_->remote || !impl_->log) {
    return Status::unavailable("snapshot: only a hub's writer writes snapshots");
  }
  if (Status failed = impl_->failure(); !failed.ok()) return failed;
  return impl_->take_snapshot();
}

Result<std::size_t> Registry::compact() {
  if (impl_->read_only || impl_->remote || !impl_->log) {
    return Status::unavailable("compact: only a hub's writer compacts its log");
  }
  std::lock_guard one_at_a_time(impl_->snapshot_mu);
  return impl_->compact_log();
}

}  // namespace procreg
