// The writer side of the log: Log::open (recovery or creation), append, roll, sync, close.
#include "log/log.h"

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <random>
#include <utility>

#include "log/durability_tracker.h"
#include "log/file_util.h"
#include "log/log_format.h"
#include "log/log_recovery.h"
#include "log/segment_reader.h"
#include "log/segment_writer.h"

namespace procreg::replay {
namespace {

// append_many writes at most about this much with one write(2) (plus the record that crosses
// it), so that its buffer (kept for the next append) stays small whatever the batch.
constexpr std::size_t kMaxWriteBytes = 4u << 20;
// The longest zero fill LogOptions::zero_fill_bytes may ask for.
constexpr std::uint64_t kMaxZeroFillBytes = 1ull << 30;

}  // namespace

struct Log::Impl {
  std::string dir;
  std::string hub;
  LogOptions options;
  UniqueFd dir_lock;  // holds the directory's flock; also the descriptor to fsync it
  std::uint64_t epoch = 0;
  std::uint64_t term = 0;
  std::uint64_t incarnation = 0;       // random, nonzero, this open's
  std::uint64_t start_seq = 1;         // the first seq this incarnation appends
  std::uint64_t prev_incarnation = 0;  // the incarnation of record start_seq - 1 (0: none)
  bool incarnation_started = true;     // this incarnation's segment exists (a new log's does)
  RecoveryReport recovery;
  std::vector<SegmentInfo> segments;
  std::shared_ptr<SegmentWriter> active;  // the last segment
  std::uint64_t last_seq = 0;
  std::vector<char> record;  // encoded records of one write, reused; only ever grows
  std::unique_ptr<DurabilityTracker> durability;
  bool closed = false;
  Status close_status;

  SegmentHeader header_at(std::uint64_t first_seq) const {
    SegmentHeader h{epoch, first_seq, hub, options.max_record_bytes};
    h.term = term;
    h.incarnation = incarnation;
    h.unsynced_limit = unsynced_limit();
    return h;
  }
  // Segments are zero-filled when records are synced (docs/LOG_FORMAT.md section 5). The limit
  // is the largest single write, so a sync before a write always keeps within it.
  std::uint64_t zero_fill() const {
    return options.durability == Durability::kNone ? 0 : options.zero_fill_bytes;
  }
  std::uint32_t unsynced_limit() const {
    if (zero_fill() == 0) return 0;
    return static_cast<std::uint32_t>(kMaxWriteBytes + kRecordHeaderBytes +
                                      options.max_record_bytes);
  }
  Status create_first_segment();
  Status resume(RecoveredLog recovered);
  // Takes the term (LogOptions::term) against the log's, and finds the incarnation of the
  // last record.
  Status take_term(const RecoveredLog& recovered);
  // Gives this incarnation a segment of its own (see Log::open).
  // Each step below sets *intact (if given) when it failed but left every file as it was.
  Status start_incarnation(bool* intact = nullptr);
  bool roll_due() const;
  Status roll(bool* intact = nullptr);
  // Writes the first `bytes` of `record` (encoded records) to the active segment.
  Status write_records(std::size_t bytes, bool* intact);
  // A failed write: poisons the log, or, when the files are as before the call, refuses the
  // call only (counted in write_failures): the log takes writes again once there is room.
  Status fail(Status error);
  Status refuse(const Status& error);
  std::atomic<std::uint64_t> write_failures{0};
};

namespace {

Status check_open_arguments(const std::string& hub, const LogOptions& options) {
  if (hub.empty() || hub.size() > kMaxHubBytes) {
    return Status::invalid_argument("hub id must be 1 to " + std::to_string(kMaxHubBytes) +
                                    " bytes, got " + std::to_string(hub.size()));
  }
  if (options.max_record_bytes == 0 || options.max_record_bytes > kMaxRecordBytesCap) {
    return Status::invalid_argument("max_record_bytes must be 1 to " +
                                    std::to_string(kMaxRecordBytesCap) + ", got " +
                                    std::to_string(options.max_record_bytes));
  }
  if (options.group_commit_interval.count() < 0) {
    return Status::invalid_argument("group_commit_interval must not be negative");
  }
  if (options.zero_fill_bytes > kMaxZeroFillBytes) {
    return Status::invalid_argument("zero_fill_bytes must be at most " +
                                    std::to_string(kMaxZeroFillBytes) + ", got " +
                                    std::to_string(options.zero_fill_bytes));
  }
  return Status();
}

// A random nonzero number: a new log's epoch (its identity, so readers can tell histories
// apart), or a writer incarnation's id.
Result<std::uint64_t> random_nonzero() {
  try {
    std::random_device device;
    for (int attempt = 0; attempt < 8; ++attempt) {  // zero is one value in 2^64
      const std::uint64_t epoch = (std::uint64_t{device()} << 32) | device();
      if (epoch != 0) return epoch;
    }
  } catch (const std::exception& e) {
    return Status::io_error(std::string("no random source for the log epoch: ") + e.what());
  }
  return Status::io_error("the random source keeps returning zero");
}

void set_intact(bool* intact, bool value) {
  if (intact != nullptr) *intact = value;
}

}  // namespace

Status Log::Impl::create_first_segment() {
  auto new_epoch = random_nonzero();
  if (!new_epoch.ok()) return new_epoch.status();
  epoch = *new_epoch;
  term = std::max<std::uint64_t>(options.term, 1);
  auto segment = SegmentWriter::create(dir_lock.get(), dir, header_at(1), false, zero_fill());
  if (!segment.ok()) return segment.status();
  active = std::move(*segment);
  segments = {SegmentInfo{active->name(), 1, 0, active->size()}};
  last_seq = 0;
  recovery.created = true;
  recovery.last_seq = 0;
  return Status();
}

Status Log::Impl::resume(RecoveredLog recovered) {
  epoch = recovered.identity.epoch;
  if (Status s = take_term(recovered); !s.ok()) return s;
  segments = std::move(recovered.segments);
  last_seq = recovered.report.last_seq;
  start_seq = last_seq + 1;
  auto segment = SegmentWriter::open(dir, segments.back().name);
  if (!segment.ok()) return segment.status();
  active = std::move(*segment);
  // The recovered records may still be only in the page cache (a crash of a kNone writer);
  // sync once so that durable_seq() can start at last_seq.
  Status s = active->sync();
  if (!s.ok()) return s;
  // A new term is written down at once (a writer promoted and restarted before its first write
  // must come back at that term), and so is the header of an empty last segment (no reader may
  // have opened the old one yet). Otherwise the incarnation's segment comes with its first
  // append, so that opening a log changes nothing.
  if (term > recovered.last.term || segments.back().last_seq == 0) return start_incarnation();
  incarnation_started = false;
  return Status();
}

Status Log::Impl::take_term(const RecoveredLog& recovered) {
  // Terms never decrease along the log, so the last segment's is the log's.
  const std::uint64_t log_term = recovered.last.term;
  if (options.term != 0 && options.term < log_term) {
    return Status::conflict("log " + dir + " is at term " + std::to_string(log_term) +
                            ": a writer of term " + std::to_string(options.term) +
                            " is fenced and may not append");
  }
  term = std::max<std::uint64_t>({options.term, log_term, 1});
  // The incarnation that wrote the last record: its segment's.
  for (auto it = recovered.segments.rbegin(); it != recovered.segments.rend(); ++it) {
    if (it->last_seq == 0) continue;
    if (it->name == recovered.segments.back().name) {
      prev_incarnation = recovered.last.incarnation;
      break;
    }
    auto header = read_segment_header(dir, it->name);
    if (!header.ok()) return header.status();
    prev_incarnation = header->incarnation;
    break;
  }
  return Status();
}

Status Log::Impl::start_incarnation(bool* intact) {
  // Each incarnation writes segments of its own, their headers naming it, so that a reader can
  // tell the incarnation (and term) of every record; and readers read a segment with the limit
  // its header records. So the writer never appends to a segment it did not create: it rolls,
  // or replaces the header of an empty last segment.
  if (segments.back().last_seq != 0) {
    Status s = roll(intact);
    incarnation_started = s.ok();
    return s;
  }
  // An empty segment cannot roll (its successor would have its name): replace its header.
  auto replaced = SegmentWriter::create(dir_lock.get(), dir, header_at(segments.back().first_seq),
                                        true, zero_fill());
  if (!replaced.ok()) {
    set_intact(intact, true);  // create() removed what it wrote; the old header stays
    return replaced.status();
  }
  if (durability) durability->switch_segment(*replaced, last_seq);  // none yet during open()
  active = std::move(*replaced);
  segments.back().bytes = active->size();
  incarnation_started = true;
  return Status();
}

Result<std::unique_ptr<Log>> Log::open(const std::string& dir, const std::string& hub,
                                       const LogOptions& options) {
  Status s = check_open_arguments(hub, options);
  if (s.ok()) s = create_directories(dir);
  if (!s.ok()) return s;
  auto lock = lock_directory(dir);
  if (!lock.ok()) return lock.status();
  // A header replaced under "<segment>.tmp" and cut short by a crash: the segment itself is
  // intact (the rename never happened), the temporary file is garbage.
  auto temps = remove_files(dir, [](std::string_view name) {
    if (name.size() <= kSegmentTempSuffix.size() || !name.ends_with(kSegmentTempSuffix)) {
      return false;
    }
    name.remove_suffix(kSegmentTempSuffix.size());
    return parse_segment_file_name(name).has_value();
  });
  if (!temps.ok()) return temps.status();
  // A version 1 segment does not record its writer's limit: it was this writer's, as before.
  auto recovered = recover_log(lock->get(), dir, hub, options.max_record_bytes);
  if (!recovered.ok()) return recovered.status();

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->hub = hub;
  impl->options = options;
  impl->dir_lock = std::move(*lock);
  impl->recovery = recovered->report;
  auto incarnation = random_nonzero();
  if (!incarnation.ok()) return incarnation.status();
  impl->incarnation = *incarnation;
  s = recovered->segments.empty() ? impl->create_first_segment()
                                  : impl->resume(std::move(*recovered));
  if (!s.ok()) return s;
  impl->durability = std::make_unique<DurabilityTracker>(
      options.durability, options.group_commit_interval, impl->last_seq, impl->active);
  s = impl->durability->start();
  if (!s.ok()) return s;
  return std::unique_ptr<Log>(new Log(std::move(impl)));
}

Log::Log(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Log::~Log() { (void)close(); }

std::uint64_t Log::epoch() const { return impl_->epoch; }
std::uint64_t Log::term() const { return impl_->term; }
std::uint64_t Log::incarnation() const { return impl_->incarnation; }
std::uint64_t Log::start_seq() const { return impl_->start_seq; }
std::uint64_t Log::prev_incarnation() const { return impl_->prev_incarnation; }
const std::string& Log::hub() const { return impl_->hub; }
std::uint64_t Log::last_seq() const { return impl_->last_seq; }
const RecoveryReport& Log::recovery() const { return impl_->recovery; }
std::vector<SegmentInfo> Log::segments() const { return impl_->segments; }

Status Log::append(std::uint64_t seq, std::string_view payload) {
  return append_many(seq, std::span<const std::string_view>(&payload, 1));
}

Status Log::append_many(std::uint64_t first_seq, std::span<const std::string_view> payloads,
                        bool sync_follows) {
  Impl& d = *impl_;
  if (d.closed) return Status::unavailable("log " + d.dir + " is closed");
  if (Status failed = d.durability->failure(); !failed.ok()) return failed;
  if (payloads.empty()) return Status::invalid_argument("append of no record");
  if (first_seq != d.last_seq + 1) {
    return Status::invalid_argument("append of seq " + std::to_string(first_seq) + ", expected " +
                                    std::to_string(d.last_seq + 1));
  }
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const std::string_view payload = payloads[i];
    if (payload.empty()) {
      return Status::invalid_argument("empty record payload (seq " + std::to_string(first_seq + i) +
                                      ")");
    }
    if (payload.size() > d.options.max_record_bytes) {
      return Status::resource_exhausted("record payload of " + std::to_string(payload.size()) +
                                        " bytes (seq " + std::to_string(first_seq + i) +
                                        ") exceeds max_record_bytes " +
                                        std::to_string(d.options.max_record_bytes));
    }
  }
  // A failed step that left the files as they were, before anything of this call reached the
  // log, refuses the call only; any other failure poisons the log.
  const std::uint64_t before = d.last_seq;
  bool intact = false;
  const auto give_up = [&](Status s) {
    return intact && d.last_seq == before ? d.refuse(s) : d.fail(std::move(s));
  };
  if (!d.incarnation_started) {
    if (Status s = d.start_incarnation(&intact); !s.ok()) return give_up(std::move(s));
  }
  std::size_t next = 0;
  while (next < payloads.size()) {
    if (d.roll_due()) {
      if (Status s = d.roll(&intact); !s.ok()) return give_up(std::move(s));
    }
    // The records up to the one that brings the segment to segment_bytes: one write.
    std::size_t used = 0;
    std::uint64_t projected = d.active->size();
    do {
      const std::string_view payload = payloads[next];
      const std::size_t size = kRecordHeaderBytes + payload.size();
      if (d.record.size() < used + size) d.record.resize(used + size);
      encode_record(first_seq + next, payload, d.record.data() + used);
      used += size;
      projected += size;
      ++next;
    } while (next < payloads.size() && projected < d.options.segment_bytes &&
             used < kMaxWriteBytes);
    if (Status s = d.write_records(used, &intact); !s.ok()) return give_up(std::move(s));
    const std::uint64_t last = first_seq + next - 1;
    d.last_seq = last;
    d.segments.back().last_seq = last;
    d.segments.back().bytes = d.active->size();
    d.durability->written(last, sync_follows);
    if (d.options.durability == Durability::kSyncEach) d.durability->synced(last);
  }
  return Status();
}

bool Log::Impl::roll_due() const {
  // An empty segment never rolls: its successor would have the same first_seq and name.
  return active->size() >= options.segment_bytes && segments.back().last_seq != 0;
}

Status Log::Impl::roll(bool* intact) {
  // Recovery accepts a torn end (and zero fill) only in the last segment, so the old segment
  // must be entirely on disk, ending at its last record, before a newer segment exists.
  Status s = active->seal();
  if (!s.ok()) return s;  // a failed fdatasync: the kernel may have dropped the pages
  auto next =
      SegmentWriter::create(dir_lock.get(), dir, header_at(last_seq + 1), false, zero_fill());
  if (!next.ok()) {
    set_intact(intact, true);  // create() removed what it wrote; the old segment is synced
    return next.status();
  }
  if (durability) durability->switch_segment(*next, last_seq);  // none yet during open()
  active = std::move(*next);
  segments.push_back(SegmentInfo{active->name(), last_seq + 1, 0, active->size()});
  return Status();
}

Status Log::Impl::write_records(std::size_t bytes, bool* intact) {
  const std::uint64_t before = active->size();
  if (active->must_sync_before(bytes)) {
    // Far ahead of the syncs (large writes while one is slow): a reader tells an unfinished
    // write from damage by this bound, so wait for the disk here.
    if (Status s = active->sync(); !s.ok()) return s;
    durability->synced(last_seq);
  }
  Status s = active->append(record.data(), bytes, intact);
  if (!s.ok() || options.durability != Durability::kSyncEach) return s;
  s = active->sync();
  if (s.ok()) return s;
  // The append reports failure, so take the records back (they may or may not be on disk).
  Status cut = active->truncate(before);
  if (!cut.ok()) {
    return Status::io_error(s.message() + "; cutting the records failed: " + cut.message());
  }
  return s;
}

Status Log::Impl::fail(Status error) {
  durability->fail(error);
  return error;
}

Status Log::Impl::refuse(const Status& error) {
  write_failures.fetch_add(1, std::memory_order_relaxed);
  return Status::io_error(error.message() +
                          "; nothing was written, and the log takes writes again once the "
                          "cause (a full disk?) is gone");
}

Status Log::sync() {
  Impl& d = *impl_;
  if (d.closed) return Status::unavailable("log " + d.dir + " is closed");
  if (Status failed = d.durability->failure(); !failed.ok()) return failed;
  if (Status s = d.active->sync(); !s.ok()) return d.fail(std::move(s));
  d.durability->synced(d.last_seq);
  return Status();
}

bool Log::sync_if_idle() { return claim_inline_sync() && sync_claimed(); }

bool Log::claim_inline_sync() {
  Impl& d = *impl_;
  return !d.closed && d.durability->claim_inline_sync();
}

bool Log::sync_claimed() {
  Impl& d = *impl_;
  Status s = d.active->sync();
  const bool ok = s.ok();
  if (ok) {
    d.durability->synced(d.last_seq);
  } else {
    (void)d.fail(std::move(s));  // poisons the log: every waiter gets the error
  }
  d.durability->end_inline_sync();
  return ok;
}

std::vector<std::string> Log::compactable(std::uint64_t covered_seq) const {
  const Impl& d = *impl_;
  std::vector<std::string> names;
  if (d.closed) return names;
  std::size_t newest_with_record = 0;
  for (std::size_t i = 0; i < d.segments.size(); ++i) {
    if (d.segments[i].last_seq != 0) newest_with_record = i;
  }
  // Segment n holds first_seq .. (the next one's first_seq - 1).
  for (std::size_t n = 0; n + 1 < d.segments.size() && n < newest_with_record; ++n) {
    if (d.segments[n + 1].first_seq - 1 > covered_seq) break;
    names.push_back(d.segments[n].name);
  }
  return names;
}

void Log::forget_oldest(std::size_t n) {
  Impl& d = *impl_;
  n = std::min(n, d.segments.size() - 1);  // the active segment always stays
  d.segments.erase(d.segments.begin(), d.segments.begin() + static_cast<std::ptrdiff_t>(n));
}

Result<std::size_t> remove_segments(const std::string& dir, const std::vector<std::string>& names,
                                    const std::string& archive_dir) {
  auto dir_fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!dir_fd.ok()) return dir_fd.status();
  UniqueFd archive_fd;
  std::size_t done = 0;
  for (const std::string& name : names) {
    Status s;
    if (archive_dir.empty()) {
      s = remove_and_sync_dir(dir_fd->get(), dir, name);
    } else {
      if (!archive_fd.valid()) {
        s = create_directories(archive_dir);
        if (s.ok()) {
          auto fd = open_file(archive_dir, O_RDONLY | O_DIRECTORY);
          if (fd.ok())
            archive_fd = std::move(*fd);
          else
            s = fd.status();
        }
      }
      if (s.ok()) {
        const std::string from = dir + "/" + name;
        const std::string to = archive_dir + "/" + name;
        if (std::rename(from.c_str(), to.c_str()) != 0) s = io_error("rename", from, errno);
      }
      if (s.ok()) s = sync_all(archive_fd.get(), archive_dir);
      if (s.ok()) s = sync_all(dir_fd->get(), dir);
    }
    if (!s.ok()) return s;
    ++done;
  }
  return done;
}

SyncStats Log::sync_stats() const { return impl_->durability->sync_stats(); }

Status Log::failure() const { return impl_->durability->failure(); }

std::uint64_t Log::write_failures() const {
  return impl_->write_failures.load(std::memory_order_relaxed);
}

std::uint64_t Log::durable_seq() const { return impl_->durability->durable_seq(); }

std::uint64_t Log::local_durable_seq() const { return impl_->durability->local_durable_seq(); }

std::uint64_t Log::written_seq() const { return impl_->durability->written_seq(); }

int Log::local_wake_fd() { return impl_->durability->wake_fd(); }

void Log::arm_local_wake() { impl_->durability->arm_wake(); }

void Log::gate_replication() { impl_->durability->gate_replication(); }

void Log::replicated(std::uint64_t seq) { impl_->durability->replicated(seq); }

void Log::gate_permit(std::function<bool()> held) {
  impl_->durability->gate_permit(std::move(held));
}

void Log::permit_changed() { impl_->durability->permit_changed(); }

void Log::on_durable(std::function<void()> listener) {
  impl_->durability->set_listener(std::move(listener));
}

Status Log::wait_durable(std::uint64_t seq, std::chrono::steady_clock::time_point deadline) {
  return impl_->durability->wait_durable(seq, deadline);
}

Status Log::close() {
  Impl& d = *impl_;
  if (d.closed) return d.close_status;
  d.durability->stop_syncer();
  Status s = d.durability->failure();
  if (s.ok()) {
    s = d.active->seal();
    if (s.ok()) {
      d.durability->synced(d.last_seq);
    } else {
      d.durability->fail(s);
    }
  }
  d.durability->close();
  d.active.reset();
  d.dir_lock.reset();
  d.closed = true;
  d.close_status = s;
  return s;
}

std::string RecoveryReport::to_string() const {
  std::string out = created ? "created a new log" : "opened the log";
  out += "; last seq " + std::to_string(last_seq);
  if (truncated_tail) {
    out += removed_tail_segment ? "; removed segment " + tail_segment + " (its header is torn, "
                                : "; cut a torn tail off " + tail_segment + " at offset " +
                                      std::to_string(tail_offset) + " (";
    out += std::to_string(tail_bytes_dropped) + " bytes dropped)";
  }
  if (zero_fill_bytes_cut > 0) {
    out += "; cut " + std::to_string(zero_fill_bytes_cut) + " bytes of zero fill off " +
           zero_fill_segment;
  }
  return out;
}

}  // namespace procreg::replay
