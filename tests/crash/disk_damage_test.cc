// Disk damage to a registry's log of several segments, and what opening it does: each case
// checks the outcome docs/LOG_FORMAT.md documents (sections 7, 8 and 10) through the public
// API, as a writer (Registry::open) and read-only (Registry::open_replay). Corruption is
// kCorruption naming the segment, the offset and the last good sequence, from both, with not a
// byte of the directory changed; a torn tail of the last segment is cut by the writer and
// reported, and ignored by a replay.
//
// Truncation at every byte of the last record is tests/replay/log_recovery_test.cc's
// (a_torn_last_record_is_cut_in_a_log_of_several_segments), not repeated here.
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "log/log_format.h"
#include "procreg/registry.h"
#include "replay/log_test_util.h"
#include "replay/snapshot.h"

namespace procreg {
namespace {

using replay::segment_file_name;
using replay::testing::read_bytes;
using replay::testing::record_spans;
using replay::testing::RecordSpan;
using replay::testing::write_bytes;
using testing::TempDir;

constexpr const char* kHub = "damage";
constexpr std::uint64_t kSegmentBytes = 12 << 10;
constexpr std::uint64_t kEvents = 400;
constexpr std::uint64_t kBlock = 4096;

RegistryOptions writer_options(const std::string& dir) {
  RegistryOptions o;
  o.hub = kHub;
  o.log_dir = dir;
  o.local_node = "n1";
  o.log.durability = Durability::kNone;  // the damage is done by hand; no sync needed
  o.log.segment_bytes = kSegmentBytes;
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

std::unique_ptr<Registry> open_writer(const std::string& dir) {
  auto r = Registry::open(writer_options(dir));
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(*r);
}

// kEvents inserts of about 150 bytes each, in segments of kSegmentBytes; with `big_last`, one
// more insert of about 10 KiB (its metadata), the last record of the last segment.
void write_log(const std::string& dir, bool big_last) {
  auto w = open_writer(dir);
  for (std::uint64_t i = 1; i <= kEvents; ++i) {
    InsertOptions o;
    o.metadata = {{"tag", Value("worker")}, {"i", Value(i)}};
    auto seq = w->insert(make_spec("child-" + std::to_string(i % 50)),
                         {{"n" + std::to_string(i % 3), "<0." + std::to_string(i) + ".0>"}}, o);
    BOOST_REQUIRE(seq.ok());
  }
  if (big_last) {
    InsertOptions o;
    o.metadata = {{"blob", Value(std::string(10'000, 'b'))}};
    BOOST_REQUIRE(w->insert(make_spec("big"), {{"n1", "<0.1.1>"}}, o).ok());
  }
}

// One log on disk, its pristine files kept, restored before each case.
class Damage {
 public:
  explicit Damage(bool big_last = false) {
    write_log(tmp_.path(), big_last);
    pristine_ = replay::testing::snapshot(tmp_.path());
    for (const auto& [name, bytes] : pristine_) segments_.push_back(name);
    std::sort(segments_.begin(), segments_.end());
    BOOST_TEST_REQUIRE(segments_.size() >= 5u);
    for (const auto& name : segments_) {
      spans_[name] = record_spans(tmp_.path(), name);
      BOOST_TEST_REQUIRE(!spans_[name].empty());
    }
  }
  const std::string& dir() const { return tmp_.path(); }
  std::string path(const std::string& name) const { return tmp_.file(name); }
  const std::vector<std::string>& segments() const { return segments_; }
  const std::vector<RecordSpan>& spans(const std::string& name) { return spans_.at(name); }
  std::uint64_t last_seq() const { return spans_.at(segments_.back()).back().seq; }
  std::uint64_t last_seq_of(const std::string& name) { return spans_.at(name).back().seq; }
  // The pristine bytes of `name`.
  const std::string& bytes(const std::string& name) const { return pristine_.at(name); }
  void restore() const { replay::testing::restore(tmp_.path(), pristine_); }
  // The state of the undamaged log up to `seq`.
  std::string state_at(std::uint64_t seq) {
    if (states_.count(seq) == 0) {
      restore();
      auto r = Registry::open_replay({dir(), "n1", seq});
      BOOST_REQUIRE(r.ok());
      states_[seq] = dump_text(**r);
    }
    return states_[seq];
  }
  static std::string dump_text(const Registry& r) {
    std::string out;
    for (const auto& [table, rows] : r.dump_all_tables()) {
      for (const auto& [id, e] : rows) {
        out += table + "/" + id + " " + Value(e.metadata).debug_string() + "\n";
        for (const auto& p : e.node_pids) out += "  " + p.node + " " + p.pid + "\n";
      }
    }
    return out;
  }

 private:
  TempDir tmp_;
  std::map<std::string, std::string> pristine_;
  std::vector<std::string> segments_;
  std::map<std::string, std::vector<RecordSpan>> spans_;
  std::map<std::uint64_t, std::string> states_;
};

std::string flip(std::string bytes, std::uint64_t offset, int bit) {
  bytes[offset] = static_cast<char>(bytes[offset] ^ (1 << bit));
  return bytes;
}

std::string zero_block(std::string bytes, std::uint64_t offset, std::uint64_t size) {
  std::fill_n(bytes.begin() + static_cast<std::ptrdiff_t>(offset), size, '\0');
  return bytes;
}

// Both opens fail with kCorruption at (segment, offset, last good seq), mentioning `detail`,
// and the directory is unchanged.
void expect_corruption(const std::string& dir, const std::string& segment, std::uint64_t offset,
                       std::uint64_t last_good, const std::string& detail) {
  const auto before = replay::testing::snapshot(dir);
  const std::string where = "segment " + segment + ", offset " + std::to_string(offset) + ": ";
  const std::string good = "(last good seq " + std::to_string(last_good) + ")";
  auto writer = Registry::open(writer_options(dir));
  auto replayed = Registry::open_replay({dir, "n1", 0});
  for (const Status& s : {writer.status(), replayed.status()}) {
    BOOST_REQUIRE_MESSAGE(s.code() == Code::kCorruption, s.to_string());
    BOOST_TEST_REQUIRE(s.message().find(where) == 0u, s.message() << " does not start " << where);
    BOOST_TEST_REQUIRE(s.message().find(good) != std::string::npos, s.message()
                                                                        << " lacks " << good);
    BOOST_TEST_REQUIRE(s.message().find(detail) != std::string::npos, s.message()
                                                                          << " lacks " << detail);
  }
  BOOST_TEST_REQUIRE((replay::testing::snapshot(dir) == before));
}

// Both opens succeed at `last_seq` with `state`; the writer's report is `report`.
void expect_opens(const std::string& dir, std::uint64_t last_seq, const std::string& state,
                  const std::string& report) {
  auto replayed = Registry::open_replay({dir, "n1", 0});
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST_REQUIRE((*replayed)->last_sequence() == last_seq);
  BOOST_TEST_REQUIRE(Damage::dump_text(**replayed) == state);
  auto writer = open_writer(dir);
  BOOST_TEST_REQUIRE(writer->recovery_report() == report);
  BOOST_TEST_REQUIRE(writer->last_sequence() == last_seq);
  BOOST_TEST_REQUIRE(Damage::dump_text(*writer) == state);
  // The writer carries on after what it recovered.
  auto next = writer->insert(make_spec("after"), {{"n1", "<0.9.9>"}});
  BOOST_REQUIRE_MESSAGE(next.ok(), next.status().to_string());
  BOOST_TEST_REQUIRE(*next == last_seq + 1);
}

std::string clean_open(std::uint64_t last_seq) {
  return "opened the log; last seq " + std::to_string(last_seq);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(disk_damage)

BOOST_AUTO_TEST_CASE(
    a_bit_flip_in_a_middle_record_is_corruption_naming_segment_offset_last_good_seq) {
  Damage log;
  // A record in the middle of a middle segment, and one in the middle of the last segment.
  for (const std::string& name : {log.segments()[2], log.segments().back()}) {
    const RecordSpan target = log.spans(name)[log.spans(name).size() / 2];
    for (std::uint64_t pos = 0; pos < target.size; ++pos) {  // every byte, each bit in turn
      const int bit = static_cast<int>(pos * 3 % 8);
      BOOST_TEST_CONTEXT(name << " record " << target.seq << " byte " << pos << " bit " << bit) {
        log.restore();
        write_bytes(log.path(name), flip(log.bytes(name), target.offset + pos, bit));
        expect_corruption(log.dir(), name, target.offset, target.seq - 1, "");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_zeroed_block_in_the_middle_of_a_segment_is_corruption) {
  Damage log;
  const std::string name = log.segments()[1];
  BOOST_TEST_REQUIRE(log.bytes(name).size() > 2 * kBlock);
  for (std::uint64_t start : {kBlock, std::uint64_t{kBlock + 100}}) {
    BOOST_TEST_CONTEXT("4 KiB zeroed at offset " << start << " of " << name) {
      log.restore();
      write_bytes(log.path(name), zero_block(log.bytes(name), start, kBlock));
      const auto& spans = log.spans(name);
      const auto hit = std::find_if(spans.begin(), spans.end(),
                                    [&](const RecordSpan& r) { return r.offset + r.size > start; });
      BOOST_REQUIRE(hit != spans.end());
      const std::string detail = hit->offset == start ? "record length 0" : "CRC mismatch";
      expect_corruption(log.dir(), name, hit->offset, hit->seq - 1, detail);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_zeroed_block_at_the_tail_inside_the_last_record_is_a_torn_tail) {
  Damage log(/*big_last=*/true);
  const std::string name = log.segments().back();
  const std::string& bytes = log.bytes(name);
  const RecordSpan last = log.spans(name).back();
  BOOST_TEST_REQUIRE(last.size > 2 * kBlock);
  // The file's last 4 KiB-aligned block on, as a file system that never wrote them leaves it.
  const std::uint64_t block = (bytes.size() - 1) / kBlock * kBlock;
  BOOST_TEST_REQUIRE(block > last.offset + replay::kRecordHeaderBytes);
  const std::string state = log.state_at(last.seq - 1);
  write_bytes(log.path(name), zero_block(bytes, block, bytes.size() - block));
  expect_opens(log.dir(), last.seq - 1, state,
               clean_open(last.seq - 1) + "; cut a torn tail off " + name + " at offset " +
                   std::to_string(last.offset) + " (" + std::to_string(last.size) +
                   " bytes dropped)");
  // The tail was cut; "after" went to the new incarnation's segment.
  BOOST_TEST(std::filesystem::file_size(log.path(name)) == last.offset);
  BOOST_TEST(std::filesystem::exists(log.path(replay::segment_file_name(last.seq))));
}

BOOST_AUTO_TEST_CASE(a_zeroed_block_at_the_tail_over_several_records_is_corruption) {
  Damage log;
  const std::string name = log.segments().back();
  const std::string& bytes = log.bytes(name);
  const auto& spans = log.spans(name);
  BOOST_TEST_REQUIRE(bytes.size() > kBlock + 512);
  const std::uint64_t block = bytes.size() - kBlock;  // the last 4 KiB of the file
  const auto hit = std::find_if(spans.begin(), spans.end(),
                                [&](const RecordSpan& r) { return r.offset + r.size > block; });
  BOOST_REQUIRE(hit != spans.end() && hit + 1 != spans.end());
  BOOST_TEST_CONTEXT("zeros from inside record " << hit->seq) {
    BOOST_TEST_REQUIRE(hit->offset < block);
    write_bytes(log.path(name), zero_block(bytes, block, kBlock));
    expect_corruption(log.dir(), name, hit->offset, hit->seq - 1, "record CRC mismatch");
  }
  // Zeros from a record boundary to the end read as never-written space: a torn tail, which
  // takes every record they cover (docs/LOG_FORMAT.md, section 10).
  BOOST_TEST_CONTEXT("zeros from the start of record " << (hit + 1)->seq) {
    const std::uint64_t from = (hit + 1)->offset;
    const std::uint64_t kept = hit->seq;
    const std::string state = log.state_at(kept);
    write_bytes(log.path(name), zero_block(bytes, from, bytes.size() - from));
    expect_opens(log.dir(), kept, state,
                 clean_open(kept) + "; cut a torn tail off " + name + " at offset " +
                     std::to_string(from) + " (" + std::to_string(bytes.size() - from) +
                     " bytes dropped)");
  }
}

BOOST_AUTO_TEST_CASE(a_missing_middle_segment_is_corruption_naming_the_gap) {
  Damage log;
  const auto& s = log.segments();
  std::filesystem::remove(log.path(s[2]));
  expect_corruption(log.dir(), s[3], 0, log.last_seq_of(s[1]),
                    "does not follow the previous segment's last seq " +
                        std::to_string(log.last_seq_of(s[1])) + " (a segment is missing: seqs " +
                        std::to_string(log.last_seq_of(s[1]) + 1) + " to " +
                        std::to_string(log.last_seq_of(s[2])) + ", from " + s[2] + ")");
}

BOOST_AUTO_TEST_CASE(a_missing_last_segment_is_not_detected_and_the_log_ends_before_it) {
  // Documented limitation (docs/LOG_FORMAT.md, section 10): nothing in the earlier segments
  // says that another followed, so the log opens at the previous segment's end.
  Damage log;
  const auto& s = log.segments();
  const std::uint64_t kept = log.last_seq_of(s[s.size() - 2]);
  const std::string state = log.state_at(kept);
  std::filesystem::remove(log.path(s.back()));
  expect_opens(log.dir(), kept, state, clean_open(kept));
  BOOST_TEST(std::filesystem::exists(log.path(s.back())));  // the next segment, rewritten
}

BOOST_AUTO_TEST_CASE(a_missing_first_segment_without_a_snapshot_is_refused) {
  Damage log;
  const auto& s = log.segments();
  std::filesystem::remove(log.path(s[0]));
  const auto before = replay::testing::snapshot(log.dir());
  const std::string gone =
      "starts at seq " + std::to_string(log.last_seq_of(s[0]) + 1) + "; seq 1 is no longer in it";
  // The writer: its log lost its head, which is corruption; a replay: that history is gone.
  auto writer = Registry::open(writer_options(log.dir()));
  auto replayed = Registry::open_replay({log.dir(), "n1", 0});
  BOOST_TEST_REQUIRE(writer.status().code() == Code::kCorruption, writer.status().to_string());
  BOOST_TEST_REQUIRE(replayed.status().code() == Code::kCompacted, replayed.status().to_string());
  for (const Status& st : {writer.status(), replayed.status()}) {
    BOOST_TEST_REQUIRE(st.message().find(gone) != std::string::npos, st.message());
  }
  BOOST_TEST((replay::testing::snapshot(log.dir()) == before));
}

BOOST_AUTO_TEST_CASE(a_missing_first_segment_covered_by_a_snapshot_is_compaction) {
  Damage log;
  const auto& s = log.segments();
  const std::string state = log.state_at(log.last_seq());
  {
    auto w = open_writer(log.dir());
    BOOST_REQUIRE(w->snapshot().ok());
  }
  std::filesystem::remove(log.path(s[0]));
  std::filesystem::remove(log.path(s[1]));
  auto replayed = Registry::open_replay({log.dir(), "n1", 0});
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST(Damage::dump_text(**replayed) == state);
  auto writer = open_writer(log.dir());
  BOOST_TEST(Damage::dump_text(*writer) == state);
  BOOST_TEST(writer->recovery_report().find("started from " +
                                            replay::snapshot_file_name(log.last_seq())) !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(files_that_are_not_segments_are_ignored_and_kept) {
  Damage log;
  const std::string state = log.state_at(log.last_seq());
  const std::vector<std::string> names{"garbage",
                                       "notes.txt",
                                       segment_file_name(1) + ".bak",
                                       "0000000000000000001.log",
                                       "000000000000000000001.log",
                                       "0000000000000000000x.log",
                                       "00000000000000000001.LOG"};
  for (const auto& n : names) write_bytes(log.path(n), "not a segment \x01\x02\x03");
  const auto with_garbage = replay::testing::snapshot(log.dir());
  expect_opens(log.dir(), log.last_seq(), state, clean_open(log.last_seq()));
  for (const auto& n : names) BOOST_TEST(read_bytes(log.path(n)) == with_garbage.at(n));
}

BOOST_AUTO_TEST_CASE(a_garbage_file_with_a_segment_name_is_corruption) {
  Damage log;
  std::string garbage(200, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 37 + 11);
  for (const std::uint64_t seq : {log.last_seq() + 1, log.last_seq() + 50, std::uint64_t{5}}) {
    BOOST_TEST_CONTEXT("garbage named " << segment_file_name(seq)) {
      log.restore();
      write_bytes(log.path(segment_file_name(seq)), garbage);
      // Read in name order: a name past the end comes after every record, "5" after the
      // first segment's.
      const std::uint64_t last_good =
          seq > log.last_seq() ? log.last_seq() : log.last_seq_of(log.segments()[0]);
      expect_corruption(log.dir(), segment_file_name(seq), 0, last_good, "bad segment magic");
    }
  }
}

BOOST_AUTO_TEST_CASE(a_truncated_segment_header_is_a_torn_tail_only_in_the_last_segment) {
  Damage log;
  const auto& s = log.segments();
  const std::size_t header = replay::kMinHeaderBytes + std::string(kHub).size();
  for (const std::size_t keep : {std::size_t{0}, std::size_t{10}, header - 1}) {
    BOOST_TEST_CONTEXT("the first " << keep << " bytes of the header kept") {
      // The last segment: a crash while it was being created; it goes.
      const std::uint64_t kept = log.last_seq_of(s[s.size() - 2]);
      const std::string state = log.state_at(kept);
      log.restore();
      write_bytes(log.path(s.back()), log.bytes(s.back()).substr(0, keep));
      expect_opens(log.dir(), kept, state,
                   clean_open(kept) + "; removed segment " + s.back() + " (its header is torn, " +
                       std::to_string(keep) + " bytes dropped)");
      // A middle or the first segment: corruption.
      for (const std::size_t i : {std::size_t{0}, std::size_t{2}}) {
        log.restore();
        write_bytes(log.path(s[i]), log.bytes(s[i]).substr(0, keep));
        expect_corruption(log.dir(), s[i], 0, i == 0 ? 0 : log.last_seq_of(s[i - 1]),
                          "holds no complete segment header, and this is not the last segment");
      }
    }
  }
}

// ---- Corrupt snapshots -----------------------------------------------------------------
// A damaged snapshot is never used: opening falls back to an older snapshot or to the full
// log, and the report names the file and the damage (docs/LOG_FORMAT.md, "Snapshot files").

// The log with a snapshot at its end; returns the snapshot's path.
std::string snapshot_of(Damage& log) {
  log.restore();
  auto w = open_writer(log.dir());
  auto snap = w->snapshot();
  BOOST_REQUIRE_MESSAGE(snap.ok(), snap.status().to_string());
  return log.path(snap->file);
}

// Both opens give `state`, from the full log; the writer's report says why the snapshot was
// skipped.
void expect_full_replay(Damage& log, const std::string& state, const std::string& why) {
  auto replayed = Registry::open_replay({log.dir(), "n1", 0});
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST_REQUIRE(Damage::dump_text(**replayed) == state);
  auto writer = open_writer(log.dir());
  BOOST_TEST_REQUIRE(Damage::dump_text(*writer) == state);
  const std::string report = writer->recovery_report();
  BOOST_TEST_REQUIRE(report.find("replayed the whole log") != std::string::npos, report);
  BOOST_TEST_REQUIRE(report.find(why) != std::string::npos, report << " lacks " << why);
}

BOOST_AUTO_TEST_CASE(a_snapshot_cut_at_any_byte_or_with_any_byte_flipped_is_not_used) {
  Damage log;
  const std::string state = log.state_at(log.last_seq());
  const std::string path = snapshot_of(log);
  const std::string bytes = read_bytes(path);
  const auto with_snapshot = replay::testing::snapshot(log.dir());
  // Every cut, checked with the reader directly (fast), and a sample through both opens.
  for (std::size_t keep = 0; keep < bytes.size(); ++keep) {
    write_bytes(path, bytes.substr(0, keep));
    auto reader = replay::SnapshotReader::open(path);
    Status s = reader.status();
    if (reader.ok()) {
      std::string row;
      for (;;) {
        auto more = (*reader)->next(&row);
        if (!more.ok()) {
          s = more.status();
          break;
        }
        if (!*more) break;
      }
    }
    BOOST_TEST_REQUIRE(s.code() == Code::kCorruption, "cut at " << keep << ": " << s.to_string());
  }
  for (const std::size_t keep :
       {std::size_t{0}, std::size_t{9}, bytes.size() / 2, bytes.size() - 1}) {
    replay::testing::restore(log.dir(), with_snapshot);
    write_bytes(path, bytes.substr(0, keep));
    expect_full_replay(log, state, "skipped " + replay::snapshot_file_name(log.last_seq()));
  }
  // Every byte flipped (one bit each), through the reader; a sample through the opens.
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    write_bytes(path, flip(bytes, at, static_cast<int>(at % 8)));
    auto loaded = [&] {
      replay::Projection p(kHub, "n1");
      return replay::load_snapshot(path, &p).status();
    }();
    BOOST_TEST_REQUIRE(loaded.code() == Code::kCorruption,
                       "flip at " << at << ": " << loaded.to_string());
  }
  replay::testing::restore(log.dir(), with_snapshot);
  write_bytes(path, flip(bytes, bytes.size() / 2, 3));
  expect_full_replay(log, state, "CRC mismatch");
  // Bytes after the end record.
  replay::testing::restore(log.dir(), with_snapshot);
  write_bytes(path, bytes + "x");
  expect_full_replay(log, state, "bytes after the end record");
}

BOOST_AUTO_TEST_CASE(a_snapshot_of_another_log_or_hub_is_not_used) {
  Damage log;
  const std::string state = log.state_at(log.last_seq());
  const std::string name = replay::snapshot_file_name(log.last_seq());
  // Another log of the same hub (another epoch), with as many events.
  TempDir other;
  write_log(other.path(), false);
  {
    auto w = open_writer(other.path());
    BOOST_REQUIRE(w->snapshot().ok());
  }
  log.restore();
  write_bytes(log.path(name), read_bytes(other.file(name)));
  expect_full_replay(log, state, "of epoch ");
  // Another hub's snapshot.
  TempDir hub;
  {
    RegistryOptions o = writer_options(hub.path());
    o.hub = "another";
    auto w = Registry::open(o);
    BOOST_REQUIRE(w.ok());
    for (std::uint64_t i = 0; i < log.last_seq(); ++i) {
      BOOST_REQUIRE((*w)->insert(make_spec("c" + std::to_string(i)), {{"n1", "p"}}).ok());
    }
    BOOST_REQUIRE((*w)->snapshot().ok());
  }
  log.restore();
  write_bytes(log.path(name), read_bytes(hub.file(name)));
  expect_full_replay(log, state, "is of hub 'another'");
}

BOOST_AUTO_TEST_CASE(a_damaged_newest_snapshot_falls_back_to_the_older_one) {
  Damage log;
  {
    auto w = open_writer(log.dir());
    BOOST_REQUIRE(w->snapshot().ok());
  }
  // One more event, so that a second snapshot exists after the first.
  {
    auto w = open_writer(log.dir());
    BOOST_REQUIRE(w->insert(make_spec("later"), {{"n1", "<0.2.2>"}}).ok());
    BOOST_REQUIRE(w->snapshot().ok());
  }
  const std::string later = log.path(replay::snapshot_file_name(log.last_seq() + 1));
  write_bytes(later, flip(read_bytes(later), 20, 1));
  auto writer = open_writer(log.dir());
  BOOST_TEST(writer->last_sequence() == log.last_seq() + 1);
  BOOST_TEST(writer->lookup("later").has_value());
  const std::string report = writer->recovery_report();
  BOOST_TEST(report.find("started from " + replay::snapshot_file_name(log.last_seq())) !=
                 std::string::npos,
             report);
  BOOST_TEST(
      report.find("skipped " + replay::snapshot_file_name(log.last_seq() + 1)) != std::string::npos,
      report);
}

BOOST_AUTO_TEST_CASE(a_temporary_snapshot_file_is_removed_at_open) {
  Damage log;
  const std::string temp = log.path(replay::snapshot_file_name(log.last_seq()) + ".tmp");
  write_bytes(temp, "half of a snapshot");
  auto writer = open_writer(log.dir());
  BOOST_TEST(!std::filesystem::exists(temp));
  BOOST_TEST(writer->last_sequence() == log.last_seq());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg
