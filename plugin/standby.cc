// The standby (include/procreg/standby.h): copies a writer's log directory through the replay
// service's files and file requests (docs/PROTOCOL.md, "Copying the log").
#include "procreg/standby.h"

#include "plugin/standby_impl.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "log/file_util.h"
#include "log/log_format.h"
#include "log/segment_scan.h"
#include "plugin/replay_client.h"
#include "plugin/wire.h"
#include "plugin/zmq_util.h"
#include "replay/snapshot.h"

namespace procreg {

using standby_internal::kAnySeq;
using standby_internal::LocalSegment;

namespace {

constexpr std::string_view kTmpSuffix = ".tmp";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Whether every row of the snapshot file at `path` reads back whole.
Status check_snapshot_file(const std::string& path) {
  auto reader = replay::SnapshotReader::open(path);
  if (!reader.ok()) return reader.status();
  std::string row;
  for (;;) {
    auto more = (*reader)->next(&row);
    if (!more.ok()) return more.status();
    if (!*more) return Status();
  }
}

}  // namespace

// ---- the copy on disk -----------------------------------------------------------------------

Status Standby::Impl::open_copy() {
  if (Status s = replay::create_directories(options.dir); !s.ok()) return s;
  auto locked = replay::lock_directory(options.dir);
  if (!locked.ok()) {
    return Status::unavailable(options.dir + " is held by another standby or writer (" +
                               locked.status().message() + ")");
  }
  lock = std::move(*locked);
  auto removed = replay::remove_files(
      options.dir, [](std::string_view name) { return ends_with(name, kTmpSuffix); });
  if (!removed.ok()) return removed.status();
  if (Status s = check_segments(); !s.ok()) return s;
  // Unknown after a restart whether the writer held these on its disk: taken as if it did.
  writer_durable_seen = copied_seq_of_copy();
  return check_snapshots();
}

// Reads every segment of the copy with the log format's rules. The first torn or damaged
// one is cut at its last good record (removed if its header is not whole) and the segments
// after it are removed: the writer has them, and they are fetched again.
Status Standby::Impl::check_segments() {
  auto listed = replay::list_segments(options.dir);
  if (!listed.ok()) return listed.status();
  std::optional<replay::SegmentHeader> first;
  std::optional<std::uint64_t> prev_last;
  bool cut = false;
  for (const auto& seg : *listed) {
    if (cut) {
      if (Status s = replay::remove_and_sync_dir(lock.get(), options.dir, seg.name); !s.ok()) {
        return s;
      }
      continue;
    }
    auto scan = replay::SegmentScan::open(options.dir, seg.name);
    if (!scan.ok()) return scan.status();
    Status st = scan->advance(kAnySeq);
    if (st.code() == Code::kUnsupported || st.code() == Code::kIoError) return st;
    const auto& h = scan->header();
    const bool fits = h && h->first_seq == seg.first_seq && h->hub == options.hub &&
                      (!first || h->epoch == first->epoch) &&
                      (!prev_last || h->first_seq == *prev_last + 1);
    if (h && !first && h->hub != options.hub) {
      return Status::invalid_argument(options.dir + " holds a log of hub '" + h->hub + "', not '" +
                                      options.hub + "'");
    }
    auto fd = replay::open_file(path(seg.name), O_RDWR);
    if (!fd.ok()) return fd.status();
    const off_t file_size = ::lseek(fd->get(), 0, SEEK_END);
    if (!st.ok() || !fits || scan->torn() ||
        static_cast<std::uint64_t>(file_size) != scan->size()) {
      std::lock_guard l(mu);
      ++stats.repairs;
      cut = true;
      if (!fits || scan->size() == 0) {
        if (Status s = replay::remove_and_sync_dir(lock.get(), options.dir, seg.name); !s.ok()) {
          return s;
        }
        continue;
      }
      if (Status s = replay::truncate_and_sync(fd->get(), scan->size(), path(seg.name)); !s.ok()) {
        return s;
      }
    }
    if (!first) first = h;
    term = std::max(term, h->term);
    prev_last = scan->last_seq() != 0 ? scan->last_seq() : h->first_seq - 1;
    LocalSegment local{seg.first_seq, scan->size(), scan->last_seq(), std::nullopt};
    local.scan.emplace(std::move(*scan));
    segments.emplace(seg.name, std::move(local));
  }
  if (first) epoch = first->epoch;
  {
    // What the copy holds is known now, before any round: a copy whose writer is gone before
    // the first round ends can still be promoted.
    std::lock_guard l(mu);
    stats.term = term;
    stats.epoch = epoch;
  }
  return Status();
}

// A snapshot file of the copy that does not read back whole is removed (fetched again if the
// writer still has it).
Status Standby::Impl::check_snapshots() {
  auto snaps = replay::list_snapshots(options.dir);
  if (!snaps.ok()) return snaps.status();
  for (const auto& snap : *snaps) {
    Status s = check_snapshot_file(path(snap.name));
    if (s.ok() || s.code() == Code::kUnsupported) continue;
    {
      std::lock_guard l(mu);
      ++stats.repairs;
    }
    if (Status r = replay::remove_and_sync_dir(lock.get(), options.dir, snap.name); !r.ok()) {
      return r;
    }
  }
  return Status();
}

// ---- copying --------------------------------------------------------------------------------

Result<plugin::ReplayClient::Reply> Standby::Impl::fetch(const std::string& name,
                                                         std::uint64_t offset,
                                                         std::uint32_t max_bytes) {
  plugin::wire::ReplayRequest req;
  req.op = plugin::wire::ReplayOp::kFile;
  req.ahead = true;
  req.name = name;
  req.offset = offset;
  req.max_bytes = max_bytes != 0 ? max_bytes : options.chunk_bytes;
  auto reply = client.call(req);
  if (!reply.ok()) return reply.status();
  const auto& h = reply->header;
  const std::uint64_t got = h.count == 1 ? reply->payload[0].size() : 0;
  if (h.count > 1 || h.next_offset != offset + got || h.total < h.next_offset) {
    return Status::corruption("a file reply for " + name + " at offset " + std::to_string(offset) +
                              " does not add up");
  }
  return reply;
}

Result<zmq::message_t> Standby::Impl::next_chunk(const std::string& name, std::uint64_t offset) {
  if (prefetched && prefetched->name == name && prefetched->offset == offset) {
    zmq::message_t bytes = std::move(prefetched->bytes);
    prefetched.reset();
    return bytes;
  }
  auto reply = fetch(name, offset);
  if (!reply.ok()) return reply.status();
  if (reply->header.count == 0) return Status::corruption("an empty chunk of " + name);
  return std::move(reply->payload[0]);
}

Status Standby::Impl::copy_snapshot(const plugin::wire::LogFile& f) {
  const std::string tmp = path(f.name) + std::string(kTmpSuffix);
  {
    auto fd = replay::open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd.ok()) return fd.status();
    for (std::uint64_t off = 0; off < f.size;) {
      auto reply = fetch(f.name, off);
      if (!reply.ok()) return reply.status();
      if (reply->header.count == 0) return Status::corruption("an empty chunk of " + f.name);
      const auto& bytes = reply->payload[0];
      Status w =
          replay::write_fully(fd->get(), static_cast<const char*>(bytes.data()), bytes.size(), tmp);
      if (!w.ok()) return w;
      off = reply->header.next_offset;
    }
    if (Status s = replay::sync_data(fd->get(), tmp); !s.ok()) return s;
  }
  if (Status s = check_snapshot_file(tmp); !s.ok()) {
    ::unlink(tmp.c_str());
    std::lock_guard l(mu);
    ++stats.chunks_refused;
    return s;
  }
  if (::rename(tmp.c_str(), path(f.name).c_str()) != 0) {
    return replay::io_error("rename", tmp, errno);
  }
  if (Status s = replay::sync_all(lock.get(), options.dir); !s.ok()) return s;
  std::lock_guard l(mu);
  stats.bytes_copied += f.size;
  ++stats.files_completed;
  return Status();
}

// Copies the segment's bytes from the copy's size to the listed size; each chunk is scanned
// before the next is asked for, and the file is synced at the end.
Result<bool> Standby::Impl::copy_segment(const plugin::wire::LogFile& f) {
  auto [it, created] = segments.try_emplace(f.name);
  LocalSegment& local = it->second;
  if (created) local.first_seq = f.first;
  if (local.size == f.size) return false;
  auto fd = replay::open_file(path(f.name), O_WRONLY | O_CREAT | O_APPEND);
  if (!fd.ok()) return fd.status();
  if (!local.scan) {
    // A new scan reads what the copy holds first: `good` below must never fall under it for
    // want of a chunk (a failed request would otherwise cut the file to nothing).
    auto scan = replay::SegmentScan::open(options.dir, f.name);
    if (!scan.ok()) return scan.status();
    if (Status s = scan->advance(kAnySeq); !s.ok() && s.code() != Code::kCorruption) return s;
    local.scan.emplace(std::move(*scan));
  }
  const std::uint64_t before = local.size;
  std::uint64_t written = local.size;
  Status bad;
  while (written < f.size && bad.ok()) {
    auto chunk = next_chunk(f.name, written);
    if (!chunk.ok()) {
      bad = chunk.status();
      break;
    }
    const zmq::message_t& bytes = *chunk;
    bad = replay::write_fully(fd->get(), static_cast<const char*>(bytes.data()), bytes.size(),
                              path(f.name));
    written += bytes.size();
    if (!bad.ok()) break;
    bad = local.scan->advance(kAnySeq);
    const auto& h = local.scan->header();
    if (bad.ok() && h && (h->epoch != epoch || h->hub != options.hub || h->first_seq != f.first)) {
      bad = Status::corruption(f.name + ": its header names another log than the listing");
    }
  }
  // What counts is what the scan checked: whole records, up to the size the writer listed.
  const std::uint64_t good = std::min(local.scan->size(), f.size);
  if (bad.ok() && good != f.size) bad = Status::corruption(f.name + ": the copied bytes end torn");
  if (!bad.ok() && bad.code() == Code::kCorruption) {
    std::lock_guard l(mu);
    ++stats.chunks_refused;
  }
  // The scan may have read past `good` only if the writer's bytes disagree with its listing.
  local.last_seq = good == local.scan->size() ? local.scan->last_seq() : local.last_seq;
  if (written != good) {
    // Bytes that are not whole, checked records are cut off again (and the scan restarted).
    if (Status s = replay::truncate_and_sync(fd->get(), good, path(f.name)); !s.ok()) return s;
    local.scan.reset();
  }
  if (Status s = replay::sync_data(fd->get(), path(f.name)); !s.ok()) return s;
  if (created) {
    if (Status s = replay::sync_all(lock.get(), options.dir); !s.ok()) return s;
  }
  local.size = good;
  {
    std::lock_guard l(mu);
    stats.bytes_copied += good - before;
    if (f.sealed && good == f.size) ++stats.files_completed;
  }
  // Final: its figures suffice. (A writer before this build could list a segment sealed short
  // of its end; should it grow, a new scan reads the copy again first, above.)
  if (f.sealed && good == f.size) local.scan.reset();
  if (!bad.ok()) return bad;
  return good > before;
}

// Segments before the writer's first one and snapshot files it no longer lists were compacted
// away: removed here too, oldest first.
Status Standby::Impl::remove_unlisted(const std::vector<plugin::wire::LogFile>& files) {
  std::uint64_t first_listed = 0;
  std::vector<std::string> snapshots;
  for (const auto& f : files) {
    if (f.kind == plugin::wire::LogFileKind::kSnapshot) snapshots.push_back(f.name);
    if (f.kind == plugin::wire::LogFileKind::kSegment && first_listed == 0) first_listed = f.first;
  }
  std::size_t removed = 0;
  for (auto it = segments.begin(); it != segments.end() && it->second.first_seq < first_listed;) {
    if (Status s = replay::remove_and_sync_dir(lock.get(), options.dir, it->first); !s.ok()) {
      return s;
    }
    it = segments.erase(it);
    ++removed;
  }
  auto local_snaps = replay::list_snapshots(options.dir);
  if (!local_snaps.ok()) return local_snaps.status();
  for (const auto& snap : *local_snaps) {
    if (std::find(snapshots.begin(), snapshots.end(), snap.name) != snapshots.end()) continue;
    if (Status s = replay::remove_and_sync_dir(lock.get(), options.dir, snap.name); !s.ok()) {
      return s;
    }
    ++removed;
  }
  std::lock_guard l(mu);
  stats.files_removed += removed;
  return Status();
}

Result<bool> Standby::Impl::round() {
  plugin::wire::ReplayRequest req;
  req.op = plugin::wire::ReplayOp::kFiles;
  req.ahead = true;  // copy what the writer wrote: its fdatasync and ours overlap
  req.standby = options.name;
  // Only a copy checked against the writer's history (a round done: its epoch, its term, what it
  // shares with a newer term's history) may acknowledge what it holds.
  req.have = verified ? copied_seq_of_copy() : 0;
  req.have_incarnation = incarnation_at(req.have);
  req.wait_ms = static_cast<std::uint32_t>(
      std::min(options.poll_interval, options.request_timeout / 2).count());
  if (!segments.empty()) {
    // The listing may carry the newest segment's bytes from the copy's size on.
    req.name = segments.rbegin()->first;
    req.offset = segments.rbegin()->second.size;
    req.max_bytes = options.chunk_bytes;
  }
  prefetched.reset();
  auto reply = client.call(req);
  if (!reply.ok()) return reply.status();
  {
    std::lock_guard l(mu);
    answered = std::chrono::steady_clock::now();  // alive, whatever the checks below say
  }
  const auto& header = reply->header;
  // `total` listed files, then (a writer that carries them) one frame of bytes.
  const bool carried = !req.name.empty() && header.count == header.total + 1;
  if (header.count != header.total && !carried) {
    return Status::corruption("files reply: " + std::to_string(header.count) + " frames for " +
                              std::to_string(header.total) + " files");
  }
  std::vector<plugin::wire::LogFile> files;
  for (std::size_t i = 0; i < header.total; ++i) {
    auto f = plugin::wire::decode_log_file(plugin::view(reply->payload[i]));
    if (!f.ok()) return Status::corruption("files reply: " + f.status().message());
    files.push_back(std::move(*f));
  }
  if (carried) {
    zmq::message_t& bytes = reply->payload.back();
    if (bytes.size() == 0 || header.next_offset != req.offset + bytes.size()) {
      return Status::corruption("files reply: the bytes of " + req.name + " from offset " +
                                std::to_string(req.offset) + " do not add up");
    }
    prefetched = Prefetched{req.name, req.offset, std::move(bytes)};
  }
  if (epoch != 0 && header.epoch != epoch) {
    return diverged("the writer's log is epoch " + std::to_string(header.epoch) + ", the copy's " +
                    std::to_string(epoch) + ": a new history");
  }
  if (header.term != 0 && header.term < term) {
    // docs/PROTOCOL.md, "Terms and histories": a writer of an older term than one this copy
    // holds (or followed) was fenced by a promotion; its bytes are not the hub's history.
    return diverged("the writer is of term " + std::to_string(header.term) +
                    ", the copy has term " + std::to_string(term) + ": a fenced writer");
  }
  {
    // A promotion must take a term above every term this standby heard of, whether or not its
    // copy has followed that writer yet.
    std::lock_guard l(mu);
    stats.term = std::max(stats.term, header.term);
  }
  if (header.term > term && !segments.empty()) {
    if (Status s = follow_new_term(files); !s.ok()) return s;
  } else if (header.incarnation != writer_incarnation && !segments.empty()) {
    if (Status s = follow_restart(files); !s.ok()) return s;
  }
  writer_incarnation = header.incarnation;
  writer_durable_seen = std::max(writer_durable_seen, header.head);
  term = std::max(term, header.term);
  epoch = header.epoch;
  {
    std::lock_guard l(mu);
    ++stats.rounds;
    stats.epoch = epoch;
    stats.term = std::max(stats.term, term);
  }
  bool copied = false;
  std::uint64_t lag_bytes = 0;
  for (const auto& f : files) {
    if (f.kind != plugin::wire::LogFileKind::kSnapshot) continue;
    if (::access(path(f.name).c_str(), F_OK) == 0) continue;
    if (Status s = copy_snapshot(f); !s.ok()) return s;
    copied = true;
  }
  for (const auto& f : files) {
    if (f.kind != plugin::wire::LogFileKind::kSegment) continue;
    auto local = segments.find(f.name);
    const std::uint64_t have = local == segments.end() ? 0 : local->second.size;
    if (have > f.size) {
      return diverged("the copy holds " + std::to_string(have) + " bytes of " + f.name +
                      ", the writer only " + std::to_string(f.size) +
                      ": a history the writer no longer has");
    }
    if (local == segments.end() && !segments.empty() &&
        f.first < segments.begin()->second.first_seq) {
      continue;  // older than the copy's first segment: not copied backwards
    }
    auto got = copy_segment(f);
    if (!got.ok()) return got.status();
    copied = copied || *got;
    lag_bytes += f.size - segments[f.name].size;
  }
  std::uint64_t last_listed = 0;
  for (const auto& f : files) {
    if (f.kind == plugin::wire::LogFileKind::kSegment) last_listed = f.first;
  }
  for (const auto& entry : segments) {
    const std::string& name = entry.first;
    const bool listed = std::any_of(files.begin(), files.end(),
                                    [&](const plugin::wire::LogFile& f) { return f.name == name; });
    if (!listed && entry.second.first_seq > last_listed) {
      return diverged("the copy holds segment " + name + ", which the writer does not list");
    }
  }
  if (Status s = remove_unlisted(files); !s.ok()) return s;
  verified = true;
  publish(header.head, lag_bytes);
  return copied;
}

std::uint64_t Standby::Impl::copied_seq_of_copy() const {
  // The records held without a gap. A later segment says nothing of an earlier one: a listing
  // may show a segment sealed at the head it was made at, short of its last records, and the
  // next one already begun; until the rest is copied, the copy holds the first one's last only.
  std::uint64_t held = 0;
  bool first = true;
  for (const auto& [name, s] : segments) {
    if (!first && s.first_seq != held + 1) break;
    first = false;
    held = s.last_seq != 0 ? s.last_seq : s.first_seq - 1;
  }
  return held;
}

void Standby::Impl::publish(std::uint64_t head, std::uint64_t lag_bytes) {
  const std::uint64_t copied = copied_seq_of_copy();
  const std::uint64_t last_term = term_at(copied);
  std::lock_guard l(mu);
  stats.copied_seq = copied;
  stats.last_term = last_term;
  stats.head = head;
  stats.lag_events = head > copied ? head - copied : 0;
  stats.lag_bytes = lag_bytes;
  cv.notify_all();
}

void Standby::Impl::run() {
  for (;;) {
    const auto began = std::chrono::steady_clock::now();
    Result<bool> got = round();
    std::unique_lock l(mu);
    if (stopping) return;
    if (!got.ok() && got.status().code() == Code::kConflict) {
      failed = got.status();
      cv.notify_all();
      cv.wait(l, [&] { return stopping; });
      return;
    }
    if (!got.ok()) {
      ++stats.request_failures;
      verified = false;  // acknowledge nothing until a round checks the copy again
    }
    // More may be there already; and a listing that waited at the writer needs no pause.
    if (got.ok() && (*got || std::chrono::steady_clock::now() - began > options.poll_interval / 4))
      continue;
    cv.wait_for(l, options.poll_interval, [&] { return stopping; });
    if (stopping) return;
  }
}

// ---- the public side ------------------------------------------------------------------------

Result<std::unique_ptr<Standby>> Standby::start(zmq::context_t& context,
                                                const StandbyOptions& options) {
  if (options.hub.empty() || options.dir.empty() || options.replay_endpoint.empty()) {
    return Status::invalid_argument("a standby needs a hub, a directory and a replay endpoint");
  }
  if (options.chunk_bytes == 0 || options.chunk_bytes > plugin::wire::kMaxChunkBytes) {
    return Status::invalid_argument("chunk_bytes must be 1.." +
                                    std::to_string(plugin::wire::kMaxChunkBytes));
  }
  StandbyOptions o = options;
  if (o.name.empty()) {
    char host[256] = {};
    (void)::gethostname(host, sizeof host - 1);
    std::error_code ec;
    const auto dir = std::filesystem::absolute(o.dir, ec);
    o.name = std::string(host) + ":" + (ec ? o.dir : dir.string());
  }
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(context, o);
  } catch (const zmq::error_t& e) {
    return Status::unavailable("standby cannot connect " + options.replay_endpoint + ": " +
                               e.what());
  }
  if (Status s = impl->open_copy(); !s.ok()) return s;
  impl->publish(0, 0);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<Standby>(new Standby(std::move(impl)));
}

Standby::Standby(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Standby::~Standby() { stop(); }

void Standby::stop() {
  if (!impl_) return;
  {
    std::lock_guard l(impl_->mu);
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  impl_->cancelled = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->lock.reset();  // the directory is free for a writer (promotion) or another standby
}

std::uint64_t Standby::copied_seq() const {
  std::lock_guard l(impl_->mu);
  return impl_->stats.copied_seq;
}

Status Standby::wait_for(std::uint64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock l(impl_->mu);
  impl_->cv.wait_for(l, timeout,
                     [&] { return impl_->stats.copied_seq >= seq || !impl_->failed.ok(); });
  if (impl_->stats.copied_seq >= seq) return Status();
  if (!impl_->failed.ok()) return impl_->failed;
  return Status::timeout("the standby holds seq " + std::to_string(impl_->stats.copied_seq) +
                         ", not " + std::to_string(seq) + ", after " +
                         std::to_string(timeout.count()) + " ms");
}

Status Standby::status() const {
  std::lock_guard l(impl_->mu);
  return impl_->failed;
}

StandbyStats Standby::stats() const {
  std::lock_guard l(impl_->mu);
  StandbyStats s = impl_->stats;
  if (impl_->answered) {
    s.since_answer_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - *impl_->answered)
                            .count();
  }
  return s;
}

}  // namespace procreg
