// procreg::replay: how much of a segment file, read as it grows, is checked records.
//
// SegmentScan follows one segment with a SegmentReader (so its bytes are judged by every rule
// of docs/LOG_FORMAT.md, section 7) and remembers where the checked part ends: the header and
// the records up to last_seq(). advance() reads on from there, up to a sequence bound or to
// what the file holds, so following a segment that is appended to costs only the new bytes.
//
// The replay service uses it to say how many bytes of each segment hold committed records (a
// copy may take those), and a standby to check the bytes it copied before it counts them.
//
// Thread safety: one thread at a time; independent instances share nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "log/log_format.h"
#include "log/segment_reader.h"
#include "procreg/status.h"

namespace procreg::replay {

class SegmentScan {
 public:
  // Opens dir/name (see SegmentReader::open). Reads nothing yet.
  static Result<SegmentScan> open(const std::string& dir, const std::string& name,
                                  std::uint32_t v1_max_record_bytes = kDefaultMaxRecordBytes);

  // Reads on while the next record's seq is at most `up_to_seq` and the file holds it whole.
  // Stops, ok, at the end of the file or at a torn tail (a record still being written, or cut
  // off): a later call reads on from the same place. Damage is kCorruption (the file, the byte
  // offset, the last good seq), an unknown header version kUnsupported; after an error the
  // scan stays where it was.
  Status advance(std::uint64_t up_to_seq);

  // The header, once advance() read it.
  const std::optional<SegmentHeader>& header() const { return header_; }
  // Bytes [0, size()) are the header and the records up to last_seq(), all checked: 0 before
  // the header was read whole.
  std::uint64_t size() const { return size_; }
  std::uint64_t last_seq() const { return last_seq_; }  // 0: no record yet
  // Whether advance() stopped at a torn tail (bytes after size() that are not a whole record
  // yet) rather than at the end of the file.
  bool torn() const { return torn_; }

 private:
  explicit SegmentScan(SegmentReader reader) : reader_(std::move(reader)) {}

  SegmentReader reader_;
  std::optional<SegmentHeader> header_;
  std::uint64_t size_ = 0;
  std::uint64_t last_seq_ = 0;
  bool torn_ = false;
};

}  // namespace procreg::replay
