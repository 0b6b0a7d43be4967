#include "log/segment_reader.h"

#include <fcntl.h>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "log/crc32c.h"

namespace procreg::replay {

Result<SegmentReader> SegmentReader::open(const std::string& dir, const std::string& name,
                                          std::uint32_t v1_max_record_bytes) {
  std::string path = dir + "/" + name;
  auto fd = open_file(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  return SegmentReader(std::move(*fd), std::move(path), name, v1_max_record_bytes);
}

SegmentReader::SegmentReader(UniqueFd fd, std::string path, std::string name,
                             std::uint32_t v1_max_record_bytes)
    : fd_(std::move(fd)),
      path_(std::move(path)),
      name_(std::move(name)),
      v1_max_record_bytes_(v1_max_record_bytes) {}

Result<SegmentReader::Step> SegmentReader::read_header(std::uint64_t last_good_seq,
                                                       SegmentHeader* out) {
  offset_ = 0;
  // Every version's fixed fields take at least version 1's: fewer bytes are a torn header.
  auto got = fill(0, kV1HeaderHubOffset);
  if (!got.ok()) return got.status();
  if (*got < kV1HeaderHubOffset) return torn_at(0, *got);
  const char* p = at(0);
  if (std::string_view(p, kSegmentMagic.size()) != kSegmentMagic) {
    return zero_tail_or(corruption(0, "bad segment magic", last_good_seq));
  }
  const std::uint16_t version = get_u16(p + kHeaderVersionOffset);
  const std::uint16_t length = get_u16(p + kHeaderLengthOffset);
  if (version < kFormatVersion1 || version > kFormatVersion) {
    return unknown_version(version, length, last_good_seq);
  }
  const bool v1 = version == kFormatVersion1;
  const bool has_term = version >= kFormatVersion3;
  const bool v4 = version == kFormatVersion;
  const std::size_t hub_offset = v1                           ? kV1HeaderHubOffset
                                 : version == kFormatVersion2 ? kV2HeaderHubOffset
                                 : v4                         ? kHeaderHubOffset
                                                              : kV3HeaderHubOffset;
  const std::size_t hub_length_offset = hub_offset - 2;
  got = fill(0, hub_offset);
  if (!got.ok()) return got.status();
  if (*got < hub_offset) return torn_at(0, *got);
  p = at(0);
  const std::uint16_t hub_length = get_u16(p + hub_length_offset);
  if (length != hub_offset + kCrcBytes + hub_length) {
    return corruption(0,
                      "header length " + std::to_string(length) + " does not match hub length " +
                          std::to_string(hub_length),
                      last_good_seq);
  }
  got = fill(0, length);
  if (!got.ok()) return got.status();
  if (*got < length) return torn_at(0, *got);
  p = at(0);
  const std::size_t crc_offset = length - kCrcBytes;
  if (crc32c::unmask(get_u32(p + crc_offset)) != crc32c::value(p, crc_offset)) {
    return corruption(0, "segment header CRC mismatch", last_good_seq);
  }
  const std::uint32_t limit = v1 ? v1_max_record_bytes_ : get_u32(p + kHeaderMaxRecordOffset);
  if (!v1 && (limit == 0 || limit > kMaxRecordBytesCap)) {
    return corruption(kHeaderMaxRecordOffset,
                      "the header's max_record_bytes " + std::to_string(limit) + " is outside 1.." +
                          std::to_string(kMaxRecordBytesCap),
                      last_good_seq);
  }
  out->epoch = get_u64(p + kHeaderEpochOffset);
  out->first_seq = get_u64(p + kHeaderFirstSeqOffset);
  out->hub.assign(p + hub_offset, hub_length);
  out->max_record_bytes = limit;
  out->term = has_term ? get_u64(p + kHeaderTermOffset) : 0;
  out->incarnation = has_term ? get_u64(p + kHeaderIncarnationOffset) : 0;
  out->unsynced_limit = v4 ? get_u32(p + kHeaderUnsyncedLimitOffset) : 0;
  out->version = version;
  max_record_bytes_ = limit;
  unsynced_limit_ = out->unsynced_limit;
  // A zero-filled segment holds zeros after its records: a reader at its end would read them
  // all at every look. Smaller reads keep that to a little.
  if (unsynced_limit_ > 0) read_bytes_ = kZeroFilledReadBytes;
  offset_ = length;
  header_read_ = true;
  return Step::kOk;
}

Result<SegmentReader::Step> SegmentReader::next(std::uint64_t expected_seq, LogRecord* out) {
  // A zero-filled segment (docs/LOG_FORMAT.md section 7.3): its writer writes over the zeros in
  // place, so bytes buffered past the records may have been written over since they were read,
  // and a concurrent read may see a write half done, which a second look sees finished. Zeros
  // buffered where the next record starts were most likely read before the writer wrote over
  // them: read again at once rather than judge them.
  bool fresh = false;  // the bytes from offset_ on are read after this call began
  if (unsynced_limit_ > 0 && offset_ >= window_offset_ &&
      offset_ + kRecordHeaderBytes <= window_offset_ + window_len_) {
    const char* p = at(offset_);
    if (std::all_of(p, p + kRecordHeaderBytes, [](char c) { return c == 0; })) {
      forget_unconsumed();
      fresh = true;
    }
  }
  auto step = check_next(expected_seq, out);
  const auto settled = [](const Result<Step>& r) {
    return r.ok() ? *r != Step::kTorn : r.status().code() != Code::kCorruption;
  };
  if (unsynced_limit_ == 0 || settled(step)) return step;
  for (int look = 1;; ++look) {
    if (!fresh) {
      forget_unconsumed();
      step = check_next(expected_seq, out);
      if (settled(step)) return step;
    }
    fresh = false;
    auto judged = judge_unsynced(step);
    if (!judged.ok() && judged.status().code() == Code::kCorruption && look < kLooks) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    return judged;
  }
}

Result<SegmentReader::Step> SegmentReader::judge_unsynced(const Result<Step>& found) {
  const std::uint64_t at = offset_;
  auto zeros = zero_bytes_to_end(at);
  if (!zeros.ok()) return zeros.status();
  if (zeros->has_value()) {  // the zero fill ahead of the records: their end, for now
    torn_at(at, **zeros);
    zero_fill_ = true;
    return Step::kTorn;
  }
  auto beyond = zero_bytes_to_end(at + unsynced_limit_);
  if (!beyond.ok()) return beyond.status();
  if (!beyond->has_value()) {
    if (!found.ok()) return found;
    return corruption(at,
                      "the bytes after this record are not a complete record, and bytes more "
                      "than the segment's unsynced_limit (" +
                          std::to_string(unsynced_limit_) + ") past it are not zero",
                      last_good_seq_);
  }
  // Every byte past at + W is zero: what follows `at` can be records written after the last
  // sync a crash interrupted, or a write still in progress. Either way not yet the log.
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return io_error("fstat", path_, errno);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  torn_at(at, size > at ? size - at : 0);
  return Step::kTorn;
}

Result<SegmentReader::Step> SegmentReader::check_next(std::uint64_t expected_seq, LogRecord* out) {
  const std::uint64_t last_good_seq = expected_seq - 1;
  last_good_seq_ = last_good_seq;
  auto got = fill(offset_, kRecordHeaderBytes);
  if (!got.ok()) return got.status();
  if (*got == 0) {
    forget_unconsumed();
    return Step::kEnd;
  }
  if (*got < kRecordHeaderBytes) return torn_at(offset_, *got);
  const RecordHeader header = decode_record_header(at(offset_));
  if (header.length == 0) {
    return zero_tail_or(corruption(offset_, "record length 0", last_good_seq));
  }
  if (header.length > max_record_bytes_) {
    return corruption(offset_,
                      "record length " + std::to_string(header.length) + " exceeds the limit of " +
                          std::to_string(max_record_bytes_) + " bytes",
                      last_good_seq);
  }
  const std::size_t size = kRecordHeaderBytes + header.length;
  got = fill(offset_, size);
  if (!got.ok()) return got.status();
  if (*got < size) return torn_or_damaged(header, *got, last_good_seq);
  const char* record = at(offset_);
  const char* payload = record + kRecordHeaderBytes;
  if (crc32c::unmask(header.masked_crc) != record_crc(record, payload, header.length)) {
    return zero_filled_or(header.length, corruption(offset_, "record CRC mismatch", last_good_seq));
  }
  if (header.type != kRecordTypeEvent) {
    return corruption(offset_, "reserved record type " + std::to_string(header.type),
                      last_good_seq);
  }
  if (header.seq != expected_seq) {
    return corruption(
        offset_,
        "record seq " + std::to_string(header.seq) + ", expected " + std::to_string(expected_seq),
        last_good_seq);
  }
  if (out != nullptr) {
    out->seq = header.seq;
    out->payload.assign(payload, header.length);
    out->segment = name_;
    out->offset = offset_;
  }
  offset_ += size;
  return Step::kOk;
}

Status SegmentReader::torn_tail_corruption(std::uint64_t last_good_seq) const {
  const std::string bytes = std::to_string(torn_bytes_);
  if (zero_fill_) {
    return corruption(offset_,
                      "the last " + bytes +
                          " bytes are zero fill, which only the last segment "
                          "may hold",
                      last_good_seq);
  }
  if (torn_zeros_from_) {
    return corruption(offset_,
                      "record CRC mismatch; the record ends the file and is zero from offset " +
                          std::to_string(*torn_zeros_from_) +
                          " on, as a torn write leaves it, but this is not the last segment",
                      last_good_seq);
  }
  return corruption(offset_,
                    header_read_
                        ? "the last " + bytes + " bytes are not a complete record, and this " +
                              "is not the last segment"
                        : "the file (" + bytes + " bytes) holds no complete segment header, " +
                              "and this is not the last segment",
                    last_good_seq);
}

Status SegmentReader::corruption(std::uint64_t offset, std::string_view what,
                                 std::uint64_t last_good_seq) const {
  std::string message = "segment " + name_ + ", offset " + std::to_string(offset) + ": ";
  message += what;
  message += " (last good seq " + std::to_string(last_good_seq) + ")";
  return Status::corruption(std::move(message));
}

Result<std::size_t> SegmentReader::fill(std::uint64_t offset, std::size_t n) {
  const std::uint64_t window_end = window_offset_ + window_len_;
  if (offset >= window_offset_ && offset + n <= window_end) return n;
  // Keep the buffered bytes from `offset` on (a partial record), moved to the front.
  std::size_t keep = 0;
  if (offset >= window_offset_ && offset < window_end) {
    keep = static_cast<std::size_t>(window_end - offset);
    std::memmove(buf_.get(), at(offset), keep);
  }
  const std::size_t wanted = std::max(n, read_bytes_);
  if (wanted > capacity_) {
    auto bigger = std::make_unique_for_overwrite<char[]>(wanted);
    if (keep > 0) std::memcpy(bigger.get(), buf_.get(), keep);
    buf_ = std::move(bigger);
    capacity_ = wanted;
  }
  window_offset_ = offset;
  window_len_ = keep;
  auto got = read_fully_at(fd_.get(), buf_.get() + keep, std::max(wanted, keep) - keep,
                           offset + keep, path_);
  if (!got.ok()) return got.status();
  window_len_ += *got;
  return std::min(n, window_len_);
}

void SegmentReader::forget_unconsumed() {
  if (offset_ >= window_offset_ && offset_ <= window_offset_ + window_len_) {
    window_len_ = static_cast<std::size_t>(offset_ - window_offset_);
  } else {
    window_offset_ = offset_;
    window_len_ = 0;
  }
}

SegmentReader::Step SegmentReader::torn_at(std::uint64_t offset, std::uint64_t bytes) {
  offset_ = offset;
  torn_bytes_ = bytes;
  torn_zeros_from_.reset();
  zero_fill_ = false;
  forget_unconsumed();
  return Step::kTorn;
}

Result<SegmentReader::Step> SegmentReader::zero_tail_or(Status damage) {
  auto zeros = zero_bytes_to_end(offset_);
  if (!zeros.ok()) return zeros.status();
  if (!zeros->has_value()) return damage;
  return torn_at(offset_, **zeros);
}

Result<std::optional<std::uint64_t>> SegmentReader::zero_bytes_to_end(std::uint64_t offset) {
  std::uint64_t pos = offset;
  for (;;) {  // ends at end of file or at the first nonzero byte
    auto got = fill(pos, kReadBufferBytes);
    if (!got.ok()) return got.status();
    if (*got == 0) return std::optional<std::uint64_t>(pos - offset);
    const char* p = at(pos);
    if (std::any_of(p, p + *got, [](char c) { return c != 0; })) {
      return std::optional<std::uint64_t>();
    }
    pos += *got;
  }
}

Result<SegmentReader::Step> SegmentReader::zero_filled_or(std::uint32_t length, Status damage) {
  // After a crash, a file system may have persisted the file's new size but not every block
  // appended under it; those read back as zeros, in whole sectors. A record synced before it
  // was acknowledged cannot look like this, and a bit flip leaves no such zeros.
  const std::uint64_t payload = offset_ + kRecordHeaderBytes;
  const std::uint64_t end = payload + length;
  const std::optional<std::uint64_t> zeros_from = zeros_to_end_from(payload, end);
  if (!zeros_from) return damage;
  // The record must end the file: bytes after it are more than an unfinished append of it.
  if (window_offset_ + window_len_ > end) return damage;
  auto after = fill(end, 1);  // the record's bytes may leave the buffer; they are judged
  if (!after.ok()) return after.status();
  if (*after > 0) return damage;
  torn_at(offset_, kRecordHeaderBytes + length);
  torn_zeros_from_ = *zeros_from;
  return Step::kTorn;
}

std::optional<std::uint64_t> SegmentReader::zeros_to_end_from(std::uint64_t payload,
                                                              std::uint64_t end) const {
  // zeros: the start of the run of zero bytes that ends at `end`, but not before `payload`.
  const char* p = at(payload);
  std::uint64_t zeros = end;
  while (zeros > payload && p[zeros - 1 - payload] == 0) --zeros;
  if (zeros == payload) return payload;  // the whole payload is zero
  const std::uint64_t sector = (zeros + kSectorBytes - 1) / kSectorBytes * kSectorBytes;
  if (sector < end) return sector;
  return std::nullopt;
}

Result<SegmentReader::Step> SegmentReader::unknown_version(std::uint16_t version,
                                                           std::uint16_t header_length,
                                                           std::uint64_t last_good_seq) {
  const std::string v = std::to_string(version);
  if (header_length >= kV1MinHeaderBytes) {
    auto got = fill(0, header_length);
    if (!got.ok()) return got.status();
    const std::size_t crc_offset = header_length - kCrcBytes;
    if (*got == header_length &&
        crc32c::unmask(get_u32(at(crc_offset))) == crc32c::value(at(0), crc_offset)) {
      return Status::unsupported("segment " + name_ + ": format version " + v +
                                 "; this build reads versions " + std::to_string(kFormatVersion1) +
                                 " to " + std::to_string(kFormatVersion));
    }
  }
  return corruption(0, "bad format version " + v, last_good_seq);
}

Result<SegmentReader::Step> SegmentReader::torn_or_damaged(const RecordHeader& header,
                                                           std::size_t present,
                                                           std::uint64_t last_good_seq) {
  // A crash tears the last record written and leaves nothing after it; a damaged length field
  // looks the same unless the bytes say otherwise, so look for that evidence before cutting.
  const auto payload_present = static_cast<std::uint32_t>(present - kRecordHeaderBytes);
  const std::string length = std::to_string(header.length);
  if (payload_present > 0 && verifies_with_length(at(offset_), payload_present)) {
    return corruption(offset_,
                      "record length " + length + " runs past the end of the file, but the " +
                          std::to_string(payload_present) +
                          " payload bytes present match the record's CRC",
                      last_good_seq);
  }
  if (auto later =
          find_record(offset_ + kRecordHeaderBytes, offset_ + present, last_good_seq + 2)) {
    return corruption(offset_,
                      "record length " + length + " runs past the end of the file, but a " +
                          "complete record with seq " + std::to_string(last_good_seq + 2) +
                          " starts at offset " + std::to_string(*later),
                      last_good_seq);
  }
  return torn_at(offset_, present);
}

std::optional<std::uint64_t> SegmentReader::find_record(std::uint64_t begin, std::uint64_t end,
                                                        std::uint64_t seq) const {
  for (std::uint64_t pos = begin; pos + kRecordHeaderBytes <= end; ++pos) {
    const char* p = at(pos);
    // The 8-byte sequence is a cheap, selective filter before the CRC.
    if (get_u64(p + kRecordSeqOffset) != seq) continue;
    const RecordHeader header = decode_record_header(p);
    if (header.type != kRecordTypeEvent || header.length == 0 ||
        header.length > max_record_bytes_ || header.length > end - pos - kRecordHeaderBytes) {
      continue;
    }
    if (crc32c::unmask(header.masked_crc) == record_crc(p, p + kRecordHeaderBytes, header.length)) {
      return pos;
    }
  }
  return std::nullopt;
}

bool SegmentReader::verifies_with_length(const char* record, std::uint32_t length) {
  std::array<char, kRecordHeaderBytes> header;
  std::memcpy(header.data(), record, header.size());
  put_u32(header.data() + kRecordLengthOffset, length);
  return crc32c::unmask(get_u32(record)) ==
         record_crc(header.data(), record + kRecordHeaderBytes, length);
}

namespace {
// " (a segment is missing: seqs A to B, from <the file that should start at A>)" when a
// segment starts past the sequence expected (A = expected, B = first - 1); "" otherwise.
std::string missing_segments(std::uint64_t expected, std::uint64_t first) {
  if (first <= expected) return "";
  return " (a segment is missing: seqs " + std::to_string(expected) + " to " +
         std::to_string(first - 1) + ", from " + segment_file_name(expected) + ")";
}
}  // namespace

Status check_segment_header(const SegmentReader& segment, const SegmentHeader& header,
                            std::uint64_t name_seq, const SegmentHeader& log,
                            std::uint64_t expected_first_seq, std::uint64_t last_good_seq) {
  const std::string first = std::to_string(header.first_seq);
  std::string problem;
  if (header.first_seq == 0) {
    problem = "first seq 0 in the segment header";
  } else if (header.first_seq != name_seq) {
    problem = "the header says first seq " + first + " but the file name says " +
              std::to_string(name_seq);
  } else if (header.epoch != log.epoch) {
    problem = "epoch " + std::to_string(header.epoch) + " differs from the log's epoch " +
              std::to_string(log.epoch) + " (a segment of another log)";
  } else if (header.hub != log.hub) {
    problem = "hub '" + header.hub + "' differs from the log's hub '" + log.hub + "'";
  } else if (expected_first_seq != 0 && header.first_seq != expected_first_seq) {
    problem = "first seq " + first + " does not follow the previous segment's last seq " +
              std::to_string(expected_first_seq - 1) +
              missing_segments(expected_first_seq, header.first_seq);
  }
  return problem.empty() ? Status() : segment.corruption(0, problem, last_good_seq);
}

Status check_torn_segment_name(const SegmentReader& segment, std::uint64_t name_seq,
                               std::uint64_t expected_first_seq, std::uint64_t last_good_seq) {
  if (name_seq == expected_first_seq) return Status();
  return segment.corruption(0,
                            "the file name says first seq " + std::to_string(name_seq) +
                                " but the previous segment ends at seq " +
                                std::to_string(expected_first_seq - 1) +
                                missing_segments(expected_first_seq, name_seq),
                            last_good_seq);
}

Result<SegmentHeader> read_segment_header(const std::string& dir, const std::string& name) {
  auto reader = SegmentReader::open(dir, name);
  if (!reader.ok()) return reader.status();
  SegmentHeader header;
  auto step = reader->read_header(0, &header);
  if (!step.ok()) return step.status();
  if (*step != SegmentReader::Step::kOk) {
    return Status::corruption("segment " + dir + "/" + name + ": its header is torn");
  }
  return header;
}

}  // namespace procreg::replay
