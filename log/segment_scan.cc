// The segment scan (log/segment_scan.h).
#include "log/segment_scan.h"

#include <utility>

namespace procreg::replay {

Result<SegmentScan> SegmentScan::open(const std::string& dir, const std::string& name,
                                      std::uint32_t v1_max_record_bytes) {
  auto reader = SegmentReader::open(dir, name, v1_max_record_bytes);
  if (!reader.ok()) return reader.status();
  return SegmentScan(std::move(*reader));
}

Status SegmentScan::advance(std::uint64_t up_to_seq) {
  torn_ = false;
  if (!header_) {
    SegmentHeader h;
    auto step = reader_.read_header(0, &h);
    if (!step.ok()) return step.status();
    if (*step != SegmentReader::Step::kOk) {
      torn_ = true;
      return Status();
    }
    if (h.first_seq == 0) return reader_.corruption(0, "first_seq 0", 0);
    header_ = std::move(h);
    size_ = reader_.offset();
  }
  LogRecord record;
  while (true) {
    const std::uint64_t next = last_seq_ == 0 ? header_->first_seq : last_seq_ + 1;
    if (next > up_to_seq) return Status();
    auto step = reader_.next(next, &record);
    if (!step.ok()) return step.status();
    if (*step == SegmentReader::Step::kEnd) return Status();
    if (*step == SegmentReader::Step::kTorn) {
      torn_ = true;
      return Status();
    }
    last_seq_ = next;
    size_ = reader_.offset();
  }
}

}  // namespace procreg::replay
