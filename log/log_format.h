// procreg::replay: the byte format of the durable log. docs/LOG_FORMAT.md is the full reference
// (recovery rules, durability, a reader's algorithm); this is the layout.
//
// A log is a directory of segment files, each named by the sequence number of its first record,
// zero-padded to 20 decimal digits: "00000000000000000001.log". Other files are ignored.
//
// A segment is a header followed by records. All integers are little-endian.
//
// Segment header, version 4 (written by this build; H = 54 + N bytes):
//   offset  size  field
//        0     4  magic "PRLG" (50 52 4C 47)
//        4     2  format version: 4
//        6     2  header length H, including the CRC
//        8     8  epoch: the log's identity, random and nonzero, equal in every segment
//       16     8  first_seq: the sequence number of the segment's first record (>= 1)
//       24     4  max_record_bytes: the writer's limit, 1 <= M <= kMaxRecordBytesCap; no record
//                 of this segment has a longer payload
//       28     8  term: the writer's term, >= 1; never lower than an earlier segment's
//       36     8  incarnation: the writer incarnation that wrote the segment's records, random
//                 and nonzero; each Log::open starts a segment of its own
//       44     4  unsynced_limit W: 0, or the segment is zero-filled ahead of its records and
//                 its writer never had more than W bytes written past its last completed
//                 fdatasync (docs/LOG_FORMAT.md sections 5 and 7.3)
//       48     2  hub length N
//       50     N  hub id (UTF-8)
//   50 + N     4  masked CRC-32C of bytes [0, 50 + N)
//
// Segment header, version 3 (read only; H = 50 + N bytes): as version 4 without
// unsynced_limit (read as 0), so the hub length is at 44, the hub at 46 and the CRC at 46 + N.
//
// Segment header, version 2 (read only; H = 34 + N bytes): as version 3 without term and
// incarnation (read as 0), so the hub length is at 28, the hub at 30 and the CRC at 30 + N.
//
// Segment header, version 1 (read only; H = 30 + N bytes): as version 2 without
// max_record_bytes, so the hub length is at 24, the hub at 26 and the CRC at 26 + N. Its
// records are read with the limit the reader is given (the default, 16 MiB, unless told).
//
// Record (17 + L bytes; records follow the header back to back up to the end of the file):
//   offset  size  field
//        0     4  masked CRC-32C of bytes [4, 17 + L): the rest of this header, then the payload
//        4     4  payload length L: 1 <= L <= the segment's max_record_bytes
//        8     1  type: 1 = event; every other value is reserved
//        9     8  seq: first_seq for the segment's first record, then the previous seq + 1
//       17     L  payload: one encoded event, opaque to the log
//
// Masking (as LevelDB): masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8, modulo 2^32.
//
// Compatibility: later versions keep the magic, version and header length at these offsets and
// end the header with its masked CRC, so a reader can tell an intact header of an unknown
// version (kUnsupported) from a damaged one (kCorruption).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "procreg/options.h"
#include "procreg/status.h"

namespace procreg::replay {

inline constexpr std::string_view kSegmentMagic = "PRLG";
// The version this build writes; it reads versions 3, 2 and 1 too.
inline constexpr std::uint16_t kFormatVersion = 4;
inline constexpr std::uint16_t kFormatVersion3 = 3;
inline constexpr std::uint16_t kFormatVersion2 = 2;
inline constexpr std::uint16_t kFormatVersion1 = 1;

// Segment header field offsets, version 4 (the first four are the same in every version; the
// rest up to the incarnation are version 3's too).
inline constexpr std::size_t kHeaderVersionOffset = 4;
inline constexpr std::size_t kHeaderLengthOffset = 6;
inline constexpr std::size_t kHeaderEpochOffset = 8;
inline constexpr std::size_t kHeaderFirstSeqOffset = 16;
inline constexpr std::size_t kHeaderMaxRecordOffset = 24;
inline constexpr std::size_t kHeaderTermOffset = 28;
inline constexpr std::size_t kHeaderIncarnationOffset = 36;
inline constexpr std::size_t kHeaderUnsyncedLimitOffset = 44;
inline constexpr std::size_t kHeaderHubLengthOffset = 48;
inline constexpr std::size_t kHeaderHubOffset = 50;
inline constexpr std::size_t kCrcBytes = 4;
// A header without hub bytes; a header is kMinHeaderBytes + hub length.
inline constexpr std::size_t kMinHeaderBytes = kHeaderHubOffset + kCrcBytes;
// The header length field is 16 bits wide.
inline constexpr std::size_t kMaxHubBytes = 0xFFFF - kMinHeaderBytes;
// Version 3 offsets (no unsynced_limit).
inline constexpr std::size_t kV3HeaderHubLengthOffset = 44;
inline constexpr std::size_t kV3HeaderHubOffset = 46;
// Version 2 offsets (no term, no incarnation).
inline constexpr std::size_t kV2HeaderHubLengthOffset = 28;
inline constexpr std::size_t kV2HeaderHubOffset = 30;
// Version 1 offsets (no max_record_bytes field either).
inline constexpr std::size_t kV1HeaderHubLengthOffset = 24;
inline constexpr std::size_t kV1HeaderHubOffset = 26;
inline constexpr std::size_t kV1MinHeaderBytes = kV1HeaderHubOffset + kCrcBytes;

// The largest max_record_bytes a writer may use and a version 2 header may claim. A reader
// buffers a whole record, so a header claiming more is refused as corruption rather than
// trusted with the size of an allocation.
inline constexpr std::uint32_t kMaxRecordBytesCap = 1u << 30;
// The limit version 1 segments, which do not record theirs, are read with unless the reader is
// told another (the writer's LogOptions::max_record_bytes default).
inline constexpr std::uint32_t kDefaultMaxRecordBytes = LogOptions{}.max_record_bytes;

// Record header field offsets.
inline constexpr std::size_t kRecordLengthOffset = 4;
inline constexpr std::size_t kRecordTypeOffset = 8;
inline constexpr std::size_t kRecordSeqOffset = 9;
inline constexpr std::size_t kRecordHeaderBytes = 17;
inline constexpr std::uint8_t kRecordTypeEvent = 1;

inline constexpr std::size_t kSegmentNameDigits = 20;
inline constexpr std::string_view kSegmentSuffix = ".log";
// A segment's name + this: the new header of an empty last segment being replaced (not a
// segment's name, so readers ignore it).
inline constexpr std::string_view kSegmentTempSuffix = ".tmp";

// Little-endian encoding of fixed-width integers at p (unaligned access is fine).
void put_u16(char* p, std::uint16_t v);
void put_u32(char* p, std::uint32_t v);
void put_u64(char* p, std::uint64_t v);
std::uint16_t get_u16(const char* p);
std::uint32_t get_u32(const char* p);
std::uint64_t get_u64(const char* p);

struct SegmentHeader {
  std::uint64_t epoch = 0;
  std::uint64_t first_seq = 0;
  std::string hub;
  // No record of the segment has a longer payload. Read from a version 2 header; for a
  // version 1 header, the limit the reader was given for such segments.
  std::uint32_t max_record_bytes = kDefaultMaxRecordBytes;
  // The writer's term and incarnation (docs/LOG_FORMAT.md section 3.1); 0 in a header of
  // version 1 or 2.
  std::uint64_t term = 0;
  std::uint64_t incarnation = 0;
  // Version 4: 0, or the segment may hold zeros after its last record and its writer never had
  // more than this many bytes written past its last completed fdatasync (docs/LOG_FORMAT.md
  // section 7.3). 0 in a header of an earlier version.
  std::uint32_t unsynced_limit = 0;
  std::uint16_t version = kFormatVersion;  // as read; only kFormatVersion is ever written
};

// The header's bytes in version kFormatVersion, CRC included (header.version is not read).
// Preconditions: header.hub.size() <= kMaxHubBytes, 1 <= max_record_bytes <= kMaxRecordBytesCap.
std::string encode_segment_header(const SegmentHeader& header);

// The fields of a record header, decoded from 17 bytes without any check.
struct RecordHeader {
  std::uint32_t masked_crc = 0;
  std::uint32_t length = 0;
  std::uint8_t type = 0;
  std::uint64_t seq = 0;
};
RecordHeader decode_record_header(const char* p);

// The unmasked CRC a record must carry: over record[4, 17) (length, type, seq) and then the
// payload. `record` points at the record's first byte; its CRC field is not read.
std::uint32_t record_crc(const char* record, const char* payload, std::size_t length);

// Writes the record (seq, payload) of type event, CRC included, to out[0, 17 + payload.size()).
// Precondition: 1 <= payload.size() <= UINT32_MAX.
void encode_record(std::uint64_t seq, std::string_view payload, char* out);

// "%020llu.log" of first_seq.
std::string segment_file_name(std::uint64_t first_seq);
// The first_seq a segment file name encodes, or nullopt if `name` is not a segment's name.
std::optional<std::uint64_t> parse_segment_file_name(std::string_view name);

struct SegmentName {
  std::uint64_t first_seq = 0;  // as the file name says
  std::string name;
};
// The segment files in `dir`, in sequence order. kNotFound if `dir` does not exist; kIoError if
// it cannot be listed.
Result<std::vector<SegmentName>> list_segments(const std::string& dir);

}  // namespace procreg::replay
