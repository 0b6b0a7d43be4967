// A writer with a leadership lease (RegistryOptions::lease, include/procreg/write_lease.h)
// takes writes only while the lease is held, and counts a record as durable (applied,
// acknowledged) only while it is held: a record appended as the lease lapses waits for a
// renewal, and is never acknowledged if the lease is lost; it is in the log all the same
// (its outcome unknown to the caller, as for any writer that disappears).
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include <boost/test/unit_test.hpp>

#include "procreg/registry.h"
#include "procreg/write_lease.h"
#include "temp_dir.h"

namespace procreg {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

RegistryOptions options_for(const std::string& dir, std::shared_ptr<WriteLease> lease) {
  RegistryOptions o;
  o.hub = "hub";
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = Durability::kGroupCommit;
  // After a sync, the next comes no sooner than this: a write appended meanwhile is not
  // durable until then.
  o.log.group_commit_interval = milliseconds(1'500);
  o.janitor_interval = milliseconds(0);
  o.lease = std::move(lease);
  return o;
}

// Writes "b" on another thread (its result checked on the test's thread).
std::future<Result<std::uint64_t>> insert_b(Registry& r, milliseconds timeout) {
  return std::async(std::launch::async, [&r, timeout] {
    InsertOptions io;
    io.timeout = timeout;
    return r.insert(make_spec("b"), {{"n0", "<2>"}}, io);
  });
}

BOOST_AUTO_TEST_SUITE(lease)

BOOST_AUTO_TEST_CASE(writes_are_refused_while_the_lease_is_not_held) {
  testing::TempDir dir;
  auto lease = std::make_shared<WriteLease>();
  auto opened = Registry::open(options_for(dir.path(), lease));
  BOOST_REQUIRE(opened.ok());
  Registry& r = **opened;
  auto before = r.insert(make_spec("a"), {{"n0", "<1>"}});
  BOOST_TEST(before.status().code() == Code::kUnavailable);
  BOOST_TEST(before.status().message().find("lease") != std::string::npos,
             before.status().to_string());
  BOOST_TEST(r.last_sequence() == 0u);

  lease->extend_until(SteadyClock::now() + std::chrono::seconds(30));
  auto held = r.insert(make_spec("a"), {{"n0", "<1>"}});
  BOOST_REQUIRE(held.ok());
  BOOST_TEST(*held == 1u);
  BOOST_TEST(r.entry_exists("a"));

  lease->lose();
  auto lost = r.insert(make_spec("c"), {{"n0", "<3>"}});
  BOOST_TEST(lost.status().code() == Code::kUnavailable);
  BOOST_TEST(lost.status().message().find("lost") != std::string::npos, lost.status().to_string());
  lease->extend_until(SteadyClock::now() + std::chrono::seconds(30));  // lost stays lost
  BOOST_TEST(!lease->held());
  BOOST_TEST(r.insert(make_spec("c"), {{"n0", "<3>"}}).status().code() == Code::kUnavailable);
  BOOST_TEST(r.last_sequence() == 1u);
}

BOOST_AUTO_TEST_CASE(a_record_appended_as_the_lease_lapses_counts_after_a_renewal) {
  testing::TempDir dir;
  auto lease = std::make_shared<WriteLease>();
  lease->extend_until(SteadyClock::now() + std::chrono::seconds(30));
  auto opened = Registry::open(options_for(dir.path(), lease));
  BOOST_REQUIRE(opened.ok());
  Registry& r = **opened;
  BOOST_REQUIRE(r.insert(make_spec("a"), {{"n0", "<1>"}}).ok());  // synced at once

  // Held when "b" is admitted; lapsed when its sync comes, 1.5 s after the first.
  lease->extend_until(SteadyClock::now() + milliseconds(300));
  auto b = insert_b(r, milliseconds(10'000));
  const auto settled = b.wait_for(milliseconds(2'500));
  BOOST_TEST((settled == std::future_status::timeout));  // appended, synced, not counted
  BOOST_TEST(!r.entry_exists("b"));
  BOOST_TEST(!lease->held());

  lease->extend_until(SteadyClock::now() + std::chrono::seconds(30));  // held throughout
  BOOST_REQUIRE((b.wait_for(milliseconds(5'000)) == std::future_status::ready));
  auto got = b.get();
  BOOST_REQUIRE(got.ok());
  BOOST_TEST(*got == 2u);
  BOOST_TEST(r.entry_exists("b"));
}

BOOST_AUTO_TEST_CASE(a_record_appended_as_the_lease_is_lost_is_never_acknowledged) {
  testing::TempDir dir;
  auto lease = std::make_shared<WriteLease>();
  lease->extend_until(SteadyClock::now() + std::chrono::seconds(30));
  {
    auto opened = Registry::open(options_for(dir.path(), lease));
    BOOST_REQUIRE(opened.ok());
    Registry& r = **opened;
    BOOST_REQUIRE(r.insert(make_spec("a"), {{"n0", "<1>"}}).ok());
    lease->extend_until(SteadyClock::now() + milliseconds(300));
    auto b = insert_b(r, milliseconds(3'000));
    BOOST_TEST((b.wait_for(milliseconds(2'000)) == std::future_status::timeout));
    lease->lose();  // etcd said the lease is gone: another writer may be elected
    BOOST_REQUIRE((b.wait_for(milliseconds(5'000)) == std::future_status::ready));
    auto got = b.get();
    BOOST_TEST(got.status().code() == Code::kTimeout, got.status().to_string());
    BOOST_TEST(got.status().message().find("lease") != std::string::npos, got.status().to_string());
    BOOST_TEST(!r.entry_exists("b"));
  }
  // The record is in this log: whether it survives is the next writer's history's to say
  // (a standby that copied it, or not). Reopened without a lease, this log holds it.
  RegistryOptions plain = options_for(dir.path(), nullptr);
  auto reopened = Registry::open(plain);
  BOOST_REQUIRE(reopened.ok());
  BOOST_TEST((*reopened)->entry_exists("b"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
