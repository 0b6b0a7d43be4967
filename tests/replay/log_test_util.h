// Helpers shared by the log tests: a temporary directory per test, deterministic payloads,
// whole-file byte access, and hand-built segment bytes for tampering.
#pragma once

#include <stdlib.h>

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "log/crc32c.h"
#include "log/log.h"
#include "log/log_format.h"
#include "log/log_reader.h"
#include "procreg/options.h"
#include "procreg/status.h"
#include "temp_dir.h"

namespace procreg::replay::testing {

inline constexpr const char* kHub = "hub-a";

using procreg::testing::TempDir;

// A deterministic payload for `seq`: sizes vary from 1 byte to 600 bytes, and every 97th
// record is over 64 KiB; the bytes are pseudo-random. `salt` gives another payload.
inline std::string payload_for(std::uint64_t seq, std::uint64_t salt = 0) {
  std::size_t size = 1 + static_cast<std::size_t>((seq * 7919 + salt) % 600);
  if (seq % 97 == 0) size = 65536 + static_cast<std::size_t>(seq % 1000);
  std::string bytes(size, '\0');
  std::uint64_t x = seq * 0x9E3779B97F4A7C15ull + salt + 1;
  for (char& c : bytes) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x & 0xFF);
  }
  return bytes;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in.good(), "cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  BOOST_REQUIRE_MESSAGE(out.good(), "cannot write " + path);
}

// Every file in `dir` by name, with its bytes: to show that nothing was modified.
inline std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files[entry.path().filename().string()] = read_bytes(entry.path().string());
  }
  return files;
}

// Makes `dir` hold exactly `files`.
inline void restore(const std::string& dir, const std::map<std::string, std::string>& files) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::filesystem::remove(entry.path());
  }
  for (const auto& [name, bytes] : files) write_bytes(dir + "/" + name, bytes);
}

inline LogOptions options_with(Durability durability, std::uint64_t segment_bytes = 64ull << 20) {
  LogOptions options;
  options.durability = durability;
  options.segment_bytes = segment_bytes;
  return options;
}

inline std::unique_ptr<Log> open_log(const std::string& dir, const LogOptions& options) {
  auto log = Log::open(dir, kHub, options);
  BOOST_REQUIRE_MESSAGE(log.ok(), log.status().to_string());
  return std::move(*log);
}

inline void append_range(Log& log, std::uint64_t first, std::uint64_t last,
                         std::uint64_t salt = 0) {
  for (std::uint64_t seq = first; seq <= last; ++seq) {
    const Status s = log.append(seq, payload_for(seq, salt));
    BOOST_REQUIRE_MESSAGE(s.ok(), s.to_string());
  }
}

// Every record from from_seq to the end; the reader must end cleanly.
inline std::vector<LogRecord> read_all(const std::string& dir, std::uint64_t from_seq = 1) {
  auto reader = LogReader::open(dir, from_seq);
  BOOST_REQUIRE_MESSAGE(reader.ok(), reader.status().to_string());
  std::vector<LogRecord> records;
  LogRecord record;
  for (;;) {  // ends at the end of the log, which is finite
    auto more = (*reader)->next(&record);
    BOOST_REQUIRE_MESSAGE(more.ok(), more.status().to_string());
    if (!*more) break;
    records.push_back(record);
  }
  return records;
}

// Reads from seq 1 until the reader stops, and returns its error (ok if it ended cleanly).
inline Status reader_error(const std::string& dir) {
  auto reader = LogReader::open(dir);
  if (!reader.ok()) return reader.status();
  LogRecord record;
  for (;;) {  // ends at an error or at the end of the log
    auto more = (*reader)->next(&record);
    if (!more.ok()) return more.status();
    if (!*more) return Status();
  }
}

// The bytes of a record with any type; the CRC is valid for them.
inline std::string record_bytes(std::uint64_t seq, const std::string& payload,
                                std::uint8_t type = kRecordTypeEvent) {
  std::string bytes(kRecordHeaderBytes + payload.size(), '\0');
  encode_record(seq, payload, bytes.data());
  bytes[kRecordTypeOffset] = static_cast<char>(type);
  put_u32(bytes.data(), crc32c::mask(record_crc(bytes.data(), bytes.data() + kRecordHeaderBytes,
                                                payload.size())));
  return bytes;
}

// A segment's records as the log wrote them: (seq, offset, size), in order.
struct RecordSpan {
  std::uint64_t seq;
  std::uint64_t offset;
  std::uint64_t size;
};
inline std::vector<RecordSpan> record_spans(const std::string& dir, const std::string& segment) {
  std::vector<RecordSpan> spans;
  for (const LogRecord& r : read_all(dir)) {
    if (r.segment == segment) {
      spans.push_back({r.seq, r.offset, kRecordHeaderBytes + r.payload.size()});
    }
  }
  return spans;
}

#define PROCREG_REQUIRE_OK(expr)                                              \
  do {                                                                        \
    const ::procreg::Status procreg_status_ = (expr);                         \
    BOOST_REQUIRE_MESSAGE(procreg_status_.ok(), procreg_status_.to_string()); \
  } while (0)

}  // namespace procreg::replay::testing
