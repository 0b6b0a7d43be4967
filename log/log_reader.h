// procreg::replay: reading a log directory (docs/LOG_FORMAT.md) in sequence order.
//
// Thread safety: LogReader instances are independent of the Log and of each other; each is
// used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "log/log_types.h"
#include "procreg/options.h"
#include "procreg/status.h"

namespace procreg::replay {

// Reads a log directory in sequence order, without modifying it (safe on a live log: it stops
// at the last complete record it sees, and a later next() picks up records appended since,
// across segment rolls).
class LogReader {
 public:
  // Fails with kNotFound if `dir` holds no segment, kCompacted if the log's first record comes
  // after from_seq (that history was compacted away); kInvalidArgument if from_seq is 0. Each
  // segment is read with the record limit its header records (a longer payload is corruption).
  // Segments of format version 1 record none: they are read with v1_max_record_bytes (1 to
  // 1 GiB, else kInvalidArgument), so pass the writer's limit only for such an old log written
  // with a limit other than the default.
  static Result<std::unique_ptr<LogReader>> open(
      const std::string& dir, std::uint64_t from_seq = 1,
      std::uint32_t v1_max_record_bytes = LogOptions{}.max_record_bytes);
  ~LogReader();
  std::uint64_t epoch() const;
  const std::string& hub() const;

  // Reads the next record with seq >= from_seq into *out (its payload's capacity is reused).
  // Returns true for a record, false at the clean end of the log (including a torn tail, which
  // is reported by tail_bytes_ignored()), or an error: kCorruption with segment name, offset
  // and the last good sequence, kUnsupported, kIoError. After an error, every later call
  // returns it again.
  Result<bool> next(LogRecord* out);
  // The torn tail's size at the last clean end next() reported (0 if it ended on a record).
  std::uint64_t tail_bytes_ignored() const;

 private:
  struct Impl;
  explicit LogReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace procreg::replay
