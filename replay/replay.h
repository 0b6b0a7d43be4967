// procreg::replay: rebuilding a projection from a log (the fold).
//
// Thread safety: replay_log owns its reader; the projection must not be shared meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "procreg/options.h"
#include "procreg/status.h"
#include "state/projection.h"

namespace procreg::replay {

struct ReplayStats {
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;               // payload bytes decoded
  std::uint64_t tail_bytes_ignored = 0;  // a torn tail the reader stopped at
};

// Applies the records of the log in `dir` that follow projection->last_seq(), up to and
// including `upto_seq` (0 = to the end). Every record's event must carry the log's hub and
// epoch and the record's sequence. Errors: the reader's (kNotFound, kCorruption), a decode
// error (with the sequence), or an apply error; the projection then holds every event before
// the failing one. Each segment is read with the record limit its header records, and each
// record decoded with the limits of its own length (events::record_limits); v1_max_record_bytes
// is the limit of segments of format version 1, which record none (LogReader::open).
// upto_time_ms: also stop before the first event whose writer time is later (a prefix of the
// log: an event written later with an earlier clock reading is not applied either).
// progress: called with the position just past the last record applied: its segment file's
// name, the byte offset where that record ends in the file (the bytes of the segment read so
// far), and its seq. Called once kProgressEvents events or kProgressBytes bytes of records
// were applied since the last call, whichever comes first, and after the last record applied:
// a log of few large records reports as it goes, and a replay to the log's end ends at the
// size of its last segment (less a torn tail).
inline constexpr std::uint64_t kProgressEvents = 4096;
inline constexpr std::uint64_t kProgressBytes = std::uint64_t{256} << 10;
using ReplayProgressFn =
    std::function<void(const std::string& segment, std::uint64_t offset, std::uint64_t seq)>;
Result<ReplayStats> replay_log(const std::string& dir, Projection* projection,
                               std::uint64_t upto_seq = 0,
                               std::uint32_t v1_max_record_bytes = LogOptions{}.max_record_bytes,
                               std::optional<std::int64_t> upto_time_ms = std::nullopt,
                               const ReplayProgressFn& progress = {});

}  // namespace procreg::replay
