// Durability policies, wait_durable(), and what a write error leaves: a refused call, or a
// poisoned log.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "file_size_limit.h"
#include "log/log.h"
#include "log/log_format.h"
#include "replay/log_test_util.h"

namespace procreg::replay {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::append_range;
using testing::open_log;
using testing::options_with;
using testing::read_all;
using testing::read_bytes;
using testing::TempDir;

constexpr auto kGenerous = std::chrono::seconds(20);  // only reached if the code is broken

using ::procreg::testing::FileSizeLimit;  // a full disk, for a scope

LogOptions group_commit(milliseconds interval, std::uint64_t segment_bytes = 64ull << 20) {
  LogOptions options = options_with(Durability::kGroupCommit, segment_bytes);
  options.group_commit_interval = interval;
  return options;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(log_durability_test)

BOOST_AUTO_TEST_CASE(sync_each_and_none_make_an_append_durable_when_it_returns) {
  for (Durability policy : {Durability::kSyncEach, Durability::kNone}) {
    TempDir tmp;
    auto log = open_log(tmp.path(), options_with(policy));
    for (std::uint64_t seq = 1; seq <= 20; ++seq) {
      PROCREG_REQUIRE_OK(log->append(seq, testing::payload_for(seq)));
      BOOST_REQUIRE_EQUAL(log->durable_seq(), seq);
      PROCREG_REQUIRE_OK(log->wait_durable(seq, steady_clock::now()));
    }
    PROCREG_REQUIRE_OK(log->sync());
    BOOST_TEST(log->durable_seq() == 20u);
    const SyncStats stats = log->sync_stats();
    if (policy == Durability::kSyncEach) {  // one sync per record
      BOOST_TEST(stats.syncs == 20u);
      BOOST_TEST(stats.records == 20u);
      BOOST_TEST(stats.largest_group == 1u);
    } else {  // written is durable: no sync made a record durable
      BOOST_TEST(stats.syncs == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(group_commit_makes_an_append_durable_shortly) {
  TempDir tmp;
  auto log = open_log(tmp.path(), group_commit(milliseconds(2)));
  const auto start = steady_clock::now();
  for (std::uint64_t seq = 1; seq <= 20; ++seq) {
    PROCREG_REQUIRE_OK(log->append(seq, testing::payload_for(seq)));
    PROCREG_REQUIRE_OK(log->wait_durable(seq, steady_clock::now() + kGenerous));
    BOOST_REQUIRE_GE(log->durable_seq(), seq);
  }
  BOOST_TEST((steady_clock::now() - start < std::chrono::seconds(5)));
}

BOOST_AUTO_TEST_CASE(group_commit_serves_concurrent_writers_across_rolls) {
  TempDir tmp;
  auto log = open_log(tmp.path(), group_commit(milliseconds(1), 4096));
  constexpr int kThreads = 8;
  constexpr std::uint64_t kPerThread = 150;
  std::mutex writer_lock;  // the Registry's writer lock: append() is serialised
  std::vector<Status> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        std::uint64_t seq = 0;
        {
          std::lock_guard lock(writer_lock);
          seq = log->last_seq() + 1;
          Status s = log->append(seq, testing::payload_for(seq));
          if (!s.ok()) {
            failures[t] = s;
            return;
          }
        }
        Status s = log->wait_durable(seq, steady_clock::now() + kGenerous);
        if (!s.ok()) {
          failures[t] = s;
          return;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const Status& s : failures) BOOST_TEST(s.ok(), s.to_string());
  constexpr std::uint64_t kTotal = kThreads * kPerThread;
  BOOST_TEST(log->durable_seq() == kTotal);
  BOOST_TEST(log->segments().size() > 10u);
  // Groups: each sync covered at least one record, none more than were written.
  const SyncStats stats = log->sync_stats();
  BOOST_TEST(stats.syncs >= 1u);
  BOOST_TEST(stats.syncs <= stats.records);
  BOOST_TEST(stats.records <= kTotal);
  BOOST_TEST(stats.largest_group >= 1u);
  BOOST_TEST(stats.largest_group <= kTotal);
  PROCREG_REQUIRE_OK(log->close());
  BOOST_TEST(read_all(tmp.path()).size() == kTotal);
}

BOOST_AUTO_TEST_CASE(group_commit_syncs_at_most_once_per_interval_and_sync_is_immediate) {
  TempDir tmp;
  auto log = open_log(tmp.path(), group_commit(std::chrono::hours(1)));
  PROCREG_REQUIRE_OK(log->append(1, "first"));  // the first sync after idle is not delayed
  PROCREG_REQUIRE_OK(log->wait_durable(1, steady_clock::now() + kGenerous));
  PROCREG_REQUIRE_OK(log->append(2, "second"));  // its sync waits out the interval ...
  const Status waited = log->wait_durable(2, steady_clock::now() + milliseconds(50));
  BOOST_TEST(waited.code() == Code::kTimeout);
  BOOST_TEST(log->durable_seq() == 1u);
  PROCREG_REQUIRE_OK(log->sync());  // ... unless the writer syncs itself
  BOOST_TEST(log->durable_seq() == 2u);
  const auto start = steady_clock::now();
  PROCREG_REQUIRE_OK(log->close());  // does not wait for the interval either
  BOOST_TEST((steady_clock::now() - start < std::chrono::seconds(5)));
}

BOOST_AUTO_TEST_CASE(wait_durable_times_out_when_nothing_is_appended) {
  for (Durability policy : {Durability::kGroupCommit, Durability::kSyncEach, Durability::kNone}) {
    TempDir tmp;
    auto log = open_log(tmp.path(), options_with(policy));
    const auto start = steady_clock::now();
    const Status s = log->wait_durable(1, start + milliseconds(50));
    BOOST_TEST(s.code() == Code::kTimeout);
    BOOST_TEST((steady_clock::now() - start >= milliseconds(50)));
  }
}

BOOST_AUTO_TEST_CASE(wait_durable_after_close_is_unavailable) {
  TempDir tmp;
  auto log = open_log(tmp.path(), group_commit(milliseconds(2)));
  append_range(*log, 1, 3);
  Status blocked_result;
  std::thread blocked(
      [&] { blocked_result = log->wait_durable(10, steady_clock::now() + kGenerous); });
  std::this_thread::sleep_for(milliseconds(20));
  PROCREG_REQUIRE_OK(log->close());
  blocked.join();
  BOOST_TEST(blocked_result.code() == Code::kUnavailable);
  BOOST_TEST(log->wait_durable(4, steady_clock::now() + kGenerous).code() == Code::kUnavailable);
  PROCREG_REQUIRE_OK(log->wait_durable(3, steady_clock::now()));  // close() synced it
  BOOST_TEST(log->sync().code() == Code::kUnavailable);
}

// A writer that says a sync follows its append (the registry's writer, under group commit)
// leaves the idle syncer asleep, so the writer's own sync is never lost to it; and when the
// writer may not sync (an interval is set), the syncer is woken and syncs.
BOOST_AUTO_TEST_CASE(a_writer_that_syncs_next_keeps_the_syncer_asleep) {
  TempDir tmp;
  auto log = open_log(tmp.path(), group_commit(milliseconds(0)));
  const std::string payload = testing::payload_for(1);
  const std::string_view one[] = {payload};
  for (std::uint64_t seq = 1; seq <= 500; ++seq) {
    PROCREG_REQUIRE_OK(log->append_many(seq, one, /*sync_follows=*/true));
    BOOST_REQUIRE_MESSAGE(log->sync_if_idle(), "the syncer took seq " << seq);
    BOOST_REQUIRE_EQUAL(log->durable_seq(), seq);
  }
  TempDir other;
  auto paced = open_log(other.path(), group_commit(milliseconds(5)));
  PROCREG_REQUIRE_OK(paced->append_many(1, one, /*sync_follows=*/true));
  BOOST_TEST(!paced->sync_if_idle());  // an interval: the syncer's to do
  PROCREG_REQUIRE_OK(paced->wait_durable(1, steady_clock::now() + kGenerous));
}

BOOST_AUTO_TEST_CASE(a_failed_write_is_cut_off_and_the_log_takes_writes_again) {
  // A full disk: write(2) fails part way. The partial record is cut off, so the files are as
  // before and only this call fails; the log takes writes again once there is room. A record
  // longer than a zero-filled segment's fill meets the full disk as it grows the file: the
  // segment is cut back to its records (the zero fill goes too, and comes back with the next
  // append).
  for (const std::uint64_t zero_fill : {std::uint64_t{0}, std::uint64_t{4096}}) {
    for (const Durability d : {Durability::kSyncEach, Durability::kGroupCommit}) {
      BOOST_TEST_CONTEXT("zero fill " << zero_fill << ", durability " << static_cast<int>(d)) {
        TempDir tmp;
        const std::string path = tmp.file(segment_file_name(1));
        LogOptions o = options_with(d);
        o.zero_fill_bytes = zero_fill;
        auto log = open_log(tmp.path(), o);
        const std::uint64_t last = 0;
        append_range(*log, last + 1, last + 5);
        const auto size = std::filesystem::file_size(path);
        const std::uint64_t records = log->segments().back().bytes;
        const std::string before = read_bytes(path).substr(0, records);
        Status failed;
        {
          FileSizeLimit limit(size + 10);  // 10 bytes more, then EFBIG
          // Longer than the zero fill left: it must grow first.
          failed = log->append(last + 6, std::string(3 * 4096, 'x'));
        }
        BOOST_TEST(failed.code() == Code::kIoError);
        BOOST_TEST(failed.message().find(path) != std::string::npos, failed.message());
        BOOST_TEST(failed.message().find("nothing was written") != std::string::npos);
        BOOST_TEST(read_bytes(path) == before);  // the records; no zero fill any more
        BOOST_TEST(log->last_seq() == last + 5);
        PROCREG_REQUIRE_OK(log->failure());
        BOOST_TEST(log->write_failures() == 1u);
        // Room again: the same seq is appended and made durable.
        PROCREG_REQUIRE_OK(log->append(last + 6, "again"));
        PROCREG_REQUIRE_OK(log->wait_durable(last + 6, steady_clock::now() + kGenerous));
        PROCREG_REQUIRE_OK(log->close());
        auto reopened = open_log(tmp.path(), o);
        BOOST_TEST(!reopened->recovery().truncated_tail);
        BOOST_TEST(reopened->last_seq() == last + 6);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_segment_that_cannot_be_created_is_removed_and_the_log_rolls_later) {
  TempDir tmp;
  auto log = open_log(tmp.path(), options_with(Durability::kNone, 4096));
  std::uint64_t seq = 0;
  while (log->segments().back().bytes < 4096) {  // bounded: each append adds >= 18 bytes
    ++seq;
    PROCREG_REQUIRE_OK(log->append(seq, testing::payload_for(seq)));
  }
  Status failed;
  {
    FileSizeLimit limit(10);  // the new segment's header cannot be written
    failed = log->append(seq + 1, "rolls");
  }
  BOOST_TEST(failed.code() == Code::kIoError);
  BOOST_TEST(log->segments().size() == 1u);
  BOOST_TEST(!std::filesystem::exists(tmp.file(segment_file_name(seq + 1))));
  PROCREG_REQUIRE_OK(log->failure());
  PROCREG_REQUIRE_OK(log->append(seq + 1, "rolls"));
  BOOST_TEST(log->segments().size() == 2u);
  PROCREG_REQUIRE_OK(log->close());
  auto reopened = open_log(tmp.path(), options_with(Durability::kNone, 4096));
  BOOST_TEST(reopened->last_seq() == seq + 1);
}

BOOST_AUTO_TEST_CASE(a_batch_that_fails_after_part_of_it_reached_the_log_poisons_it) {
  // The records before the roll are in the first segment: the call cannot be taken back, so
  // the log takes nothing more (reopening it recovers those records).
  TempDir tmp;
  std::uint64_t seq = 0;
  Status failed;
  {
    auto log = open_log(tmp.path(), options_with(Durability::kNone, 4096));
    while (log->segments().back().bytes < 3000) {
      ++seq;
      PROCREG_REQUIRE_OK(log->append(seq, testing::payload_for(seq)));
    }
    const std::string small(1200, 's');
    const std::string large(9000, 'l');  // in the next segment, past the limit below
    const std::vector<std::string_view> batch = {small, large};
    {
      FileSizeLimit limit(8000);
      failed = log->append_many(seq + 1, batch);
    }
    BOOST_TEST(failed.code() == Code::kIoError);
    BOOST_TEST(log->last_seq() == seq + 1);  // the small record reached the first segment
    BOOST_TEST((log->failure() == failed));
    BOOST_TEST((log->append(seq + 2, "again") == failed));
    BOOST_TEST((log->close() == failed));
  }
  auto log = open_log(tmp.path(), options_with(Durability::kNone, 4096));
  BOOST_TEST(log->last_seq() == seq + 1);
  PROCREG_REQUIRE_OK(log->append(seq + 2, "after reopening"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::replay
