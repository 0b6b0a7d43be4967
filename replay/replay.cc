// Replay runs as a two-stage pipeline: a reader thread reads records (CRC-checked by the
// LogReader) and decodes them into events, in batches; the calling thread applies them in
// order. Decoding and applying cost about the same, so the two cores nearly halve the time
// of a long replay. A bounded queue keeps memory flat, and the first error of either stage
// stops both.
#include "replay/replay.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "events/codec.h"
#include "replay/log.h"

namespace procreg::replay {

namespace {

constexpr std::size_t kBatchEvents = 256;
constexpr std::size_t kMaxQueuedBatches = 16;

struct Batch {
  std::vector<Event> events;
  std::uint64_t bytes = 0;
};

// The queue between the two stages. The producer ends it with a final status (ok = the end
// of the log or of the requested range).
class BatchQueue {
 public:
  bool push(Batch batch) {  // false: the consumer stopped
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return batches_.size() < kMaxQueuedBatches || cancelled_; });
    if (cancelled_) return false;
    batches_.push_back(std::move(batch));
    cv_.notify_all();
    return true;
  }
  void finish(Status status) {
    std::lock_guard lock(mu_);
    done_ = true;
    status_ = std::move(status);
    cv_.notify_all();
  }
  // A batch, or nothing when the producer finished (then final_status()).
  std::optional<Batch> pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !batches_.empty() || done_; });
    if (batches_.empty()) return std::nullopt;
    Batch b = std::move(batches_.front());
    batches_.pop_front();
    cv_.notify_all();
    return b;
  }
  void cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  Status final_status() {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> batches_;
  bool done_ = false;
  bool cancelled_ = false;
  Status status_;
};

// The producer: records after `after_seq` up to `upto_seq` (0 = all), decoded and checked.
Status read_and_decode(LogReader& reader, std::uint64_t after_seq, std::uint64_t upto_seq,
                       BatchQueue& queue) {
  LogRecord record;
  Batch batch;
  std::uint64_t last = after_seq;
  while (upto_seq == 0 || last < upto_seq) {
    auto more = reader.next(&record);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (record.seq <= after_seq) continue;  // before from_seq, inside the first segment
    auto event = events::decode(record.payload);
    if (!event.ok()) {
      return Status(event.status().code(), "event " + std::to_string(record.seq) + " in " +
                                               record.segment + ": " + event.status().message());
    }
    if (event->seq != record.seq || event->epoch != reader.epoch()) {
      return Status::corruption("record " + std::to_string(record.seq) + " in " +
                                record.segment + " holds event " + std::to_string(event->seq) +
                                " of epoch " + std::to_string(event->epoch));
    }
    last = record.seq;
    batch.bytes += record.payload.size();
    batch.events.push_back(std::move(*event));
    if (batch.events.size() == kBatchEvents) {
      if (!queue.push(std::move(batch))) return Status();
      batch = Batch{};
    }
  }
  if (!batch.events.empty()) queue.push(std::move(batch));
  return Status();
}

}  // namespace

Result<ReplayStats> replay_log(const std::string& dir, Projection* projection,
                               std::uint64_t upto_seq) {
  auto reader = LogReader::open(dir, projection->last_seq() + 1);
  if (!reader.ok()) return reader.status();
  LogReader& r = **reader;
  if (r.hub() != projection->hub()) {
    return Status::invalid_argument("log of hub '" + r.hub() + "' replayed into hub '" +
                                    projection->hub() + "'");
  }
  BatchQueue queue;
  const std::uint64_t after = projection->last_seq();
  std::thread producer([&] { queue.finish(read_and_decode(r, after, upto_seq, queue)); });
  ReplayStats stats;
  Status failure;
  while (auto batch = queue.pop()) {
    for (auto& event : batch->events) {
      failure = projection->apply(std::move(event));
      if (!failure.ok()) break;
      ++stats.events;
    }
    if (!failure.ok()) break;
    stats.bytes += batch->bytes;
  }
  queue.cancel();
  producer.join();
  if (!failure.ok()) return failure;
  Status read_status = queue.final_status();
  if (!read_status.ok()) return read_status;
  stats.tail_bytes_ignored = r.tail_bytes_ignored();
  return stats;
}

}  // namespace procreg::replay
