// Registry::write(WriteBatch): the batch's writes behave exactly as the same calls made one by
// one (same results, same events, same hooks, same state, for every durability policy), with
// one log write and one sync for the batch; a write that fails alone fails alone.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "fixture.h"
#include "procreg/registry.h"
#include "slot_holder.h"
#include "temp_dir.h"

namespace procreg {
namespace {

using testing::E;
using testing::Hooks;
using testing::insert_options;
using testing::np;
using testing::S;
using testing::write_options;

constexpr std::int64_t kNowMs = 1'700'000'000'000;

RegistryOptions options_for(const std::string& dir, Durability durability) {
  RegistryOptions o;
  o.hub = "hub";
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = durability;
  o.clock = [] { return kNowMs; };
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

std::unique_ptr<Registry> open_or_fail(RegistryOptions o) {
  auto opened = Registry::open(std::move(o));
  BOOST_REQUIRE_MESSAGE(opened.ok(), opened.status().to_string());
  return std::move(*opened);
}

// Every hook event a registry dispatches, in order.
struct Recorder {
  std::mutex mu;
  std::vector<HookEvent> events;
};
std::vector<HookSubscription> record_hooks(Registry& r, const std::shared_ptr<Recorder>& rec) {
  std::vector<HookSubscription> subs;
  for (HookTopic topic : {HookTopic::kChildRegistered, HookTopic::kChildUnregistered}) {
    subs.push_back(r.subscribe(topic, [rec](const HookEvent& e) {
      std::lock_guard l(rec->mu);
      rec->events.push_back(e);
    }));
  }
  return subs;
}

// One random write, made either as a call or as a batch entry. Ids come from a small set so
// that writes meet rows earlier writes (of the same batch too) left; some are invalid.
struct RandomWrite {
  int kind = 0;
  std::string id;
  std::string node;
  bool hooks = false;
  std::string table;
};

RandomWrite random_write(std::mt19937& rng) {
  RandomWrite w;
  w.kind = static_cast<int>(rng() % 20);
  w.id = rng() % 23 == 0 ? "" : "c" + std::to_string(rng() % 12);  // "" is invalid
  w.node = "n" + std::to_string(rng() % 3);
  w.hooks = rng() % 2 == 0;
  w.table = rng() % 5 == 0 ? "other" : "";
  return w;
}

Entry updated(const ChildSpec& spec, const NodePids& pids, const Metadata& md) {
  Metadata next = md;
  next["n"] = static_cast<std::int64_t>(pids.size());
  return Entry{spec, pids, next};
}

// Makes the write `w` on `t`, a Registry (a call) or a WriteBatch (an entry): both have the
// same write methods. `done` gets what the method returned.
template <typename Target, typename Done>
void make_write(Target& t, const RandomWrite& w, Done done) {
  const WriteOptions o = write_options(w.hooks ? Hooks::kOn : Hooks::kOff, w.table);
  InsertOptions io = insert_options(w.hooks ? Hooks::kOn : Hooks::kOff, {{"k", w.kind}});
  io.table = w.table;
  switch (w.kind) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
      return done(t.insert(S(w.id), {np(w.node, "<" + w.id + ">")}, io));
    case 6:
    case 7:
    case 8:
      return done(t.bulk_insert({E(w.id, {np(w.node, "<b>")}), E("c0", {np(w.node, "<b0>")})}, o));
    case 9:
    case 10:
      return done(t.erase(w.id, o));
    case 11:
    case 12:
    case 13:
      return done(t.bulk_delete({{w.id, {w.node}}, {"c1", {"n0", "n1"}}}, o));
    case 14:
    case 15:
    case 16:
      return done(t.update(w.id, &updated, o));
    case 17:
      return done(t.clear_all(o));
    default: {  // a pending-forward row (a TTL row)
      InsertOptions pending = insert_options(Hooks::kOff, testing::pending_metadata(kNowMs));
      pending.table = w.table;
      return done(t.insert(S(w.id), {}, pending));
    }
  }
}

Result<std::uint64_t> call(Registry& r, const RandomWrite& w) {
  Result<std::uint64_t> out = Status::internal("not called");
  make_write(r, w, [&](auto result) {
    if constexpr (std::is_same_v<decltype(result), Result<bool>>) {  // clear_all
      out = result.ok() ? Result<std::uint64_t>(r.last_sequence()) : result.status();
    } else {
      out = std::move(result);
    }
  });
  return out;
}

void add(WriteBatch& b, const RandomWrite& w) {
  make_write(b, w, [](const WriteBatch&) {});
}

std::string describe(const Result<std::uint64_t>& r) {
  return r.ok() ? "seq " + std::to_string(*r) : r.status().to_string();
}

void batches_equal_single_calls(Durability durability) {
  testing::TempDir single_dir, batch_dir;
  auto single = open_or_fail(options_for(single_dir.path(), durability));
  auto batched = open_or_fail(options_for(batch_dir.path(), durability));
  auto single_hooks = std::make_shared<Recorder>();
  auto batch_hooks = std::make_shared<Recorder>();
  auto subs1 = record_hooks(*single, single_hooks);
  auto subs2 = record_hooks(*batched, batch_hooks);
  std::mt19937 rng(20261202);
  std::size_t errors = 0, no_event = 0;
  for (int round = 0; round < 60; ++round) {
    const std::size_t n = 1 + rng() % 40;
    std::vector<RandomWrite> writes;
    for (std::size_t i = 0; i < n; ++i) writes.push_back(random_write(rng));
    std::vector<Result<std::uint64_t>> expected;
    for (const auto& w : writes) {
      const std::uint64_t before = single->last_sequence();
      expected.push_back(call(*single, w));
      if (!expected.back().ok())
        ++errors;
      else if (*expected.back() == before)
        ++no_event;
    }
    WriteBatch b;
    for (const auto& w : writes) add(b, w);
    BOOST_REQUIRE_EQUAL(b.size(), n);
    const auto got = batched->write(std::move(b));
    BOOST_REQUIRE_EQUAL(got.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      BOOST_TEST_CONTEXT("round " << round << ", write " << i << " (kind " << writes[i].kind
                                  << ", id '" << writes[i].id << "')") {
        BOOST_TEST(describe(got[i]) == describe(expected[i]));
      }
    }
    BOOST_REQUIRE(batched->last_sequence() == single->last_sequence());
  }
  // The workload has all three outcomes, so the comparison covers them.
  BOOST_TEST(errors > 0u);
  BOOST_TEST(no_event > 0u);
  BOOST_TEST(single->last_sequence() > 200u);
  BOOST_TEST(batched->dump_all_tables() == single->dump_all_tables());
  const std::uint64_t last = single->last_sequence();
  BOOST_REQUIRE(single->wait_for_hooks(last, std::chrono::seconds(10)).ok());
  BOOST_REQUIRE(batched->wait_for_hooks(last, std::chrono::seconds(10)).ok());
  {
    std::scoped_lock l(single_hooks->mu, batch_hooks->mu);
    BOOST_TEST(!single_hooks->events.empty());
    BOOST_TEST(batch_hooks->events == single_hooks->events);
  }
  BOOST_TEST(batched->stats().invalid_calls == single->stats().invalid_calls);
  BOOST_TEST(batched->stats().writes_without_event == single->stats().writes_without_event);
  // The log says the same: a replay of each gives the same state.
  subs1.clear();
  subs2.clear();
  const auto state = single->dump_all_tables();
  single.reset();
  batched.reset();
  ReplayOptions ro;
  ro.log_dir = batch_dir.path();
  auto replayed = Registry::open_replay(ro);
  BOOST_REQUIRE_MESSAGE(replayed.ok(), replayed.status().to_string());
  BOOST_TEST((*replayed)->dump_all_tables() == state);
  BOOST_TEST((*replayed)->last_sequence() == last);
}

BOOST_AUTO_TEST_SUITE(write_batch)

BOOST_AUTO_TEST_CASE(a_batch_equals_its_writes_made_one_by_one_without_sync) {
  batches_equal_single_calls(Durability::kNone);
}
BOOST_AUTO_TEST_CASE(a_batch_equals_its_writes_made_one_by_one_under_group_commit) {
  batches_equal_single_calls(Durability::kGroupCommit);
}
BOOST_AUTO_TEST_CASE(a_batch_equals_its_writes_made_one_by_one_syncing_each_append) {
  batches_equal_single_calls(Durability::kSyncEach);
}

BOOST_AUTO_TEST_CASE(a_batch_is_one_fdatasync_under_sync_each) {
  testing::TempDir dir;
  auto r = open_or_fail(options_for(dir.path(), Durability::kSyncEach));
  WriteBatch b;
  for (int i = 0; i < 50; ++i) b.insert(S("c" + std::to_string(i)), {np("n0", "<p>")});
  const auto seqs = r->write(std::move(b));
  BOOST_REQUIRE_EQUAL(seqs.size(), 50u);
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    BOOST_REQUIRE(seqs[i].ok());
    BOOST_TEST(*seqs[i] == i + 1);
  }
  const RegistryStats stats = r->stats();
  BOOST_TEST(stats.log_syncs == 1u);
  BOOST_TEST(stats.log_largest_sync_group == 50u);
  BOOST_TEST(stats.events_written == 50u);
  BOOST_TEST(r->dump().size() == 50u);  // read-your-writes: all applied on return
}

BOOST_AUTO_TEST_CASE(a_write_that_fails_alone_fails_alone) {
  testing::TempDir dir;
  RegistryOptions o = options_for(dir.path(), Durability::kNone);
  o.log.max_record_bytes = 4096;
  auto r = open_or_fail(std::move(o));
  InsertOptions huge;
  huge.metadata["blob"] = std::string(5000, 'x');
  WriteBatch b;
  b.insert(S("a"), {np("n0", "<a>")})
      .insert(S(""), {np("n0", "<e>")})           // invalid: empty id
      .update("missing", &updated)                // no such row
      .insert(S("big"), {np("n0", "<b>")}, huge)  // over the record limit
      .update("a", &updated)                      // sees "a" from this batch
      .erase("a");
  const auto got = r->write(std::move(b));
  BOOST_REQUIRE_EQUAL(got.size(), 6u);
  BOOST_TEST(describe(got[0]) == "seq 1");
  BOOST_TEST(got[1].status().code() == Code::kInvalidArgument);
  BOOST_TEST(got[2].status().code() == Code::kNotFound);
  BOOST_TEST(got[3].status().code() == Code::kResourceExhausted);
  BOOST_TEST(describe(got[4]) == "seq 2");
  BOOST_TEST(describe(got[5]) == "seq 3");
  BOOST_TEST(r->last_sequence() == 3u);
  BOOST_TEST(r->stats().events_written == 3u);
  BOOST_TEST(r->stats().invalid_calls == 2u);  // the empty id and the oversized event
  BOOST_TEST(!r->lookup("a").has_value());
  BOOST_TEST(!r->lookup("big").has_value());
  // The registry goes on: nothing was poisoned.
  BOOST_TEST(describe(r->insert(S("b"), {np("n0", "<b>")})) == "seq 4");
}

BOOST_AUTO_TEST_CASE(an_update_function_writing_from_inside_a_batch_is_refused) {
  testing::TempDir dir;
  auto r = open_or_fail(options_for(dir.path(), Durability::kNone));
  Registry* reg = r.get();
  Result<std::uint64_t> inner = Status::internal("not called");
  WriteBatch b;
  b.insert(S("a"), {np("n0", "<a>")});
  b.update("a", [&](const ChildSpec& spec, const NodePids& pids, const Metadata& md) {
    inner = reg->insert(S("nested"), {np("n0", "<n>")});
    return Entry{spec, pids, md};
  });
  const auto got = r->write(std::move(b));
  BOOST_TEST(got[0].ok());
  BOOST_TEST(got[1].ok());
  BOOST_TEST(inner.status().code() == Code::kInvalidArgument);
  BOOST_TEST(!r->lookup("nested").has_value());
}

BOOST_AUTO_TEST_CASE(an_empty_batch_writes_nothing) {
  testing::TempDir dir;
  auto r = open_or_fail(options_for(dir.path(), Durability::kNone));
  BOOST_TEST(r->write(WriteBatch{}).empty());
  BOOST_TEST(r->last_sequence() == 0u);
}

BOOST_AUTO_TEST_CASE(a_batch_across_segment_rolls_reopens_to_the_same_state) {
  testing::TempDir dir;
  RegistryOptions o = options_for(dir.path(), Durability::kSyncEach);
  o.log.segment_bytes = 4096;
  std::map<std::string, Dump> state;
  {
    auto r = open_or_fail(o);
    WriteBatch b;
    for (int i = 0; i < 300; ++i) b.insert(S("c" + std::to_string(i)), {np("n0", "<p>")});
    for (const auto& seq : r->write(std::move(b))) BOOST_REQUIRE(seq.ok());
    state = r->dump_all_tables();
    BOOST_TEST(r->stats().log_syncs > 5u);  // one per segment it wrote to
  }
  auto reopened = open_or_fail(o);
  BOOST_TEST(reopened->last_sequence() == 300u);
  BOOST_TEST(reopened->dump_all_tables() == state);
}

BOOST_AUTO_TEST_CASE(batches_from_several_threads_interleave_whole_and_gapless) {
  testing::TempDir dir;
  auto r = open_or_fail(options_for(dir.path(), Durability::kGroupCommit));
  constexpr int kThreads = 4, kBatches = 25, kPerBatch = 8;
  std::atomic<int> failures{0};  // Boost.Test's macros are for the main thread only
  std::vector<std::vector<std::uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kBatches; ++k) {
        WriteBatch b;
        for (int i = 0; i < kPerBatch; ++i) {
          b.insert(S("t" + std::to_string(t) + "-" + std::to_string(k * kPerBatch + i)),
                   {np("n0", "<p>")});
        }
        const auto got = r->write(std::move(b));
        for (std::size_t i = 0; i < got.size(); ++i) {
          if (!got[i].ok()) {
            failures.fetch_add(1);
            continue;
          }
          // A batch's events are consecutive: nothing of another thread comes between.
          if (i > 0 && got[i - 1].ok() && *got[i] != *got[i - 1] + 1) failures.fetch_add(1);
          seqs[t].push_back(*got[i]);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(failures.load() == 0);
  std::set<std::uint64_t> all;
  for (const auto& s : seqs) all.insert(s.begin(), s.end());
  constexpr std::size_t kTotal = kThreads * kBatches * kPerBatch;
  BOOST_TEST(all.size() == kTotal);
  BOOST_TEST(*all.rbegin() == kTotal);
  BOOST_TEST(r->dump().size() == kTotal);
}

using testing::SlotHolder;

BOOST_AUTO_TEST_CASE(calls_queued_behind_the_writer_commit_as_one_group_with_one_fdatasync) {
  testing::TempDir dir;
  auto r = open_or_fail(options_for(dir.path(), Durability::kSyncEach));
  std::vector<Result<std::uint64_t>> got(3, Status::internal("not run"));
  std::vector<std::thread> callers;
  std::uint64_t syncs_before = 0;
  {
    SlotHolder holder(*r);
    syncs_before = r->stats().log_syncs;
    for (int i = 0; i < 3; ++i) {
      callers.emplace_back(
          [&, i] { got[i] = r->insert(S("q" + std::to_string(i)), {np("n0", "<q>")}); });
    }
    SlotHolder::wait_until([&] { return r->stats().write_calls_queued == 4; },
                           "three calls queued behind the update");
    BOOST_TEST(holder.release().ok());
  }
  for (auto& t : callers) t.join();
  std::set<std::uint64_t> seqs;
  for (const auto& g : got) {
    BOOST_REQUIRE_MESSAGE(g.ok(), g.status().to_string());
    seqs.insert(*g);
  }
  BOOST_TEST(seqs == (std::set<std::uint64_t>{3, 4, 5}));  // 1: "held", 2: the update
  const RegistryStats stats = r->stats();
  BOOST_TEST(stats.log_syncs == syncs_before + 2);  // the update's, then the group's
  BOOST_TEST(stats.log_largest_sync_group == 3u);
  BOOST_TEST(stats.largest_write_group == 3u);
  BOOST_TEST(stats.write_calls == 5u);
  BOOST_TEST(stats.write_groups == 3u);
  BOOST_TEST(stats.write_calls_queued == 0u);
  BOOST_TEST(r->dump().size() == 4u);
}

BOOST_AUTO_TEST_CASE(a_call_with_an_update_function_is_committed_alone) {
  // An update function is user code: no other call waits for it in the same group.
  testing::TempDir dir;
  auto r = open_or_fail(options_for(dir.path(), Durability::kSyncEach));
  BOOST_REQUIRE(r->insert(S("u"), {np("n0", "<u>")}).ok());
  std::vector<Result<std::uint64_t>> got(3, Status::internal("not run"));
  std::vector<std::thread> callers;
  {
    SlotHolder holder(*r);
    const auto calls = [&](int i) {
      switch (i) {
        case 0:
          return r->insert(S("a"), {np("n0", "<a>")});
        case 1:
          return r->update("u", &updated);
        default: {
          WriteBatch b;
          b.insert(S("b"), {np("n0", "<b>")}).update("u", &updated);
          auto results = r->write(std::move(b));
          return results[1];
        }
      }
    };
    for (int i = 0; i < 3; ++i) {  // queued in this order
      callers.emplace_back([&, i] { got[i] = calls(i); });
      SlotHolder::wait_until(
          [&] { return r->stats().write_calls_queued == static_cast<std::uint64_t>(i + 2); },
          "the next call queued");
    }
    BOOST_REQUIRE(holder.release().ok());
  }
  for (auto& t : callers) t.join();
  for (const auto& g : got) BOOST_REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  const RegistryStats stats = r->stats();
  BOOST_TEST(stats.largest_write_group == 1u);  // every call in a group of its own
  BOOST_TEST(stats.write_groups == stats.write_calls);
  BOOST_TEST(r->lookup("a").has_value());
  BOOST_TEST(r->lookup("b").has_value());
}

BOOST_AUTO_TEST_CASE(a_queued_call_whose_timeout_passes_leaves_with_nothing_written) {
  testing::TempDir dir;
  auto r = open_or_fail(options_for(dir.path(), Durability::kNone));
  std::uint64_t update_seq = 0;
  {
    SlotHolder holder(*r);
    InsertOptions quick;
    quick.timeout = std::chrono::milliseconds(50);
    const auto started = std::chrono::steady_clock::now();
    auto late = r->insert(S("late"), {np("n0", "<l>")}, quick);
    BOOST_TEST((std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(50)));
    BOOST_TEST(late.status().code() == Code::kTimeout);
    BOOST_TEST(late.status().message().find("nothing written") != std::string::npos,
               late.status().to_string());
    BOOST_TEST(r->stats().write_calls_queued == 1u);  // the update alone
    auto done = holder.release();
    BOOST_REQUIRE(done.ok());
    update_seq = *done;
  }
  BOOST_TEST(update_seq == 2u);
  BOOST_TEST(r->last_sequence() == 2u);
  BOOST_TEST(!r->lookup("late").has_value());
  BOOST_TEST(r->stats().write_calls_queued == 0u);
  BOOST_TEST(describe(r->insert(S("after"), {np("n0", "<a>")})) == "seq 3");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
