// LogReader: sequential, read-only replay of a log directory, following a live log.
#include <algorithm>
#include <optional>
#include <utility>

#include "log/log_format.h"
#include "log/log_reader.h"
#include "log/segment_reader.h"

namespace procreg::replay {

struct LogReader::Impl {
  std::string dir;
  std::uint32_t v1_max_record_bytes = 0;
  std::uint64_t from_seq = 1;
  SegmentHeader identity;  // the log's first segment's header
  std::optional<SegmentReader> segment;
  std::uint64_t segment_seq = 0;  // the first seq its file name says
  bool header_read = false;
  // A later segment exists, so this one is complete: its end must be a record boundary.
  std::optional<SegmentName> following;
  std::uint64_t next_seq = 0;  // the sequence the next record must carry
  std::uint64_t tail_bytes = 0;
  Status error;

  // Moves on to segment `name`, whose first record must carry next_seq.
  Status open_segment(const SegmentName& name);
  Result<SegmentReader::Step> read_step(LogRecord* out);
  Result<std::optional<SegmentName>> find_following() const;
  Result<bool> fail(Status s) {
    error = s;
    return s;
  }
};

namespace {

// The header of the log's first segment: the log's epoch and hub.
Result<SegmentHeader> read_identity(const std::string& dir, const std::vector<SegmentName>& names,
                                    std::uint32_t v1_max_record_bytes) {
  const SegmentName& first = names.front();
  auto segment = SegmentReader::open(dir, first.name, v1_max_record_bytes);
  if (!segment.ok()) return segment.status();
  const std::uint64_t last_good = first.first_seq > 0 ? first.first_seq - 1 : 0;
  SegmentHeader header;
  auto step = segment->read_header(last_good, &header);
  if (!step.ok()) return step.status();
  if (*step == SegmentReader::Step::kOk) return header;
  if (names.size() > 1) return segment->torn_tail_corruption(last_good);
  return Status::not_found("the log in " + dir + " holds no complete segment yet");
}

}  // namespace

Result<std::unique_ptr<LogReader>> LogReader::open(const std::string& dir, std::uint64_t from_seq,
                                                   std::uint32_t v1_max_record_bytes) {
  if (from_seq == 0) return Status::invalid_argument("from_seq must be at least 1");
  if (v1_max_record_bytes == 0 || v1_max_record_bytes > kMaxRecordBytesCap) {
    return Status::invalid_argument("the record limit of version 1 segments must be 1 to " +
                                    std::to_string(kMaxRecordBytesCap) + " bytes, got " +
                                    std::to_string(v1_max_record_bytes));
  }
  auto names = list_segments(dir);
  if (!names.ok()) return names.status();
  if (names->empty()) return Status::not_found("no log segment in " + dir);
  auto identity = read_identity(dir, *names, v1_max_record_bytes);
  if (!identity.ok()) return identity.status();
  // The last segment starting at or before from_seq holds it, if anything does.
  auto start = std::upper_bound(
      names->begin(), names->end(), from_seq,
      [](std::uint64_t seq, const SegmentName& name) { return seq < name.first_seq; });
  if (start == names->begin()) {
    return Status::compacted("compacted: the log in " + dir + " starts at seq " +
                             std::to_string(names->front().first_seq) + "; seq " +
                             std::to_string(from_seq) + " is no longer in it");
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->v1_max_record_bytes = v1_max_record_bytes;
  impl->from_seq = from_seq;
  impl->identity = std::move(*identity);
  impl->next_seq = std::prev(start)->first_seq;
  Status s = impl->open_segment(*std::prev(start));
  if (!s.ok()) return s;
  return std::unique_ptr<LogReader>(new LogReader(std::move(impl)));
}

LogReader::LogReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LogReader::~LogReader() = default;

std::uint64_t LogReader::epoch() const { return impl_->identity.epoch; }
const std::string& LogReader::hub() const { return impl_->identity.hub; }
std::uint64_t LogReader::tail_bytes_ignored() const { return impl_->tail_bytes; }

Result<bool> LogReader::next(LogRecord* out) {
  Impl& d = *impl_;
  if (!d.error.ok()) return d.error;
  for (;;) {  // each pass reads a record or moves on to the next segment
    const bool wanted = d.next_seq >= d.from_seq;
    auto step = d.read_step(wanted ? out : nullptr);
    if (!step.ok()) return d.fail(step.status());
    if (*step == SegmentReader::Step::kOk) {
      d.tail_bytes = 0;
      if (wanted) return true;
      continue;
    }
    if (!d.following) {
      auto following = d.find_following();
      if (!following.ok()) return d.fail(following.status());
      if (!*following) {  // the live end of the log, for now
        d.tail_bytes = *step == SegmentReader::Step::kTorn && !d.segment->zero_fill()
                           ? d.segment->torn_bytes()
                           : 0;
        return false;
      }
      // The writer finished this segment before creating the next one: read once more, and
      // what is still missing then is missing for good.
      d.following = std::move(*following);
      continue;
    }
    if (*step == SegmentReader::Step::kTorn) {
      return d.fail(d.segment->torn_tail_corruption(d.next_seq - 1));
    }
    if (Status s = d.open_segment(*d.following); !s.ok()) return d.fail(std::move(s));
  }
}

Status LogReader::Impl::open_segment(const SegmentName& name) {
  auto opened = SegmentReader::open(dir, name.name, v1_max_record_bytes);
  if (!opened.ok()) return opened.status();
  segment.emplace(std::move(*opened));
  segment_seq = name.first_seq;
  header_read = false;
  following.reset();
  return Status();
}

Result<SegmentReader::Step> LogReader::Impl::read_step(LogRecord* out) {
  if (!header_read) {
    SegmentHeader header;
    auto step = segment->read_header(next_seq - 1, &header);
    if (step.ok() && *step == SegmentReader::Step::kTorn) {
      Status s = check_torn_segment_name(*segment, segment_seq, next_seq, next_seq - 1);
      if (!s.ok()) return s;
    }
    if (!step.ok() || *step != SegmentReader::Step::kOk) return step;
    Status s =
        check_segment_header(*segment, header, segment_seq, identity, next_seq, next_seq - 1);
    if (!s.ok()) return s;
    header_read = true;
  }
  auto step = segment->next(next_seq, out);
  if (step.ok() && *step == SegmentReader::Step::kOk) ++next_seq;
  return step;
}

Result<std::optional<SegmentName>> LogReader::Impl::find_following() const {
  auto names = list_segments(dir);
  if (!names.ok()) return names.status();
  for (SegmentName& name : *names) {
    if (name.first_seq > segment_seq) return std::optional<SegmentName>(std::move(name));
  }
  return std::optional<SegmentName>();
}

}  // namespace procreg::replay
