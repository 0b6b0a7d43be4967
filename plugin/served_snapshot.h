// procreg::plugin internal: a snapshot the replay service serves in chunks (docs/PROTOCOL.md,
// "Snapshots"), read from a snapshot file or captured from the writer's projection.
//
// Thread safety: none; the replay service's thread owns each.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replay/snapshot.h"
#include "state/projection.h"

namespace procreg::plugin {

// A read-only mapping of a whole snapshot file. Snapshot files are written once (to a .tmp,
// then renamed) and never changed in place, so the bytes checked once stay as checked; a file
// removed meanwhile (retention) stays mapped until this is destroyed. (A file truncated or
// rewritten in place by something else than the writer is outside the log format's contract:
// reading a mapped page past a truncation raises SIGBUS. docs/LOG_FORMAT.md says so.)
class MappedFile {
 public:
  // Maps the file open as `fd` (the caller keeps it): nullptr if that fails.
  static std::shared_ptr<const MappedFile> map(int fd);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// A snapshot taken once and served in chunks.
// - Captured from the projection: copies of the rows (a row's body is shared by reference
//   count, so the capture holds the projection's lock for a pointer copy per row, not for an
//   encoding of the whole state); each chunk's rows are encoded when it is served.
// - Read from a snapshot file: the rows stay in the file, row i is
//   file[offsets[i], offsets[i + 1] - record header) (offsets[rows] is the end record's
//   payload), every record checked by SnapshotReader before the first row is served.
struct ServedSnapshot {
  struct Captured {
    std::uint32_t table;  // index in tables
    replay::StoredRow row;
  };
  std::uint64_t file_seq = 0;  // read from the snapshot file of this seq (0: captured)
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
  std::vector<std::string> tables;
  std::vector<Captured> captured;
  std::shared_ptr<const MappedFile> file;
  std::vector<std::size_t> offsets{0};
  std::chrono::steady_clock::time_point last_used;
  std::size_t rows() const { return file ? offsets.size() - 1 : captured.size(); }
  // Appends rows from `first` to `payload` (their bytes in *scratch for captured rows, which
  // must not be changed while the views are used) while fewer than max_rows are taken and,
  // after the first, the bytes taken stay below max_bytes. Returns the index after the last.
  std::size_t take(std::size_t first, std::size_t max_rows, std::size_t max_bytes,
                   std::string* scratch, std::vector<std::string_view>* payload) const;

  // The snapshot file `reader` has open (at `file_seq`), every record checked in one pass, its
  // rows then served from a mapping of the same open file (not of its path, which may name
  // another file by now), not copied into memory. Nothing if a record is damaged or the
  // mapping is not the file just checked.
  static std::optional<ServedSnapshot> from_file(replay::SnapshotReader& reader,
                                                 std::uint64_t file_seq);
  // The rows of `projection`, captured by reference (its lock held by the caller).
  static ServedSnapshot capture(const replay::Projection& projection);
};

}  // namespace procreg::plugin
