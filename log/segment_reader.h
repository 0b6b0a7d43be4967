// procreg::replay: sequential, validating reads of one segment file.
//
// SegmentReader applies every check of the log format (log/log_format.h) to one segment and
// says what it found at each step: a good header or record (kOk), the end of the file on a
// record boundary (kEnd), a torn tail (kTorn: the file ends inside the header or inside a record,
// nothing but zero bytes follows the last record, or the record that ends the file fails its CRC
// and is zero from its payload's start or from a sector boundary on, as blocks appended but never
// written read back), or damage, returned as a kCorruption Status naming the file, the byte
// offset and the last good sequence. Whether a torn tail is acceptable is the caller's decision:
// it is, in the log's last segment only (see docs/LOG_FORMAT.md, section 7). In a zero-filled
// segment (a version 4 header with unsynced_limit W > 0, section 7.3) a record that is not good
// is the zero fill (kTorn with zero_fill()) when only zeros follow it, a torn tail when every
// byte W or more past it is zero, and corruption otherwise; bytes buffered past the records are
// read again before they are judged, since the writer writes over its zeros in place.
//
// Log recovery and LogReader both read through this class, so they judge bytes identically.
//
// It never writes. It reads through a buffer of at least kReadBufferBytes, so a record costs a
// CRC and one payload copy. After kEnd or kTorn, another call re-reads the file from the same
// position, which lets a reader follow a segment that is still being appended to.
//
// Thread safety: one thread at a time; independent instances share nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "log/file_util.h"
#include "log/log_format.h"
#include "log/log_types.h"
#include "procreg/status.h"

namespace procreg::replay {

class SegmentReader {
 public:
  enum class Step { kOk, kEnd, kTorn };
  static constexpr std::size_t kReadBufferBytes = 1 << 20;
  // What one read takes in a zero-filled segment (section 7.3), whose zeros a reader at the
  // end of its records would otherwise read a megabyte at a time.
  static constexpr std::size_t kZeroFilledReadBytes = 64 << 10;
  // The unit in which a file system leaves appended blocks unwritten: every device sector size
  // is a multiple of it. Zeros from such a boundary to the end of the file can be a torn write.
  static constexpr std::uint64_t kSectorBytes = 512;

  // Opens dir/name for reading. Payload lengths above the segment's max_record_bytes are
  // corruption: the header's (version 2), or v1_max_record_bytes for a version 1 header, which
  // does not record it.
  static Result<SegmentReader> open(const std::string& dir, const std::string& name,
                                    std::uint32_t v1_max_record_bytes = kDefaultMaxRecordBytes);

  // Reads and checks the header from offset 0: magic, version (1 or 2; a CRC-valid header of
  // another version is kUnsupported), length, CRC, and a version 2 header's max_record_bytes
  // (1..kMaxRecordBytesCap, else kCorruption at its offset). kOk fills *out; kTorn means the
  // file is shorter than its header or holds only zero bytes. `last_good_seq` only goes into
  // error messages.
  Result<Step> read_header(std::uint64_t last_good_seq, SegmentHeader* out);

  // Reads and checks the record at offset(), which must carry `expected_seq`. Precondition:
  // read_header() returned kOk. On kOk, offset() moves past the record and *out (if not null)
  // receives it; its payload's capacity is reused.
  Result<Step> next(std::uint64_t expected_seq, LogRecord* out);

  const std::string& name() const { return name_; }
  // Where the next header or record starts: after kEnd the file size, after kTorn the start of
  // the torn tail.
  std::uint64_t offset() const { return offset_; }
  // After kTorn: the number of bytes in the torn tail.
  std::uint64_t torn_bytes() const { return torn_bytes_; }
  // After kTorn: the tail is a zero-filled segment's zeros after its last record (section 7.3),
  // the end of what was written rather than a write cut short.
  bool zero_fill() const { return zero_fill_; }

  // The kCorruption a torn tail is when a later segment exists. For a zero-filled last record
  // it is the record's CRC mismatch.
  Status torn_tail_corruption(std::uint64_t last_good_seq) const;
  // kCorruption "segment <name>, offset <offset>: <what> (last good seq <n>)".
  Status corruption(std::uint64_t offset, std::string_view what, std::uint64_t last_good_seq) const;

 private:
  SegmentReader(UniqueFd fd, std::string path, std::string name, std::uint32_t v1_max_record_bytes);

  // Makes file bytes [offset, offset + n) readable through at(), reading as much of the file as
  // the buffer holds. Returns how many of the n bytes exist (fewer only at end of file).
  Result<std::size_t> fill(std::uint64_t offset, std::size_t n);
  const char* at(std::uint64_t offset) const { return buf_.get() + (offset - window_offset_); }
  // Drops buffered bytes from offset_ on, so the next call sees the file as it is then.
  void forget_unconsumed();

  // next() without the rule of zero-filled segments.
  Result<Step> check_next(std::uint64_t expected_seq, LogRecord* out);
  // In a zero-filled segment (unsynced_limit W > 0), the record at offset_ is not good
  // (`found`: kTorn or kCorruption). kTorn, with zero_fill(), if only zeros follow; kTorn if
  // every byte from offset_ + W on is zero; otherwise `found`, or a kCorruption saying so.
  Result<Step> judge_unsynced(const Result<Step>& found);
  // How many times next() reads a damaged-looking record of a zero-filled segment before it
  // reports corruption.
  static constexpr int kLooks = 3;
  Step torn_at(std::uint64_t offset, std::uint64_t bytes);
  // kTorn if every byte from offset_ to the end of the file is zero, else `damage`.
  Result<Step> zero_tail_or(Status damage);
  // How many bytes follow `offset` if all of them are zero; nullopt if one is not.
  Result<std::optional<std::uint64_t>> zero_bytes_to_end(std::uint64_t offset);
  // The complete, buffered record at offset_ with `length` payload bytes fails its CRC. kTorn if
  // it ends the file and its bytes are zero from its payload's start or from a sector boundary
  // inside the payload to the end of the file (a write the file system never finished), else
  // `damage`.
  Result<Step> zero_filled_or(std::uint32_t length, Status damage);
  // The offset Z from which the buffered bytes [payload, end) are zero to `end`, where Z is
  // `payload` or a multiple of kSectorBytes with payload <= Z < end; the smallest such Z, or
  // nullopt if there is none.
  std::optional<std::uint64_t> zeros_to_end_from(std::uint64_t payload, std::uint64_t end) const;
  Result<Step> unknown_version(std::uint16_t version, std::uint16_t header_length,
                               std::uint64_t last_good_seq);
  // A record at offset_ runs `present` bytes to the end of the file, short of its length. It is
  // a torn tail unless the bytes show that the record was complete and its length is damaged.
  Result<Step> torn_or_damaged(const RecordHeader& header, std::size_t present,
                               std::uint64_t last_good_seq);
  // The offset of a complete, CRC-valid record with sequence `seq` inside the buffered bytes
  // [begin, end), if there is one.
  std::optional<std::uint64_t> find_record(std::uint64_t begin, std::uint64_t end,
                                           std::uint64_t seq) const;
  // Whether the record's stored CRC matches its bytes read as a record of `length` payload
  // bytes, whatever its length field says.
  static bool verifies_with_length(const char* record, std::uint32_t length);

  UniqueFd fd_;
  std::string path_;
  std::string name_;
  std::uint32_t v1_max_record_bytes_;
  std::uint32_t max_record_bytes_ = 0;         // the segment's, once read_header() returned kOk
  std::uint32_t unsynced_limit_ = 0;           // likewise (version 4; 0: not zero-filled)
  std::size_t read_bytes_ = kReadBufferBytes;  // what fill() reads at least
  std::uint64_t last_good_seq_ = 0;            // for messages: the seq before the record being read
  bool zero_fill_ = false;
  bool header_read_ = false;
  std::uint64_t offset_ = 0;
  std::uint64_t torn_bytes_ = 0;
  // After kTorn for a zero-filled last record (zero_filled_or): where its zeros start.
  std::optional<std::uint64_t> torn_zeros_from_;
  // The buffer holds file bytes [window_offset_, window_offset_ + window_len_).
  std::unique_ptr<char[]> buf_;
  std::size_t capacity_ = 0;
  std::uint64_t window_offset_ = 0;
  std::size_t window_len_ = 0;
};

// Checks what a segment's header must agree on with the rest of its log: the sequence in its
// file name (`name_seq`), the log's epoch and hub (`log`: the header of the log's first
// segment) and, when `expected_first_seq` is nonzero, the sequence after the previous segment's
// last. Mismatches are kCorruption at offset 0 of `segment`.
Status check_segment_header(const SegmentReader& segment, const SegmentHeader& header,
                            std::uint64_t name_seq, const SegmentHeader& log,
                            std::uint64_t expected_first_seq, std::uint64_t last_good_seq);

// Checks that a last segment whose header is torn is named as the one after the previous
// segment (`expected_first_seq`); otherwise segments between them are missing (kCorruption).
Status check_torn_segment_name(const SegmentReader& segment, std::uint64_t name_seq,
                               std::uint64_t expected_first_seq, std::uint64_t last_good_seq);

// The header of dir/name, checked as read_header() checks it; a file shorter than its header
// is kCorruption here.
Result<SegmentHeader> read_segment_header(const std::string& dir, const std::string& name);

}  // namespace procreg::replay
