// The standby's side of terms (docs/PROTOCOL.md, "Terms and histories"): a copy made under
// an older writer keeps what it shares with a newer writer's history and drops the rest.
#include <fcntl.h>

#include <algorithm>

#include "log/file_util.h"
#include "log/log_format.h"
#include "log/segment_reader.h"
#include "plugin/standby_impl.h"
#include "plugin/zmq_util.h"
#include "replay/snapshot.h"

namespace procreg {

using standby_internal::kAnySeq;
using standby_internal::LocalSegment;

namespace {

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

// The first seq of the oldest segment the writer lists (0: none).
std::uint64_t first_listed_seq(const std::vector<plugin::wire::LogFile>& files) {
  for (const auto& f : files) {
    if (f.kind == plugin::wire::LogFileKind::kSegment) return f.first;
  }
  return 0;
}

}  // namespace

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
  const std::uint64_t first_listed = first_listed_seq(files);
  // 1. What to keep, asked of the writer before anything changes: the shared segments, the
  //    last of them perhaps cut back. Everything from first_dropped on is another history.
  std::optional<std::string> first_dropped;
  std::optional<std::uint64_t> cut_to;
  std::string cut_name;
  for (auto it = segments.begin(); it != segments.end(); ++it) {
    if (it->second.first_seq < first_listed) continue;  // compacted at the writer
    auto f = listed_as_copied(it->first, files);
    if (!f.ok()) return f.status();
    if (*f == nullptr) {
      first_dropped = it->first;
      break;
    }
    if (it->second.size > (*f)->size) {  // records past the writer's: the rest is another history
      cut_to = (*f)->size;
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

Result<const plugin::wire::LogFile*> Standby::Impl::listed_as_copied(
    const std::string& name, const std::vector<plugin::wire::LogFile>& files) {
  auto f = std::find_if(files.begin(), files.end(), [&](const plugin::wire::LogFile& l) {
    return l.kind == plugin::wire::LogFileKind::kSegment && l.name == name;
  });
  if (f == files.end()) return nullptr;
  auto mine = header_bytes(path(name));
  if (!mine.ok()) return mine.status();
  if (mine->empty()) return nullptr;
  auto theirs = fetch(name, 0, static_cast<std::uint32_t>(mine->size()));
  if (!theirs.ok() && theirs.status().code() != Code::kCorruption &&
      theirs.status().code() != Code::kNotFound) {
    return theirs.status();
  }
  const bool same =
      theirs.ok() && theirs->header.count == 1 && plugin::view(theirs->payload[0]) == *mine;
  return same ? &*f : nullptr;
}

// docs/PROTOCOL.md, "Copying ahead": the copy may hold records its writer had written but not
// yet made durable. A writer restarted after a crash no longer has them; it acknowledged none
// of them (a writer acknowledges only what its disk holds), so they are cut off: from the
// newest segment back, a segment the writer does not list, or lists with another header (its
// new incarnation's, under the same name), goes whole; one it lists shorter is cut back to the
// listed size. Only records above the highest seq the writer ever said its disk held are cut;
// anything else is left for round() to refuse as another history.
Status Standby::Impl::follow_restart(const std::vector<plugin::wire::LogFile>& files) {
  const std::uint64_t first_listed = first_listed_seq(files);
  bool cut = false;
  while (!segments.empty()) {
    auto it = std::prev(segments.end());
    LocalSegment& local = it->second;
    if (local.first_seq < first_listed) break;  // compacted at the writer: round() removes it
    auto listed = listed_as_copied(it->first, files);
    if (!listed.ok()) return listed.status();
    const plugin::wire::LogFile* f = *listed;
    if (f == nullptr) {
      if (local.first_seq <= writer_durable_seen) break;
      auto dropped = drop(it);
      if (!dropped.ok()) return dropped.status();
      cut = true;
      continue;
    }
    const std::uint64_t kept = f->last != 0 ? f->last : f->first - 1;
    if (local.size > f->size && kept >= writer_durable_seen) {
      if (Status s = cut_back(local, it->first, f->size); !s.ok()) return s;
      cut = true;
    }
    break;
  }
  if (cut) {
    std::lock_guard l(mu);
    ++stats.unsynced_cut;
  }
  return Status();
}

std::uint64_t Standby::Impl::incarnation_at(std::uint64_t seq) const {
  const auto header = header_at(seq);
  return header ? header->incarnation : 0;
}

std::uint64_t Standby::Impl::term_at(std::uint64_t seq) const {
  const auto header = header_at(seq);
  return header ? header->term : 0;
}

std::optional<replay::SegmentHeader> Standby::Impl::header_at(std::uint64_t seq) const {
  if (seq == 0) return std::nullopt;
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    if (it->second.first_seq > seq) continue;
    if (it->second.scan && it->second.scan->header()) return *it->second.scan->header();
    auto header = replay::read_segment_header(options.dir, it->first);
    if (!header.ok()) return std::nullopt;
    return *header;
  }
  return std::nullopt;
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

}  // namespace procreg
