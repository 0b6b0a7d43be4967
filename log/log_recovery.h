// procreg::replay: the recovery Log::open runs on an existing log directory.
//
// recover_log() reads every segment in order through SegmentReader and checks the whole log:
// each header, each record, that all segments share the first segment's epoch and hub, and
// that each segment starts right after the previous one ends. Only when all of that holds
// does it modify anything, and only to remove a torn tail of the last segment: a cut record or
// trailing zero bytes are truncated away (ftruncate + fsync); a last segment whose header is
// cut short holds no record and is deleted (unlink + fsync of the directory). Any other damage
// is kCorruption, returned before a byte is changed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "log/log_format.h"
#include "log/log_types.h"
#include "procreg/status.h"

namespace procreg::replay {

struct RecoveredLog {
  SegmentHeader identity;             // epoch and hub (first_seq: of the first segment)
  SegmentHeader last;                 // the header of the last segment in `segments`
  std::vector<SegmentInfo> segments;  // what remains, in order; empty: the directory holds no log
  RecoveryReport report;              // last_seq and the torn tail, if one was cut
};

// Recovers the log in `dir`. `hub` must be the hub recorded in the log (else kInvalidArgument).
// A payload over its segment's max_record_bytes (the header's; v1_max_record_bytes for a
// segment of format version 1) is corruption. Precondition: the caller holds the directory's
// lock; dir_fd is the directory, for fsync.
Result<RecoveredLog> recover_log(int dir_fd, const std::string& dir, const std::string& hub,
                                 std::uint32_t v1_max_record_bytes);

}  // namespace procreg::replay
