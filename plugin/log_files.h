// procreg::plugin internal: the writer's log directory as a standby may copy it
// (docs/PROTOCOL.md, "Copying the log"): the replay service's `files` and `file` requests.
//
// A listing gives each snapshot file whole and each segment up to the last record durable on
// the writer's disk (a source made `ahead`: written to it), ending on a record boundary. Each
// segment not yet read to its end is followed by a SegmentScan kept between listings, so a listing
// costs the bytes appended since the last one, not the log's size; a sealed segment read to its end
// keeps only its figures.
//
// Thread safety: none; the replay service's thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "log/segment_scan.h"
#include "plugin/wire.h"
#include "procreg/registry.h"

namespace procreg::plugin {

class LogFileSource {
 public:
  LogFileSource(Registry& writer, bool ahead) : writer_(writer), ahead_(ahead) {}

  // How far this source lists: the writer's durable seq, or (ahead) its written one.
  std::uint64_t reach() const;

  // The snapshot files (oldest first), then the segments in seq order.
  Result<std::vector<wire::LogFile>> list();

  struct Chunk {
    wire::LogFile file;  // as listed now
    std::string bytes;   // from the offset asked, at most max_bytes, never past file.size
  };
  // Bytes of a file the listing names (nothing else: no path outside the log directory).
  // kNotFound for a name not listed (compacted, or never there); kInvalidArgument for an
  // offset past its size.
  Result<Chunk> read(const std::string& name, std::uint64_t offset, std::uint32_t max_bytes);
  // The same, of a file `f` as list() gave it just now (no second listing).
  Result<std::string> read_listed(const wire::LogFile& f, std::uint64_t offset,
                                  std::uint32_t max_bytes);

  // The incarnation that wrote record `seq` (docs/LOG_FORMAT.md section 3): this writer's from
  // its start seq to `head`; before that, its segment header's (read once, then kept: those
  // segments never change). 0 for seq 0, a seq above `head`, or one not known (a segment of
  // format version 1 or 2, or one compacted away before it was looked at).
  std::uint64_t incarnation_of(std::uint64_t seq, std::uint64_t head);

 private:
  Registry& writer_;
  const bool ahead_;
  bool older_loaded_ = false;
  std::map<std::uint64_t, std::uint64_t> older_;  // first_seq -> incarnation, before the start
  std::map<std::string, replay::SegmentScan> scans_;
  std::map<std::string, wire::LogFile> sealed_;
};

}  // namespace procreg::plugin
