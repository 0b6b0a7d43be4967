// procreg::replay: one segment file open for appending.
//
// The Log's writer creates, appends to and truncates a SegmentWriter; the group-commit thread
// holds a shared_ptr to it and may call sync() at the same time as append() (fdatasync and
// write on one descriptor are safe together). Sharing ownership is what keeps the descriptor
// open while such a sync runs, even after the writer has rolled to the next segment.
//
// Thread safety: sync(), name() and path() from any thread; everything else from the writer.
#pragma once

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
  // leaves the old header or the new one, never neither.
  static Result<std::shared_ptr<SegmentWriter>> create(int dir_fd, const std::string& dir,
                                                       const SegmentHeader& header,
                                                       bool replace = false);
  // Opens the existing segment dir/name, whose bytes are all valid, to append after them.
  static Result<std::shared_ptr<SegmentWriter>> open(const std::string& dir,
                                                     const std::string& name);

  // Writes data[0, n) at the end of the file. On failure the file is cut back to its previous
  // size (if that fails too, the error says so) and kIoError is returned; *cut_back (if given)
  // then says whether the cut succeeded, so that the file is exactly as before the call.
  Status append(const char* data, std::size_t n, bool* cut_back = nullptr);
  // Cuts the file back to `size` bytes (size <= this->size()) and fsyncs it.
  Status truncate(std::uint64_t size);
  // fdatasync: everything appended before the call is durable when it returns ok.
  Status sync() const;

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }

  // Use create() or open(); public for std::make_shared.
  SegmentWriter(UniqueFd fd, std::string path, std::string name, std::uint64_t size);

 private:
  const UniqueFd fd_;
  const std::string path_;
  const std::string name_;
  std::uint64_t size_;  // writer only
};

}  // namespace procreg::replay
