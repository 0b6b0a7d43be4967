// The fixture of the registry's behaviour tests (docs/SEMANTICS.md).
//
// RegistryFixture opens a writer Registry for hub "hub" on local node "n0" over a fresh log in
// a temporary directory, with a fake clock the test advances, no background janitor (tests call
// run_janitor(), scan_expired() and expire() themselves) and Durability::kNone. A recorder
// subscribed to both hook topics keeps every hook event; settle() waits until every hook of
// every committed event was dispatched, so hook assertions never sleep.
//
// Thread safety: a fixture belongs to its test's thread; hook handlers run on the registry's
// hook thread and touch only the recorder (mutex-guarded) or what the test gives them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "procreg/hooks.h"
#include "procreg/options.h"
#include "procreg/registry.h"
#include "procreg/status.h"
#include "procreg/types.h"
#include "procreg/value.h"
#include "temp_dir.h"

// ---- Boost.Test printers (found by ADL), so a failed comparison shows both values ----------

namespace procreg {

inline void print_to(std::ostream& os, const std::string& s) { os << '"' << s << '"'; }
inline void print_to(std::ostream& os, const Value& v) { os << v.debug_string(); }
inline void print_to(std::ostream& os, const NodePid& p) {
  os << '{' << p.node << ',' << p.pid << '}';
}
void print_to(std::ostream& os, const ChildSpec& spec);
void print_to(std::ostream& os, const Entry& entry);
template <typename T>
void print_to(std::ostream& os, const std::vector<T>& items);
template <typename K, typename V, typename C>
void print_to(std::ostream& os, const std::map<K, V, C>& items);
template <typename A, typename B>
void print_to(std::ostream& os, const std::pair<A, B>& pair);

template <typename T>
void print_to(std::ostream& os, const std::vector<T>& items) {
  os << '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) os << ", ";
    print_to(os, items[i]);
  }
  os << ']';
}

template <typename K, typename V, typename C>
void print_to(std::ostream& os, const std::map<K, V, C>& items) {
  os << '{';
  const char* sep = "";
  for (const auto& [key, value] : items) {
    os << sep;
    print_to(os, key);
    os << ": ";
    print_to(os, value);
    sep = ", ";
  }
  os << '}';
}

template <typename A, typename B>
void print_to(std::ostream& os, const std::pair<A, B>& pair) {
  os << '(';
  print_to(os, pair.first);
  os << ", ";
  print_to(os, pair.second);
  os << ')';
}

inline void print_to(std::ostream& os, const ChildSpec& spec) {
  os << "%{id: " << spec.id << ", start: {" << spec.start.module << ", " << spec.start.function
     << ", ";
  print_to(os, spec.start.args);
  os << '}';
  if (!spec.extra.empty()) {
    os << ", extra: ";
    print_to(os, spec.extra);
  }
  os << '}';
}

inline void print_to(std::ostream& os, const Entry& entry) {
  os << '{';
  print_to(os, entry.spec);
  os << ", ";
  print_to(os, entry.node_pids);
  os << ", ";
  print_to(os, entry.metadata);
  os << '}';
}

inline std::ostream& boost_test_print_type(std::ostream& os, const Value& v) {
  print_to(os, v);
  return os;
}
inline std::ostream& boost_test_print_type(std::ostream& os, const NodePid& p) {
  print_to(os, p);
  return os;
}
inline std::ostream& boost_test_print_type(std::ostream& os, const ChildSpec& spec) {
  print_to(os, spec);
  return os;
}
inline std::ostream& boost_test_print_type(std::ostream& os, const Entry& entry) {
  print_to(os, entry);
  return os;
}
inline std::ostream& boost_test_print_type(std::ostream& os, const Lookup& l) {
  os << '{';
  print_to(os, l.spec);
  os << ", ";
  print_to(os, l.node_pids);
  if (l.metadata) {
    os << ", ";
    print_to(os, *l.metadata);
  }
  return os << '}';
}
inline std::ostream& boost_test_print_type(std::ostream& os, const HookEvent& e) {
  os << hook_topic_name(e.topic) << "{hub: " << e.hub << ", table: " << e.table
     << ", child_id: " << e.child_id << ", node_pids: ";
  print_to(os, e.node_pids);
  return os << ", seq: " << e.seq << '}';
}
template <typename T>
std::ostream& boost_test_print_type(std::ostream& os, const std::optional<T>& value) {
  if (!value) return os << "nullopt";
  return boost_test_print_type(os, *value);
}
template <typename A, typename B>
std::ostream& boost_test_print_type(std::ostream& os, const std::pair<A, B>& pair) {
  print_to(os, pair);
  return os;
}

}  // namespace procreg

namespace procreg::testing {

inline constexpr const char* kHub = "hub";  // also the default table's name
inline constexpr const char* kLocalNode = "n0";
inline constexpr std::int64_t kStartMs = 1'700'000'000'000;  // the fake clock's start, T
inline constexpr std::chrono::milliseconds kHookTimeout{5'000};
// The child expect_no_hooks_since() erases; tests never register it.
inline constexpr const char* kSentinel = "sentinel";

// S(x): the spec %{id: x, start: {M, :f, []}}.
inline ChildSpec S(const std::string& id) { return make_spec(id, "M", "f"); }
inline NodePid np(std::string node, std::string pid) {
  return NodePid{std::move(node), std::move(pid)};
}
inline Entry E(const std::string& id, NodePids node_pids, Metadata metadata = {}) {
  return Entry{S(id), std::move(node_pids), std::move(metadata)};
}

// A pending-forward row's metadata (docs/SEMANTICS.md, "Terms"): insert(S(x), [],
// metadata: this) makes one.
inline Metadata pending_metadata(std::int64_t forwarded_at_ms) {
  return Metadata{
      {"pending", true}, {"forwarded_at", forwarded_at_ms}, {"target_nodes", Value::Array{"n2"}}};
}

enum class Hooks { kOff, kOn };  // ProcessHub's :hook_storage absent / the real hook table

inline WriteOptions write_options(Hooks hooks, std::string table = {}) {
  WriteOptions o;
  o.hooks = hooks == Hooks::kOn;
  o.table = std::move(table);
  return o;
}
inline InsertOptions insert_options(Hooks hooks, Metadata metadata = {}) {
  InsertOptions o;
  o.hooks = hooks == Hooks::kOn;
  o.metadata = std::move(metadata);
  return o;
}
inline ReadOptions read_table(std::string table) {
  ReadOptions o;
  o.table = std::move(table);
  return o;
}
inline LookupOptions with_metadata() {
  LookupOptions o;
  o.with_metadata = true;
  return o;
}

// The hook events ProcessHub's payloads describe, as fired by the event `seq`.
inline HookEvent registered(ChildId id, NodePids node_pids, std::uint64_t seq,
                            std::string table = kHub) {
  return HookEvent{.topic = HookTopic::kChildRegistered,
                   .hub = kHub,
                   .table = std::move(table),
                   .child_id = std::move(id),
                   .node_pids = std::move(node_pids),
                   .seq = seq};
}
inline HookEvent unregistered(ChildId id, std::uint64_t seq, std::string table = kHub) {
  return HookEvent{.topic = HookTopic::kChildUnregistered,
                   .hub = kHub,
                   .table = std::move(table),
                   .child_id = std::move(id),
                   .node_pids = {},
                   .seq = seq};
}

class HookRecorder {
 public:
  void record(const HookEvent& event) {
    std::lock_guard lock(mu_);
    events_.push_back(event);
  }
  std::vector<HookEvent> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<HookEvent> events_;
};

class RegistryFixture {
 public:
  RegistryFixture() { open(); }
  ~RegistryFixture() { close(); }

  RegistryFixture(const RegistryFixture&) = delete;
  RegistryFixture& operator=(const RegistryFixture&) = delete;

  Registry& reg() { return *registry_; }
  const std::string& log_dir() const { return dir_.path(); }

  // The fake clock (ms since the epoch): starts at kStartMs and moves only when told.
  std::int64_t now() const { return clock_->load(); }
  void advance(std::chrono::milliseconds by) { clock_->fetch_add(by.count()); }

  // Subscribes a test's handler until the registry is closed (reopen_and_compare() or the
  // end of the test). The handler may capture the registry; other state it uses should be
  // shared (a std::shared_ptr), since a failed assertion ends the test body before the fixture.
  void subscribe(HookTopic topic, HookHandler handler, int priority = 0) {
    subscriptions_.push_back(reg().subscribe(topic, std::move(handler), priority));
  }

  // Requires `result` ok and equal to last_sequence(): a write returns the sequence a reader
  // sees right after it. Returns that sequence.
  std::uint64_t committed(const Result<std::uint64_t>& result) {
    BOOST_REQUIRE_MESSAGE(result.ok(), "write failed: " << result.status().to_string());
    BOOST_TEST(*result == reg().last_sequence());
    return *result;
  }

  // What the log held at some point, for expect_no_event().
  struct WriteMark {
    std::uint64_t seq = 0;
    std::uint64_t events_written = 0;
  };
  WriteMark mark() const {
    return WriteMark{registry_->last_sequence(), registry_->stats().events_written};
  }
  // Requires `result` ok, and that nothing was appended since `before` (docs/SEMANTICS.md,
  // "Events").
  void expect_no_event(const Result<std::uint64_t>& result, const WriteMark& before) {
    BOOST_REQUIRE_MESSAGE(result.ok(), "write failed: " << result.status().to_string());
    BOOST_TEST(*result == before.seq);
    BOOST_TEST(reg().last_sequence() == before.seq);
    BOOST_TEST(reg().stats().events_written == before.events_written);
  }

  // Waits until the hooks of every committed event were dispatched, including the events hook
  // handlers wrote meanwhile; returns the last sequence.
  std::uint64_t settle() {
    constexpr int kMaxRounds = 8;
    std::uint64_t seq = reg().last_sequence();
    for (int round = 0; round < kMaxRounds; ++round) {
      const Status s = reg().wait_for_hooks(seq, kHookTimeout);
      BOOST_REQUIRE_MESSAGE(s.ok(), "wait_for_hooks(" << seq << "): " << s.to_string());
      const std::uint64_t after = reg().last_sequence();
      if (after == seq) return seq;
      seq = after;  // a handler wrote: wait for its events' hooks too
    }
    BOOST_FAIL("hook handlers still writing after " << kMaxRounds << " rounds");
    return seq;
  }

  // Number of hook events recorded once everything committed was dispatched.
  std::size_t hooks_seen() {
    settle();
    return recorder_->events().size();
  }
  std::vector<HookEvent> hooks_since(std::size_t from) {
    settle();
    std::vector<HookEvent> all = recorder_->events();
    BOOST_REQUIRE(from <= all.size());
    return {all.begin() + static_cast<std::ptrdiff_t>(from), all.end()};
  }
  // Proves that no hook fired since `from` without sleeping: erasing the absent sentinel with
  // hooks on fires exactly one child_unregistered and changes no row (docs/SEMANTICS.md,
  // "erase"), so once it is dispatched every earlier hook would have been too. Writes one
  // event.
  void expect_no_hooks_since(std::size_t from) {
    const std::uint64_t seq = committed(reg().erase(kSentinel, write_options(Hooks::kOn)));
    const std::vector<HookEvent> expected{unregistered(kSentinel, seq)};
    BOOST_TEST(hooks_since(from) == expected);
  }

  // One janitor pass at now(); returns how many rows it expired.
  std::size_t janitor_pass() {
    const Result<std::size_t> expired = reg().run_janitor();
    BOOST_REQUIRE_MESSAGE(expired.ok(), "run_janitor: " << expired.status().to_string());
    return *expired;
  }

  // A tombstone for `id` (a bulk_delete emptying a bound row, docs/SEMANTICS.md
  // "bulk_delete"), written at now(), hooks off.
  // Returns the sequence of the bulk_delete.
  std::uint64_t make_tombstone(const std::string& id, Metadata metadata = {}) {
    committed(reg().insert(S(id), {np("n1", "p1")}, insert_options(Hooks::kOff, metadata)));
    return committed(reg().bulk_delete({{id, {"n1"}}}));
  }

  // Closes the registry and opens it again on the same log: the replayed state must equal
  // the state the writer had, so every event the test's calls wrote must say what they did.
  void reopen_and_compare() {
    settle();
    const std::map<std::string, Dump> tables = reg().dump_all_tables();
    const std::uint64_t seq = reg().last_sequence();
    const std::uint64_t epoch = reg().epoch();
    close();
    open();
    BOOST_TEST_CONTEXT("after reopening the log in " << dir_.path()) {
      BOOST_TEST(reg().last_sequence() == seq);
      BOOST_TEST(reg().epoch() == epoch);
      BOOST_TEST(reg().dump_all_tables() == tables);
    }
  }

 private:
  void open() {
    RegistryOptions o;
    o.hub = kHub;
    o.log_dir = dir_.path();
    o.local_node = kLocalNode;
    o.log.durability = Durability::kNone;
    o.clock = [clock = clock_] { return clock->load(); };
    o.janitor_interval = std::chrono::milliseconds(0);
    auto opened = Registry::open(std::move(o));
    BOOST_REQUIRE_MESSAGE(opened.ok(), "Registry::open: " << opened.status().to_string());
    registry_ = std::move(*opened);
    for (HookTopic topic : {HookTopic::kChildRegistered, HookTopic::kChildUnregistered}) {
      recorder_subscriptions_.push_back(registry_->subscribe(
          topic, [recorder = recorder_](const HookEvent& e) { recorder->record(e); }));
    }
  }

  // Unsubscribes, then closes. A handler the hook thread is already running may still
  // finish after its unsubscription; handlers own their state, so that is safe.
  void close() {
    subscriptions_.clear();
    recorder_subscriptions_.clear();
    registry_.reset();
  }

  TempDir dir_;
  std::shared_ptr<std::atomic<std::int64_t>> clock_ =
      std::make_shared<std::atomic<std::int64_t>>(kStartMs);
  std::shared_ptr<HookRecorder> recorder_ = std::make_shared<HookRecorder>();
  std::unique_ptr<Registry> registry_;
  std::vector<HookSubscription> recorder_subscriptions_;
  std::vector<HookSubscription> subscriptions_;
};

}  // namespace procreg::testing
