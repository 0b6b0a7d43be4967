// Replay decodes and applies on the calling thread. (A two-thread pipeline, decoding on one
// thread and applying on the other, replays faster, but leaves each row's strings in another
// malloc arena than the row itself, which makes every later lookup slower; lookups outlive
// replay, so the rows stay where one thread puts them. docs/PERFORMANCE.md has the figures.)
#include "replay/replay.h"

#include <algorithm>
#include <filesystem>
#include <memory>

#include "events/codec.h"
#include "events/row_scan.h"
#include "log/log.h"
#include "log/log_format.h"
#include "log/log_reader.h"

namespace procreg::replay {

namespace {

Status wrong_event(const LogRecord& record, std::uint64_t seq, std::uint64_t epoch) {
  return Status::corruption("record " + std::to_string(record.seq) + " in " + record.segment +
                            " holds event " + std::to_string(seq) + " of epoch " +
                            std::to_string(epoch));
}

// Each applies the event of `record`, or sets *stop if it is later than upto_time_ms.
Status apply_scanned(const LogReader& r, const LogRecord& record,
                     const events::ScannedInsert& event,
                     const std::optional<std::int64_t>& upto_time_ms, Projection* projection,
                     bool* stop) {
  if (event.seq != record.seq || event.epoch != r.epoch()) {
    return wrong_event(record, event.seq, event.epoch);
  }
  *stop = upto_time_ms && event.writer_time_ms > *upto_time_ms;
  return *stop ? Status() : projection->apply(event);
}

Status apply_decoded(const LogReader& r, const LogRecord& record,
                     const events::DecodeLimits& limits,
                     const std::optional<std::int64_t>& upto_time_ms, Projection* projection,
                     bool* stop) {
  auto event = events::decode(record.payload, limits);
  if (!event.ok()) {
    return Status(event.status().code(), "event " + std::to_string(record.seq) + " in " +
                                             record.segment + ": " + event.status().message());
  }
  if (event->seq != record.seq || event->epoch != r.epoch()) {
    return wrong_event(record, event->seq, event->epoch);
  }
  *stop = upto_time_ms && event->writer_time_ms > *upto_time_ms;
  return *stop ? Status() : projection->apply(std::move(*event));
}

// The bytes of the log's segments (0 if they cannot be listed: the reader reports that).
std::uint64_t log_bytes(const std::string& dir) {
  auto segments = list_segments(dir);
  if (!segments.ok()) return 0;
  std::uint64_t total = 0;
  for (const auto& segment : *segments) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(std::filesystem::path(dir) / segment.name, ec);
    if (!ec) total += size;
  }
  return total;
}

// A replay into an empty projection makes room for its rows once, instead of growing the table
// through every power of two (each growth moves every row's slot again): as many rows as the
// log holds records the size of its first insert's. What that over-reserves (a log of updates,
// deletes or larger events) is given back at the end (Projection::shrink_tables).
constexpr std::size_t kRecordHeaderBytes = 17;
// At most 2^22 rows (2^23 slots, 128 MiB while replaying): a log of churn over few rows must not
// reserve for rows it never holds; past that the table grows as rows arrive.
constexpr std::size_t kMaxReservedRows = std::size_t{1} << 22;

void reserve_for_log(const std::string& dir, std::size_t record_payload, std::uint64_t upto_seq,
                     std::string_view table, Projection* projection) {
  std::uint64_t rows = log_bytes(dir) / (record_payload + kRecordHeaderBytes);
  if (upto_seq != 0) rows = std::min(rows, upto_seq);
  projection->reserve_rows(
      table, static_cast<std::size_t>(std::min<std::uint64_t>(rows, kMaxReservedRows)));
}

// Calls the progress callback as replay_log's comment says.
class ProgressReport {
 public:
  explicit ProgressReport(const ReplayProgressFn& fn) : fn_(fn) {}
  void applied(const LogRecord& record) {
    if (!fn_) return;
    const std::uint64_t bytes = kRecordHeaderBytes + record.payload.size();
    ++events_;
    bytes_ += bytes;
    if (record.segment != segment_) segment_ = record.segment;
    end_ = record.offset + bytes;
    seq_ = record.seq;
    if (events_ >= kProgressEvents || bytes_ >= kProgressBytes) report();
  }
  void finish() {
    if (fn_ && events_ > 0) report();
  }

 private:
  void report() {
    events_ = 0;
    bytes_ = 0;
    fn_(segment_, end_, seq_);
  }

  const ReplayProgressFn& fn_;
  std::uint64_t events_ = 0;  // since the last call
  std::uint64_t bytes_ = 0;   // of records, since the last call
  std::string segment_;       // where the last record applied is
  std::uint64_t end_ = 0;
  std::uint64_t seq_ = 0;
};

}  // namespace

Result<ReplayStats> replay_log(const std::string& dir, Projection* projection,
                               std::uint64_t upto_seq, std::uint32_t v1_max_record_bytes,
                               std::optional<std::int64_t> upto_time_ms,
                               const ReplayProgressFn& progress) {
  auto reader = LogReader::open(dir, projection->last_seq() + 1, v1_max_record_bytes);
  if (!reader.ok()) return reader.status();
  LogReader& r = **reader;
  if (r.hub() != projection->hub()) {
    return Status::invalid_argument("log of hub '" + r.hub() + "' replayed into hub '" +
                                    projection->hub() + "'");
  }
  ReplayStats stats;
  LogRecord record;
  events::ScannedInsert scanned;
  const bool fresh = projection->last_seq() == 0;
  ProgressReport report(progress);
  while (upto_seq == 0 || projection->last_seq() < upto_seq) {
    auto more = r.next(&record);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (record.seq <= projection->last_seq()) continue;  // before from_seq, inside a segment
    // The reader bounded the payload by its segment's limit; nothing in it is longer than it.
    const auto length = static_cast<std::uint32_t>(record.payload.size());
    const events::DecodeLimits limits = events::record_limits(length);
    // An insert as procreg writes it is applied from its bytes; anything else is decoded.
    bool stop = false;
    const bool is_insert = events::scan_insert_event(record.payload, limits, &scanned);
    if (fresh && stats.events == 0 && is_insert) {
      reserve_for_log(dir, record.payload.size(), upto_seq, scanned.table, projection);
    }
    Status s = is_insert ? apply_scanned(r, record, scanned, upto_time_ms, projection, &stop)
                         : apply_decoded(r, record, limits, upto_time_ms, projection, &stop);
    if (!s.ok()) {
      if (fresh) projection->shrink_tables();
      return s;
    }
    if (stop) break;
    stats.bytes += record.payload.size();
    ++stats.events;
    report.applied(record);
  }
  report.finish();
  if (fresh) projection->shrink_tables();
  stats.tail_bytes_ignored = r.tail_bytes_ignored();
  return stats;
}

}  // namespace procreg::replay
