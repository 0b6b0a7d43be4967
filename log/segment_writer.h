// procreg::replay: one segment file open for appending.
//
// The Log's writer creates, appends to and truncates a SegmentWriter; the group-commit thread
// holds a shared_ptr to it and may call sync() at the same time as append() (fdatasync and
// write on one descriptor are safe together). Sharing ownership is what keeps the descriptor
// open while such a sync runs, even after the writer has rolled to the next segment.
//
// Zero fill (docs/LOG_FORMAT.md, sections 5 and 7.3). A segment whose header has a nonzero
// unsynced_limit is kept filled with zeros ahead of its records, and records are written over
// those zeros: a block that was written and synced before costs an fdatasync no metadata, so
// a sync of new records is about half as long as one that also grows the file (measured in
// docs/PERFORMANCE.md). The writer keeps at most unsynced_limit bytes written past the last
// completed sync (must_sync_before), which is what lets a reader tell an unfinished write from
// damage. seal() cuts the zeros off again: only the last segment holds any.
//
// Thread safety: sync(), name() and path() from any thread; everything else from the writer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "log/file_util.h"
#include "log/log_format.h"
#include "procreg/status.h"

namespace procreg::replay {

class SegmentWriter {
 public:
  // Creates dir/segment_file_name(header.first_seq), which must not exist, writes the header,
  // fdatasyncs the file and fsyncs the directory (dir_fd), so the new segment survives a crash
  // before its first record is appended. On failure the file is removed again (best effort).
  // With `replace`, the segment may exist (it must hold no record): the new header is written
  // to "<name>.tmp" (kSegmentTempSuffix), fdatasynced and renamed over it, so that a crash
  // leaves the old header or the new one, never neither. With header.unsynced_limit > 0 the
  // file is kept `zero_fill` bytes (at least one) ahead of the records with zeros.
  static Result<std::shared_ptr<SegmentWriter>> create(int dir_fd, const std::string& dir,
                                                       const SegmentHeader& header,
                                                       bool replace = false,
                                                       std::uint64_t zero_fill = 0);
  // Opens the existing segment dir/name, whose bytes are all valid, to append after them
  // (without zero fill).
  static Result<std::shared_ptr<SegmentWriter>> open(const std::string& dir,
                                                     const std::string& name);

  // Writes data[0, n) after the records (over the zero fill), then, when less than half of
  // zero_fill is left after them, extends the zero fill (a failure there is ignored: the
  // records then grow the file). On failure the file is cut back to the records before the call (if
  // that fails too, the error says so) and kIoError is returned; *cut_back (if given) then says
  // whether the cut succeeded, so that the records are exactly as before the call.
  Status append(const char* data, std::size_t n, bool* cut_back = nullptr);
  // Whether appending n bytes now would leave more than the header's unsynced_limit bytes
  // written past the last completed sync: the caller must sync() first.
  bool must_sync_before(std::size_t n) const;
  // Cuts the file back to `size` bytes (size <= this->size(), zero fill included) and fsyncs it.
  Status truncate(std::uint64_t size);
  // Makes the segment end at its last record on disk: cuts the zero fill off (if any) and
  // fdatasyncs. Before a roll and at close.
  Status seal();
  // fdatasync: everything appended before the call is durable when it returns ok.
  Status sync() const;

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  // The end of the records (the file may be longer: its zero fill).
  std::uint64_t size() const { return size_; }

  // Use create() or open(); public for std::make_shared.
  SegmentWriter(UniqueFd fd, std::string path, std::string name, std::uint64_t size,
                std::uint64_t zero_fill, std::uint32_t unsynced_limit);

 private:
  // Writes zeros from filled_ until the file is at least `end` bytes plus zero_fill_ long (in
  // whole pages). On failure the zeros written stay: zeros after the records are harmless.
  Status extend_fill(std::uint64_t end);

  const UniqueFd fd_;
  const std::string path_;
  const std::string name_;
  const std::uint64_t zero_fill_;              // 0: the file ends at the records
  const std::uint32_t unsynced_limit_;         // the header's
  std::uint64_t size_;                         // writer only: the end of the records
  std::uint64_t filled_;                       // writer only: the file's size
  std::atomic<std::uint64_t> written_;         // size_, for sync() on another thread
  mutable std::atomic<std::uint64_t> synced_;  // what the last completed sync covered
};

}  // namespace procreg::replay
