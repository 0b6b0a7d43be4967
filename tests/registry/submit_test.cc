// Registry::submit: a submitted batch completes with exactly what Registry::write returns for
// it, once its writes are durable and applied; submissions and synchronous calls share the
// writer queue, its flow control and its groups; ~Registry completes every accepted one.
// The concurrent cases run under ThreadSanitizer in CI (ctest label "concurrency").
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "fixture.h"
#include "procreg/registry.h"
#include "slot_holder.h"
#include "temp_dir.h"

namespace procreg {
namespace {

using testing::np;
using testing::S;
using testing::SlotHolder;

RegistryOptions options_for(const std::string& dir, Durability durability) {
  RegistryOptions o;
  o.hub = "hub";
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = durability;
  o.clock = [] { return std::int64_t{1'700'000'000'000}; };
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

std::unique_ptr<Registry> open_or_fail(RegistryOptions o) {
  auto opened = Registry::open(std::move(o));
  BOOST_REQUIRE_MESSAGE(opened.ok(), opened.status().to_string());
  return std::move(*opened);
}

std::string describe(const Result<std::uint64_t>& r) {
  return r.ok() ? "seq " + std::to_string(*r) : r.status().to_string();
}
std::vector<std::string> describe(const WriteResults& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(describe(r));
  return out;
}

// A batch with a write of each kind that a submission accepts, and two that fail alone.
WriteBatch mixed_batch() {
  WriteBatch b;
  b.insert(S("a"), {np("n0", "<a>")})
      .insert(S(""), {np("n0", "<x>")})  // invalid: empty id
      .bulk_insert({testing::E("b", {np("n1", "<b>")})})
      .erase("a")
      .bulk_delete({{"b", {"n1"}}})
      .insert(S("c"), {np("n0", "<c>")})
      .erase("zzz")
      .clear_all();
  return b;
}

constexpr auto kWait = std::chrono::seconds(20);

WriteResults get(std::future<WriteResults>& f) {
  BOOST_REQUIRE(f.wait_for(kWait) == std::future_status::ready);
  return f.get();
}

BOOST_AUTO_TEST_SUITE(submit)

BOOST_AUTO_TEST_CASE(a_submitted_batch_completes_with_what_write_returns) {
  for (Durability d : {Durability::kNone, Durability::kGroupCommit, Durability::kSyncEach}) {
    testing::TempDir sync_dir, async_dir;
    auto by_write = open_or_fail(options_for(sync_dir.path(), d));
    auto by_submit = open_or_fail(options_for(async_dir.path(), d));
    const WriteResults expected = by_write->write(mixed_batch());
    auto f = by_submit->submit(mixed_batch());
    const WriteResults got = get(f);
    BOOST_TEST(describe(got) == describe(expected));
    BOOST_TEST(by_submit->last_sequence() == by_write->last_sequence());
    BOOST_TEST(by_submit->dump_all_tables() == by_write->dump_all_tables());
    BOOST_TEST(!got[1].ok());
    BOOST_TEST(got[1].status().code() == Code::kInvalidArgument);
  }
}

BOOST_AUTO_TEST_CASE(the_completion_sees_its_writes_applied) {
  for (Durability d : {Durability::kNone, Durability::kGroupCommit, Durability::kSyncEach}) {
    testing::TempDir dir;
    auto r = open_or_fail(options_for(dir.path(), d));
    std::promise<std::string> seen;
    WriteBatch b;
    b.insert(S("x"), {np("n0", "<x>")}).insert(S("y"), {np("n0", "<y>")});
    r->submit(std::move(b), [&](WriteResults rs) {
      // Read-your-writes: the completion runs once the writes are durable and applied.
      const bool both = r->lookup("x").has_value() && r->lookup("y").has_value();
      seen.set_value(describe(rs[1]) + (both && r->last_sequence() >= *rs[1] ? " visible" : ""));
    });
    auto f = seen.get_future();
    BOOST_REQUIRE(f.wait_for(kWait) == std::future_status::ready);
    BOOST_TEST(f.get() == "seq 2 visible");
  }
}

BOOST_AUTO_TEST_CASE(an_update_function_in_a_submitted_batch_is_refused_alone) {
  testing::TempDir dir;
  auto r = open_or_fail(options_for(dir.path(), Durability::kNone));
  BOOST_REQUIRE(r->insert(S("u"), {np("n0", "<u>")}).ok());
  WriteBatch b;
  b.update("u", [](const ChildSpec& s, const NodePids& p, const Metadata&) {
     return Entry{s, p, {{"k", Value("v")}}};
   }).insert(S("v"), {np("n0", "<v>")});
  auto f = r->submit(std::move(b));
  const WriteResults got = get(f);
  BOOST_REQUIRE(got.size() == 2u);
  BOOST_TEST(got[0].status().code() == Code::kInvalidArgument);
  BOOST_TEST(got[0].status().message().find("nothing written") != std::string::npos);
  BOOST_TEST(describe(got[1]) == "seq 2");
  BOOST_TEST(r->lookup("u", testing::with_metadata())->metadata->empty());
}

BOOST_AUTO_TEST_CASE(a_read_only_registry_refuses_a_submission_at_once) {
  testing::TempDir dir;
  {
    auto w = open_or_fail(options_for(dir.path(), Durability::kNone));
    BOOST_REQUIRE(w->insert(S("a"), {np("n0", "<a>")}).ok());
  }
  auto replay = Registry::open_replay({dir.path(), "n0", 0});
  BOOST_REQUIRE(replay.ok());
  WriteResults got;
  WriteBatch b;
  b.insert(S("b"), {np("n0", "<b>")});
  (*replay)->submit(std::move(b), [&](WriteResults rs) { got = std::move(rs); });
  BOOST_REQUIRE(got.size() == 1u);  // completed before submit returned
  BOOST_TEST(got[0].status().code() == Code::kUnavailable);
}

BOOST_AUTO_TEST_CASE(an_empty_submission_completes_at_once) {
  testing::TempDir dir;
  auto r = open_or_fail(options_for(dir.path(), Durability::kNone));
  bool called = false;
  r->submit(WriteBatch(), [&](WriteResults rs) { called = rs.empty(); });
  BOOST_TEST(called);
}

BOOST_AUTO_TEST_CASE(writes_past_the_queue_limit_are_refused_with_nothing_written) {
  testing::TempDir dir;
  RegistryOptions o = options_for(dir.path(), Durability::kSyncEach);
  o.max_queued_writes = 2;
  auto r = open_or_fail(o);
  std::future<WriteResults> queued;
  {
    SlotHolder holder(*r);  // its update is one accepted write
    WriteBatch one;
    one.insert(S("q"), {np("n0", "<q>")});
    queued = r->submit(std::move(one));  // the second: accepted, queued
    WriteResults refused;
    WriteBatch two;
    two.insert(S("r"), {np("n0", "<r>")});
    r->submit(std::move(two), [&](WriteResults rs) { refused = std::move(rs); });
    BOOST_REQUIRE(refused.size() == 1u);  // at once, on this thread
    BOOST_TEST(refused[0].status().code() == Code::kResourceExhausted);
    BOOST_TEST(refused[0].status().message().find("limit of 2 writes") != std::string::npos,
               refused[0].status().to_string());
    BOOST_TEST(refused[0].status().message().find("nothing written") != std::string::npos);
    const auto sync = r->insert(S("s"), {np("n0", "<s>")});
    BOOST_TEST(sync.status().code() == Code::kResourceExhausted);
    BOOST_TEST(r->stats().writes_refused_queue_full == 2u);
    BOOST_TEST(holder.release().ok());
  }
  BOOST_TEST(describe(get(queued)) == std::vector<std::string>{"seq 3"});
  BOOST_TEST(!r->lookup("r").has_value());
  BOOST_TEST(!r->lookup("s").has_value());
  BOOST_TEST(describe(r->insert(S("t"), {np("n0", "<t>")})) == "seq 4");  // room again
}

BOOST_AUTO_TEST_SUITE_END()

// ---- concurrent ----------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(submit_concurrency)

// Every acknowledged write is in the log: reopened, the registry holds it.
void mixed_callers_then_reopen(Durability d) {
  testing::TempDir dir;
  constexpr int kThreads = 6;
  constexpr int kPerThread = 150;
  std::mutex mu;
  std::map<std::string, std::uint64_t> acked;
  std::atomic<int> failures{0};
  {
    auto r = open_or_fail(options_for(dir.path(), d));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::vector<std::future<WriteResults>> pending;
        std::vector<std::string> pending_ids;
        for (int i = 0; i < kPerThread; ++i) {
          const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
          if ((i + t) % 2 == 0) {
            auto got = r->insert(S(id), {np("n0", "<p>")});
            if (!got.ok() || r->last_sequence() < *got) failures.fetch_add(1);
            std::lock_guard l(mu);
            if (got.ok()) acked[id] = *got;
          } else {
            WriteBatch b;
            b.insert(S(id), {np("n0", "<p>")});
            pending.push_back(r->submit(std::move(b)));
            pending_ids.push_back(id);
          }
        }
        for (std::size_t k = 0; k < pending.size(); ++k) {
          if (pending[k].wait_for(kWait) != std::future_status::ready) {
            failures.fetch_add(1);
            continue;
          }
          auto rs = pending[k].get();
          std::lock_guard l(mu);
          if (rs[0].ok()) {
            acked[pending_ids[k]] = *rs[0];
          } else {
            failures.fetch_add(1);
          }
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(acked.size() == static_cast<std::size_t>(kThreads * kPerThread));
  std::set<std::uint64_t> seqs;
  for (const auto& [id, seq] : acked) seqs.insert(seq);
  BOOST_TEST(seqs.size() == acked.size());  // one event each
  auto reopened = open_or_fail(options_for(dir.path(), d));
  for (const auto& [id, seq] : acked) {
    BOOST_TEST_CONTEXT(id << " at seq " << seq) { BOOST_TEST(reopened->lookup(id).has_value()); }
  }
}

BOOST_AUTO_TEST_CASE(mixed_sync_and_submitted_writes_survive_a_reopen_under_group_commit) {
  mixed_callers_then_reopen(Durability::kGroupCommit);
}
BOOST_AUTO_TEST_CASE(mixed_sync_and_submitted_writes_survive_a_reopen_without_sync) {
  mixed_callers_then_reopen(Durability::kNone);
}
BOOST_AUTO_TEST_CASE(mixed_sync_and_submitted_writes_survive_a_reopen_syncing_each_append) {
  mixed_callers_then_reopen(Durability::kSyncEach);
}

BOOST_AUTO_TEST_CASE(completions_may_write_synchronously_and_submit_again) {
  for (Durability d : {Durability::kGroupCommit, Durability::kNone}) {
    testing::TempDir dir;
    auto r = open_or_fail(options_for(dir.path(), d));
    std::promise<std::string> chain;
    WriteBatch b;
    b.insert(S("first"), {np("n0", "<1>")});
    r->submit(std::move(b), [&](WriteResults) {
      // On the writer thread: a synchronous write waits for its durability point here.
      const auto second = r->insert(S("second"), {np("n0", "<2>")});
      r->submit_insert(S("third"), {np("n0", "<3>")}, {}, [&, second](Result<std::uint64_t> third) {
        chain.set_value(describe(second) + ", " + describe(third) +
                        (r->lookup("third").has_value() ? " visible" : ""));
      });
    });
    auto f = chain.get_future();
    BOOST_REQUIRE(f.wait_for(kWait) == std::future_status::ready);
    BOOST_TEST(f.get() == "seq 2, seq 3 visible");
  }
}

BOOST_AUTO_TEST_CASE(the_destructor_completes_every_accepted_submission) {
  testing::TempDir dir;
  constexpr int kSubmissions = 600;
  auto results = std::make_shared<std::vector<std::string>>(kSubmissions);
  std::atomic<int> calls{0};
  std::set<std::string> committed;
  {
    auto r = open_or_fail(options_for(dir.path(), Durability::kGroupCommit));
    std::thread other([&] {
      for (int i = 0; i < kSubmissions / 2; ++i) {
        (void)r->insert(S("sync" + std::to_string(i)), {np("n0", "<s>")});
      }
    });
    for (int i = 0; i < kSubmissions; ++i) {
      r->submit_insert(S("s" + std::to_string(i)), {np("n0", "<p>")}, {},
                       [results, &calls, i](Result<std::uint64_t> got) {
                         (*results)[i] = got.ok() ? "ok" : got.status().to_string();
                         calls.fetch_add(1);
                       });
    }
    other.join();
  }                                          // destroyed with submissions still queued
  BOOST_TEST(calls.load() == kSubmissions);  // each completion ran, once
  auto reopened = open_or_fail(options_for(dir.path(), Durability::kGroupCommit));
  for (int i = 0; i < kSubmissions; ++i) {
    const std::string& got = (*results)[i];
    const bool present = reopened->lookup("s" + std::to_string(i)).has_value();
    BOOST_TEST_CONTEXT("submission " << i << ": " << got) {
      BOOST_TEST(
          (got == "ok" || got.find("registry closing; nothing written") != std::string::npos));
      BOOST_TEST(present == (got == "ok"));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
