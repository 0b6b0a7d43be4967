#include "log/log_recovery.h"

#include <fcntl.h>

#include <optional>
#include <utility>

#include "log/file_util.h"
#include "log/segment_reader.h"

namespace procreg::replay {
namespace {

// A torn tail found in the last segment, cut only after the whole log checked out.
struct TornTail {
  std::string segment;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  bool whole_segment = false;  // the header itself is torn: the file goes
  bool zero_fill = false;      // only zeros: nothing written is lost
};

// Checks one segment and appends it to log->segments (updating log->report.last_seq), or, for
// a last segment with a torn header, only sets *torn.
Status scan_segment(const std::string& dir, const SegmentName& name, bool is_last,
                    const std::string& hub, std::uint32_t v1_max_record_bytes, RecoveredLog* log,
                    std::optional<TornTail>* torn) {
  auto segment = SegmentReader::open(dir, name.name, v1_max_record_bytes);
  if (!segment.ok()) return segment.status();
  std::uint64_t last = log->report.last_seq;
  SegmentHeader header;
  auto step = segment->read_header(last, &header);
  if (!step.ok()) return step.status();
  const bool first = log->segments.empty();
  if (*step == SegmentReader::Step::kTorn) {
    if (!is_last) return segment->torn_tail_corruption(last);
    if (!first) {
      Status s = check_torn_segment_name(*segment, name.first_seq, last + 1, last);
      if (!s.ok()) return s;
    }
    *torn = TornTail{name.name, 0, segment->torn_bytes(), true};
    return Status();
  }
  if (first && header.hub != hub) {
    return Status::invalid_argument("the log in " + dir + " belongs to hub '" + header.hub +
                                    "', not '" + hub + "'");
  }
  if (first) log->identity = header;
  Status s = check_segment_header(*segment, header, name.first_seq, log->identity,
                                  first ? 0 : last + 1, last);
  if (!s.ok()) return s;
  last = header.first_seq - 1;
  for (;;) {  // one record per pass, to the end of the segment
    step = segment->next(last + 1, nullptr);
    if (!step.ok()) return step.status();
    if (*step == SegmentReader::Step::kEnd) break;
    if (*step == SegmentReader::Step::kTorn) {
      if (!is_last) return segment->torn_tail_corruption(last);
      *torn = TornTail{name.name, segment->offset(), segment->torn_bytes(), false,
                       segment->zero_fill()};
      break;
    }
    ++last;
  }
  const std::uint64_t segment_last = last >= header.first_seq ? last : 0;
  log->segments.push_back({name.name, header.first_seq, segment_last, segment->offset()});
  log->report.last_seq = last;
  log->last = std::move(header);
  return Status();
}

Status cut_torn_tail(int dir_fd, const std::string& dir, const TornTail& torn,
                     RecoveryReport* report) {
  if (torn.whole_segment) {
    Status s = remove_and_sync_dir(dir_fd, dir, torn.segment);
    if (!s.ok()) return s;
  } else {
    const std::string path = dir + "/" + torn.segment;
    auto fd = open_file(path, O_WRONLY);
    if (!fd.ok()) return fd.status();
    Status s = truncate_and_sync(fd->get(), torn.offset, path);
    if (!s.ok()) return s;
  }
  if (torn.zero_fill) {
    report->zero_fill_segment = torn.segment;
    report->zero_fill_bytes_cut = torn.bytes;
    return Status();
  }
  report->truncated_tail = true;
  report->removed_tail_segment = torn.whole_segment;
  report->tail_segment = torn.segment;
  report->tail_offset = torn.offset;
  report->tail_bytes_dropped = torn.bytes;
  return Status();
}

}  // namespace

Result<RecoveredLog> recover_log(int dir_fd, const std::string& dir, const std::string& hub,
                                 std::uint32_t v1_max_record_bytes) {
  auto names = list_segments(dir);
  if (!names.ok()) return names.status();
  RecoveredLog log;
  std::optional<TornTail> torn;
  if (!names->empty() && names->front().first_seq > 0) {
    log.report.last_seq = names->front().first_seq - 1;
  }
  for (std::size_t i = 0; i < names->size(); ++i) {
    const bool is_last = i + 1 == names->size();
    Status s = scan_segment(dir, (*names)[i], is_last, hub, v1_max_record_bytes, &log, &torn);
    if (!s.ok()) return s;
  }
  if (torn) {
    Status s = cut_torn_tail(dir_fd, dir, *torn, &log.report);
    if (!s.ok()) return s;
  }
  if (log.segments.empty()) log.report.last_seq = 0;
  return log;
}

}  // namespace procreg::replay
