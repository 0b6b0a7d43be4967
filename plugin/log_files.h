// procreg::plugin internal: the writer's log directory as a standby may copy it
// (docs/PROTOCOL.md, "Copying the log"): the replay service's `files` and `file` requests.
//
// A listing gives each snapshot file whole and each segment up to the last record durable on
// the writer's disk, ending on a record boundary. Each segment not yet read to its end is
// followed by a SegmentScan kept between listings, so a listing costs the bytes appended since
// the last one, not the log's size; a sealed segment read to its end keeps only its figures.
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
  explicit LogFileSource(Registry& writer) : writer_(writer) {}

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

 private:
  Registry& writer_;
  std::map<std::string, replay::SegmentScan> scans_;
  std::map<std::string, wire::LogFile> sealed_;
};

}  // namespace procreg::plugin
