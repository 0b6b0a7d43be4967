#include "log/log_format.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "log/crc32c.h"

namespace procreg::replay {
namespace {

// Byte-wise so the encoding is little-endian whatever the host; compilers fold it into a move.
template <typename T>
void put_le(char* p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    p[i] = static_cast<char>(static_cast<unsigned char>(v >> (8 * i)));
  }
}

template <typename T>
T get_le(const char* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  }
  return static_cast<T>(v);
}

}  // namespace

void put_u16(char* p, std::uint16_t v) { put_le(p, v); }
void put_u32(char* p, std::uint32_t v) { put_le(p, v); }
void put_u64(char* p, std::uint64_t v) { put_le(p, v); }
std::uint16_t get_u16(const char* p) { return get_le<std::uint16_t>(p); }
std::uint32_t get_u32(const char* p) { return get_le<std::uint32_t>(p); }
std::uint64_t get_u64(const char* p) { return get_le<std::uint64_t>(p); }

std::string encode_segment_header(const SegmentHeader& header) {
  const std::size_t length = kMinHeaderBytes + header.hub.size();
  std::string out(length, '\0');
  char* p = out.data();
  kSegmentMagic.copy(p, kSegmentMagic.size());
  put_u16(p + kHeaderVersionOffset, kFormatVersion);
  put_u16(p + kHeaderLengthOffset, static_cast<std::uint16_t>(length));
  put_u64(p + kHeaderEpochOffset, header.epoch);
  put_u64(p + kHeaderFirstSeqOffset, header.first_seq);
  put_u32(p + kHeaderMaxRecordOffset, header.max_record_bytes);
  put_u64(p + kHeaderTermOffset, header.term);
  put_u64(p + kHeaderIncarnationOffset, header.incarnation);
  put_u32(p + kHeaderUnsyncedLimitOffset, header.unsynced_limit);
  put_u16(p + kHeaderHubLengthOffset, static_cast<std::uint16_t>(header.hub.size()));
  header.hub.copy(p + kHeaderHubOffset, header.hub.size());
  const std::size_t crc_offset = length - kCrcBytes;
  put_u32(p + crc_offset, crc32c::mask(crc32c::value(p, crc_offset)));
  return out;
}

RecordHeader decode_record_header(const char* p) {
  RecordHeader h;
  h.masked_crc = get_u32(p);
  h.length = get_u32(p + kRecordLengthOffset);
  h.type = static_cast<std::uint8_t>(p[kRecordTypeOffset]);
  h.seq = get_u64(p + kRecordSeqOffset);
  return h;
}

std::uint32_t record_crc(const char* record, const char* payload, std::size_t length) {
  const std::uint32_t crc =
      crc32c::value(record + kRecordLengthOffset, kRecordHeaderBytes - kRecordLengthOffset);
  return crc32c::extend(crc, payload, length);
}

void encode_record(std::uint64_t seq, std::string_view payload, char* out) {
  put_u32(out + kRecordLengthOffset, static_cast<std::uint32_t>(payload.size()));
  out[kRecordTypeOffset] = static_cast<char>(kRecordTypeEvent);
  put_u64(out + kRecordSeqOffset, seq);
  char* body = out + kRecordHeaderBytes;
  std::memcpy(body, payload.data(), payload.size());
  put_u32(out, crc32c::mask(record_crc(out, body, payload.size())));
}

std::string segment_file_name(std::uint64_t first_seq) {
  std::array<char, kSegmentNameDigits + kSegmentSuffix.size() + 1> name;
  std::snprintf(name.data(), name.size(), "%020llu.log",
                static_cast<unsigned long long>(first_seq));
  return name.data();
}

std::optional<std::uint64_t> parse_segment_file_name(std::string_view name) {
  if (name.size() != kSegmentNameDigits + kSegmentSuffix.size() ||
      name.substr(kSegmentNameDigits) != kSegmentSuffix) {
    return std::nullopt;
  }
  const std::string_view digits = name.substr(0, kSegmentNameDigits);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t seq = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return seq;
}

Result<std::vector<SegmentName>> list_segments(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) {
    return Status::not_found("no log directory " + dir);
  }
  std::vector<SegmentName> segments;
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (auto seq = parse_segment_file_name(name)) segments.push_back({*seq, std::move(name)});
  }
  if (ec) return Status::io_error("cannot list log directory " + dir + ": " + ec.message());
  std::sort(segments.begin(), segments.end(),
            [](const SegmentName& a, const SegmentName& b) { return a.first_seq < b.first_seq; });
  return segments;
}

}  // namespace procreg::replay
