#include "plugin/log_files.h"

#include <fcntl.h>

#include <algorithm>
#include <filesystem>

#include "log/file_util.h"
#include "log/log.h"
#include "log/segment_reader.h"
#include "registry/registry_access.h"
#include "replay/snapshot.h"

namespace procreg::plugin {

std::uint64_t LogFileSource::reach() const {
  return ahead_ ? replay::RegistryAccess::written_seq(writer_)
                : replay::RegistryAccess::local_durable_seq(writer_);
}

Result<std::vector<wire::LogFile>> LogFileSource::list() {
  const std::string dir = replay::RegistryAccess::log_dir(writer_);
  // Durable on this disk, or written to it (with synchronous replication, standbys copy ahead
  // of the applied head: the writer waits for them before it applies).
  const std::uint64_t head = reach();
  auto segments = replay::list_segments(dir);
  if (!segments.ok()) return segments.status();
  auto snapshot_files = replay::list_snapshots(dir);
  if (!snapshot_files.ok()) return snapshot_files.status();
  std::vector<wire::LogFile> out;
  for (const auto& snap : *snapshot_files) {
    out.push_back({snap.name, wire::LogFileKind::kSnapshot, snap.bytes, snap.seq, snap.seq, true});
  }
  std::map<std::string, replay::SegmentScan> still;
  std::map<std::string, wire::LogFile> still_sealed;
  for (std::size_t i = 0; i < segments->size(); ++i) {
    const std::string& name = (*segments)[i].name;
    const bool is_sealed = i + 1 < segments->size();
    if (auto done = sealed_.find(name); done != sealed_.end()) {
      out.push_back(done->second);
      still_sealed.insert(*done);
      continue;
    }
    auto it = scans_.find(name);
    if (it == scans_.end()) {
      auto opened =
          replay::SegmentScan::open(dir, name, replay::RegistryAccess::max_record_bytes(writer_));
      if (!opened.ok()) return opened.status();
      it = scans_.emplace(name, std::move(*opened)).first;
    }
    if (Status s = it->second.advance(head); !s.ok()) return s;
    // Sealed means no byte will be added: a segment with a successor whose scan stopped short of
    // its end (the head was read before a roll made the rest durable) is not sealed yet.
    std::error_code ec;
    const auto on_disk = std::filesystem::file_size(dir + "/" + name, ec);
    const bool whole = !ec && on_disk == it->second.size() && !it->second.torn();
    wire::LogFile f{name,
                    wire::LogFileKind::kSegment,
                    it->second.size(),
                    (*segments)[i].first_seq,
                    it->second.last_seq(),
                    is_sealed && whole};
    out.push_back(f);
    // A sealed segment read to its end (nothing torn, nothing above the head left) is final.
    if (f.sealed && it->second.header() && head > f.last) {
      still_sealed.emplace(name, f);
    } else {
      still.insert(scans_.extract(it));
    }
  }
  scans_.swap(still);
  sealed_.swap(still_sealed);
  return out;
}

Result<LogFileSource::Chunk> LogFileSource::read(const std::string& name, std::uint64_t offset,
                                                 std::uint32_t max_bytes) {
  auto listed = list();
  if (!listed.ok()) return listed.status();
  auto f = std::find_if(listed->begin(), listed->end(),
                        [&](const wire::LogFile& l) { return l.name == name; });
  if (f == listed->end()) {
    return Status::not_found("no log file '" + name +
                             "' (compacted, or never there): ask for files again");
  }
  auto bytes = read_listed(*f, offset, max_bytes);
  if (!bytes.ok()) return bytes.status();
  return Chunk{*f, std::move(*bytes)};
}

Result<std::string> LogFileSource::read_listed(const wire::LogFile& f, std::uint64_t offset,
                                               std::uint32_t max_bytes) {
  if (offset > f.size) {
    return Status::invalid_argument("offset " + std::to_string(offset) + " past the " +
                                    std::to_string(f.size) + " bytes of " + f.name +
                                    " that may be copied");
  }
  const std::uint64_t n = std::min<std::uint64_t>(max_bytes, f.size - offset);
  std::string bytes(n, '\0');
  const std::string path = replay::RegistryAccess::log_dir(writer_) + "/" + f.name;
  auto fd = replay::open_file(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  auto got = replay::read_fully_at(fd->get(), bytes.data(), n, offset, path);
  if (!got.ok()) return got.status();
  if (*got < n) {
    return Status::io_error(f.name + " ends at " + std::to_string(offset + *got) + ", before the " +
                            std::to_string(f.size) + " bytes listed");
  }
  return bytes;
}

std::uint64_t LogFileSource::incarnation_of(std::uint64_t seq, std::uint64_t head) {
  if (seq == 0 || seq > head) return 0;
  if (seq >= writer_.incarnation_start_seq()) return writer_.incarnation();
  if (!older_loaded_) {
    const std::string dir = replay::RegistryAccess::log_dir(writer_);
    auto segments = replay::list_segments(dir);
    if (!segments.ok()) return 0;  // asked again next time
    older_loaded_ = true;
    for (const auto& s : *segments) {
      if (s.first_seq >= writer_.incarnation_start_seq()) break;
      // An unreadable header is unknown (0), never taken for its predecessor's.
      auto header = replay::read_segment_header(dir, s.name);
      older_[s.first_seq] = header.ok() ? header->incarnation : 0;
    }
  }
  auto it = older_.upper_bound(seq);
  if (it == older_.begin()) return 0;
  return std::prev(it)->second;
}

}  // namespace procreg::plugin
