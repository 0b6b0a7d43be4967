// The standby (include/procreg/standby.h): copies a writer's log directory through the replay
// service's files and file requests (docs/PROTOCOL.md, "Copying the log").
#include "procreg/standby.h"

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

namespace {

constexpr std::uint64_t kAnySeq = std::numeric_limits<std::uint64_t>::max();
constexpr std::string_view kTmpSuffix = ".tmp";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A segment of the copy: its checked size, and a scan while it may still grow.
struct LocalSegment {
  std::uint64_t first_seq = 0;
  std::uint64_t size = 0;      // checked and synced
  std::uint64_t last_seq = 0;  // 0: no record
  std::optional<replay::SegmentScan> scan;
};

// The header of the segment file at `path`, as its bytes (its header_len field says how many).
Result<std::string> header_bytes(const std::string& path) {
  auto fd = replay::open_file(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  std::string bytes(replay::kHeaderLengthOffset + 2, '\0');
  auto got = replay::read_fully_at(fd->get(), bytes.data(), bytes.size(), 0, path);
  if (!got.ok()) return got.status();
  if (*got < bytes.size()) return std::string();
  bytes.resize(replay::get_u16(bytes.data() + replay::kHeaderLengthOffset));
  got = replay::read_fully_at(fd->get(), bytes.data(), bytes.size(), 0, path);
  if (!got.ok()) return got.status();
  bytes.resize(*got);
  return bytes;
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

struct Standby::Impl {
  StandbyOptions options;
  plugin::ReplayClient client;
  replay::UniqueFd lock;
  std::map<std::string, LocalSegment> segments;  // by name: sequence order
  std::uint64_t epoch = 0;                       // the copy's (0: no segment yet)
  std::uint64_t term = 0;  // the highest term in the copy, or of a writer it copied from
  bool verified = false;   // a round compared the copy with the writer's history
  std::atomic<bool> cancelled{false};  // set by stop(): requests in flight end at once

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  StandbyStats stats;
  std::optional<std::chrono::steady_clock::time_point> answered;  // the last listing's answer
  Status failed;                                                  // not ok: stopped copying
  bool stopping = false;
  std::thread thread;

  Impl(zmq::context_t& context, const StandbyOptions& o)
      : options(o),
        // A files reply carries a frame per file: the most a reply may carry.
        client(context, o.replay_endpoint, o.hub, o.request_timeout, plugin::wire::kMaxChunkItems,
               o.curve) {
    client.set_cancel(&cancelled);  // stop() need not wait out a request to a dead writer
  }

  Status open_copy();
  Status check_segments();
  Status check_snapshots();
  void run();
  // One listing and the copying it calls for; whether anything was copied.
  Result<bool> round();
  Status copy_snapshot(const plugin::wire::LogFile& f);
  Result<bool> copy_segment(const plugin::wire::LogFile& f);
  Status remove_unlisted(const std::vector<plugin::wire::LogFile>& files);
  Result<plugin::ReplayClient::Reply> fetch(const std::string& name, std::uint64_t offset,
                                            std::uint32_t max_bytes = 0);
  // The writer is of a newer term than the copy: keep what the copy shares with its history.
  Status follow_new_term(const std::vector<plugin::wire::LogFile>& files);
  // The incarnation that wrote record `seq` of the copy (0: none, or not known).
  std::uint64_t incarnation_at(std::uint64_t seq) const;
  // Cuts the copy's segment `name` back to `size` bytes (a record boundary), synced.
  Status cut_back(LocalSegment& local, const std::string& name, std::uint64_t size);
  // Drops the copy's segment `it` (its file too); returns the next.
  Result<std::map<std::string, LocalSegment>::iterator> drop(
      std::map<std::string, LocalSegment>::iterator it);
  std::uint64_t copied_seq_of_copy() const;  // on the standby's thread
  void publish(std::uint64_t head, std::uint64_t lag_bytes);
  std::string path(const std::string& name) const { return options.dir + "/" + name; }
  static Status diverged(const std::string& why) {
    return Status::conflict(why + "; the copy is kept as it is");
  }
};

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
    std::lock_guard l(mu);
    stats.term = term;
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
    auto reply = fetch(f.name, written);
    if (!reply.ok()) {
      bad = reply.status();
      break;
    }
    if (reply->header.count == 0) {
      bad = Status::corruption("an empty chunk of " + f.name);
      break;
    }
    const auto& bytes = reply->payload[0];
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

Result<std::map<std::string, LocalSegment>::iterator> Standby::Impl::drop(
    std::map<std::string, LocalSegment>::iterator it) {
  if (Status s = replay::remove_and_sync_dir(lock.get(), options.dir, it->first); !s.ok()) {
    return s;
  }
  {
    std::lock_guard l(mu);
    ++stats.files_removed;
  }
  return segments.erase(it);
}

// docs/PROTOCOL.md, "Terms and histories": a writer of a newer term continues the history of the
// copy it was promoted from. This copy keeps the segments it shares with that history: the same
// header (the same incarnation wrote them), cut back to the listed size if longer. From the
// first segment whose header differs, or that the writer does not list, the rest is another
// history: the old writer's records after what the promoted copy held, which with
// sync_standbys no client saw acknowledged. They are removed, and copied anew from the writer.
Status Standby::Impl::follow_new_term(const std::vector<plugin::wire::LogFile>& files) {
  verified = false;
  std::uint64_t first_listed = 0;
  for (const auto& f : files) {
    if (f.kind == plugin::wire::LogFileKind::kSegment && first_listed == 0) first_listed = f.first;
  }
  // 1. What to keep, asked of the writer before anything changes: the shared segments, the
  //    last of them perhaps cut back. Everything from first_dropped on is another history.
  std::optional<std::string> first_dropped;
  std::optional<std::uint64_t> cut_to;
  std::string cut_name;
  for (auto it = segments.begin(); it != segments.end(); ++it) {
    if (it->second.first_seq < first_listed) continue;  // compacted at the writer
    auto f = std::find_if(files.begin(), files.end(),
                          [&](const plugin::wire::LogFile& l) { return l.name == it->first; });
    bool same = f != files.end();
    if (same) {
      auto mine = header_bytes(path(it->first));
      if (!mine.ok()) return mine.status();
      auto theirs = fetch(it->first, 0, static_cast<std::uint32_t>(mine->size()));
      if (!theirs.ok() && theirs.status().code() != Code::kCorruption) return theirs.status();
      same = theirs.ok() && theirs->header.count == 1 && plugin::view(theirs->payload[0]) == *mine;
    }
    if (!same) {
      first_dropped = it->first;
      break;
    }
    if (it->second.size > f->size) {  // records past the writer's: the rest is another history
      cut_to = f->size;
      cut_name = it->first;
      if (auto next = std::next(it); next != segments.end()) first_dropped = next->first;
      break;
    }
  }
  // 2. Remove the newest first, so that a stop in between leaves a log without a gap; then
  //    cut back. Snapshot files go too: one of another history may carry a name the writer's
  //    will (the writer's are copied again).
  while (first_dropped && !segments.empty() && segments.rbegin()->first >= *first_dropped) {
    auto dropped = drop(std::prev(segments.end()));
    if (!dropped.ok()) return dropped.status();
  }
  if (cut_to) {
    if (Status s = cut_back(segments.at(cut_name), cut_name, *cut_to); !s.ok()) return s;
  }
  auto snaps = replay::list_snapshots(options.dir);
  if (!snaps.ok()) return snaps.status();
  for (const auto& snap : *snaps) {
    if (Status s = replay::remove_and_sync_dir(lock.get(), options.dir, snap.name); !s.ok()) {
      return s;
    }
  }
  return Status();
}

std::uint64_t Standby::Impl::incarnation_at(std::uint64_t seq) const {
  if (seq == 0) return 0;
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    if (it->second.first_seq > seq) continue;
    if (it->second.scan && it->second.scan->header()) return it->second.scan->header()->incarnation;
    auto header = replay::read_segment_header(options.dir, it->first);
    return header.ok() ? header->incarnation : 0;
  }
  return 0;
}

Status Standby::Impl::cut_back(LocalSegment& local, const std::string& name, std::uint64_t size) {
  auto fd = replay::open_file(path(name), O_RDWR);
  if (!fd.ok()) return fd.status();
  if (Status s = replay::truncate_and_sync(fd->get(), size, path(name)); !s.ok()) return s;
  auto scan = replay::SegmentScan::open(options.dir, name);
  if (!scan.ok()) return scan.status();
  if (Status s = scan->advance(kAnySeq); !s.ok()) return s;
  local.size = scan->size();
  local.last_seq = scan->last_seq();
  local.scan.emplace(std::move(*scan));
  return Status();
}

Result<bool> Standby::Impl::round() {
  plugin::wire::ReplayRequest req;
  req.op = plugin::wire::ReplayOp::kFiles;
  req.standby = options.name;
  // Only a copy checked against the writer's history (a round done: its epoch, its term, what it
  // shares with a newer term's history) may acknowledge what it holds.
  req.have = verified ? copied_seq_of_copy() : 0;
  req.have_incarnation = incarnation_at(req.have);
  req.wait_ms = static_cast<std::uint32_t>(
      std::min(options.poll_interval, options.request_timeout / 2).count());
  auto reply = client.call(req);
  if (!reply.ok()) return reply.status();
  {
    std::lock_guard l(mu);
    answered = std::chrono::steady_clock::now();  // alive, whatever the checks below say
  }
  const auto& header = reply->header;
  std::vector<plugin::wire::LogFile> files;
  for (const auto& frame : reply->payload) {
    auto f = plugin::wire::decode_log_file(plugin::view(frame));
    if (!f.ok()) return Status::corruption("files reply: " + f.status().message());
    files.push_back(std::move(*f));
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
  if (header.term > term && !segments.empty()) {
    if (Status s = follow_new_term(files); !s.ok()) return s;
  }
  term = std::max(term, header.term);
  epoch = header.epoch;
  {
    std::lock_guard l(mu);
    ++stats.rounds;
    stats.epoch = epoch;
    stats.term = term;
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
  std::lock_guard l(mu);
  stats.copied_seq = copied;
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
