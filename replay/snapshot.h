// procreg::replay: snapshot files, the projection at a sequence number, on disk.
//
// A snapshot lets a writer or a replay start from a recent state instead of the first event,
// and lets the log's older segments go. docs/LOG_FORMAT.md, "Snapshot files", is the reference;
// the layout, all integers little-endian:
//
// File name: "snapshot-" + the seq, zero-padded to 20 decimal digits, + ".snap", in the log
// directory. It is written as that name + ".tmp", fsynced, renamed, and the directory fsynced,
// so a snapshot file that exists under its final name is complete unless the disk damaged it.
//
// Header (14 + M bytes):
//   offset  size  field
//        0     4  magic "PRSN" (50 52 53 4E)
//        4     2  format version: 1
//        6     4  meta length M: 1 <= M <= 16 MiB
//       10     M  meta: a MessagePack map (SnapshotMeta's fields; see encode_meta)
//   10 + M     4  masked CRC-32C of bytes [0, 10 + M)
//
// Records, back to back after the header (9 + L bytes each):
//        0     4  masked CRC-32C of bytes [4, 9 + L)
//        4     4  payload length L
//        8     1  type: 2 = row (L >= 1, a SnapshotRow, events/snapshot_row.h), 3 = end
//        9     L  payload
// The end record's payload is 8 bytes, the number of row records; the file ends right after
// it. Rows come table by table, in the meta's table order.
//
// Masking is the log's (log/crc32c.h). A reader checks the header CRC, each record's CRC,
// the row count of each table and of the end record, and that nothing follows the end record:
// any failure is kCorruption naming the file and the byte offset, and the snapshot is not used.
//
// A snapshot needs no record limit from its writer: the file is complete when it is read, so a
// row's length is bounded by the bytes left in the file (and by the largest record a writer may
// append, kMaxRecordBytesCap, plus its table name and revision), and each row is decoded with
// the limits of its own length (events::record_limits).
//
// Thread safety: free functions and a reader used by one thread at a time. A snapshot file is
// never modified after its rename.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "procreg/options.h"
#include "procreg/status.h"
#include "state/projection.h"

namespace procreg::replay {

inline constexpr std::string_view kSnapshotMagic = "PRSN";
inline constexpr std::uint16_t kSnapshotVersion = 1;
inline constexpr std::size_t kSnapshotHeaderBytes = 10;  // before the meta
inline constexpr std::size_t kSnapshotRecordHeaderBytes = 9;
inline constexpr std::uint8_t kSnapshotRecordRow = 2;
inline constexpr std::uint8_t kSnapshotRecordEnd = 3;
inline constexpr std::uint32_t kMaxSnapshotMetaBytes = 16u << 20;

struct SnapshotTable {
  std::string name;
  std::uint64_t last_seq = 0;  // Table::last_seq: the seq of the table's last event
  std::uint64_t rows = 0;
  bool operator==(const SnapshotTable&) const = default;
};

// The meta map: "hub": str, "ep": uint epoch, "seq": uint, "t": int (the latest writer time of
// the events up to seq), "created": int (ms since the epoch, when the file was written),
// "reg" / "unreg": uint (the hook heads), "tables": [[str name, uint last_seq, uint rows]...],
// "rows": uint (all tables). Readers skip unknown keys.
struct SnapshotMeta {
  std::string hub;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::int64_t max_time_ms = 0;
  std::int64_t created_ms = 0;
  std::uint64_t registered_head = 0;
  std::uint64_t unregistered_head = 0;
  std::vector<SnapshotTable> tables;
  std::uint64_t rows = 0;
  bool operator==(const SnapshotMeta&) const = default;
};

struct SnapshotFile {
  std::string name;       // inside the log directory
  std::uint64_t seq = 0;  // as the name says
  std::uint64_t bytes = 0;
};

// "snapshot-%020llu.snap".
std::string snapshot_file_name(std::uint64_t seq);
// The seq a snapshot file name encodes, or nothing for any other name (temporary files too).
std::optional<std::uint64_t> parse_snapshot_file_name(std::string_view name);
// True for a snapshot's temporary file (a write that did not finish).
bool is_snapshot_temp_name(std::string_view name);
// The snapshot files in `dir`, by seq ascending (contents not read).
Result<std::vector<SnapshotFile>> list_snapshots(const std::string& dir);

// Removes the temporary files of snapshot writes that did not finish (a crash), durably.
Status remove_snapshot_temps(const std::string& dir);
// Whether a snapshot of the state at `snapshot_seq` is ahead of its log, whose last record is
// `log_last_seq` (docs/LOG_FORMAT.md section 12.3, rule 2): the log lost the events it was built
// from, after a power loss under Durability::kNone or with its last segment, and once the log
// grows past it again it would pass for the state at its seq. The writer removes such a file
// when it opens (remove_snapshots_after); every reader skips it (restore), and verify reports it
// as not usable.
bool snapshot_ahead_of_log(std::uint64_t snapshot_seq, std::uint64_t log_last_seq);
// Why such a snapshot is not used: "ahead of the log's last record N".
std::string ahead_of_log_reason(std::uint64_t log_last_seq);
// Removes, durably, the snapshot files ahead of the log whose last record is `last_seq`. Their
// names, ascending.
Result<std::vector<std::string>> remove_snapshots_after(const std::string& dir,
                                                        std::uint64_t last_seq);

// The meta's MessagePack bytes and back (kCorruption / kUnsupported naming "snapshot_meta.x").
std::string encode_meta(const SnapshotMeta& meta);
Result<SnapshotMeta> decode_meta(std::string_view bytes);

// Writes `projection` as a snapshot file in `dir` (temp, fsync, rename, fsync dir), replacing
// a file of the same seq. kInvalidArgument for a projection at seq 0 (nothing to keep);
// kIoError (the temporary file is removed). Returns the file's name, seq and size.
Result<SnapshotFile> write_snapshot(const std::string& dir, const Projection& projection,
                                    std::int64_t created_ms);

// Reads one snapshot file sequentially, checking everything on the way.
class SnapshotReader {
 public:
  // Opens `path` and checks its header and meta. A row length past the end of the file (or
  // over kMaxRecordBytesCap + 64 KiB) is corruption. Errors: kNotFound (no such file),
  // kUnsupported (a newer version), kCorruption.
  static Result<std::unique_ptr<SnapshotReader>> open(const std::string& path);
  ~SnapshotReader();
  const SnapshotMeta& meta() const;
  // The next row's SnapshotRow bytes into *payload (capacity reused): true; false once the end
  // record was read and checked against the meta and nothing follows it; or kCorruption.
  Result<bool> next(std::string* payload);
  // The file offset of the payload of the record next() read last: a row's after it returned
  // true, the end record's after it returned false. With next() having checked each record,
  // a caller may serve the rows from a mapping of the file instead of copying them.
  std::uint64_t payload_offset() const;
  // The open file's descriptor (owned by the reader): to map the very file whose records were
  // checked, whatever its path names by then.
  int fd() const;

 private:
  struct Impl;
  explicit SnapshotReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Replaces the projection's state by the snapshot at `path` (rows, table heads, hook heads),
// checking every byte first... as it goes: on any error the projection is left empty (at seq 0)
// and the error names the file. The snapshot's hub must be the projection's.
Result<SnapshotMeta> load_snapshot(const std::string& path, Projection* projection);

}  // namespace procreg::replay
