// Invalid arguments are refused with a clear error, counted, and write nothing; a write that
// cannot get the writer's slot within its timeout fails cleanly; a read-only replay refuses
// writes.
#include <atomic>
#include <chrono>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "procreg/registry.h"
#include "temp_dir.h"

namespace procreg {
namespace {

RegistryOptions options_for(const std::string& dir) {
  RegistryOptions o;
  o.hub = "hub";
  o.log_dir = dir;
  o.local_node = "n0";
  o.log.durability = Durability::kNone;
  o.janitor_interval = std::chrono::milliseconds(0);
  return o;
}

BOOST_AUTO_TEST_SUITE(arguments)

BOOST_AUTO_TEST_CASE(invalid_arguments_are_refused_counted_and_write_nothing) {
  testing::TempDir dir;
  auto opened = Registry::open(options_for(dir.path()));
  BOOST_REQUIRE(opened.ok());
  Registry& r = **opened;
  ChildSpec with_reserved_extra = make_spec("x");
  with_reserved_extra.extra["id"] = "y";
  InsertOptions huge_ttl;
  huge_ttl.ttl_ms = std::int64_t{1} << 62;
  const Status refusals[] = {
      r.insert(make_spec(""), {{"n1", "<1>"}}).status(),
      r.insert(make_spec("a"), {{"", "<1>"}}).status(),
      r.insert(make_spec("a"), {{"n1", ""}}).status(),
      r.insert(with_reserved_extra, {}).status(),
      r.insert(make_spec("a"), {}, huge_ttl).status(),
      r.bulk_insert({Entry{make_spec("ok"), {}, {}}, Entry{make_spec(""), {}, {}}}).status(),
      r.erase("").status(),
      r.bulk_delete({{"", {"n1"}}}).status(),
  };
  for (const Status& s : refusals) {
    BOOST_TEST(s.code() == Code::kInvalidArgument, s.to_string());
    BOOST_TEST(!s.message().empty());
  }
  BOOST_TEST(r.stats().invalid_calls == std::size(refusals));
  BOOST_TEST(r.stats().events_written == 0u);
  BOOST_TEST(r.dump_all().empty());  // not even the valid first entry of the bulk_insert
  BOOST_TEST(r.last_sequence() == 0u);
}

BOOST_AUTO_TEST_CASE(a_write_that_cannot_start_in_time_times_out_and_writes_nothing) {
  testing::TempDir dir;
  auto opened = Registry::open(options_for(dir.path()));
  BOOST_REQUIRE(opened.ok());
  Registry& r = **opened;
  BOOST_REQUIRE(r.insert(make_spec("a"), {{"n1", "<1>"}}).ok());
  std::atomic<bool> inside{false}, release{false};
  // An update function runs while the writer's slot is held: hold it until told.
  std::thread holder([&] {
    (void)r.update("a", [&](const ChildSpec& s, const NodePids& np, const Metadata& md) {
      inside = true;
      const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!release.load() && std::chrono::steady_clock::now() < limit) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return Entry{s, np, md};
    });
  });
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!inside.load() && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  BOOST_REQUIRE(inside.load());
  InsertOptions quick;
  quick.timeout = std::chrono::milliseconds(50);
  auto blocked = r.insert(make_spec("b"), {{"n1", "<2>"}}, quick);
  release = true;
  holder.join();
  BOOST_TEST(blocked.status().code() == Code::kTimeout);
  BOOST_TEST(!r.entry_exists("b"));
  BOOST_TEST(r.insert(make_spec("b"), {{"n1", "<2>"}}, quick).ok());  // the slot is free again
}

BOOST_AUTO_TEST_CASE(a_read_only_replay_refuses_writes_and_answers_reads) {
  testing::TempDir dir;
  {
    auto opened = Registry::open(options_for(dir.path()));
    BOOST_REQUIRE(opened.ok());
    BOOST_REQUIRE((*opened)->insert(make_spec("a"), {{"n0", "<1>"}}).ok());
  }
  auto replayed = Registry::open_replay(ReplayOptions{dir.path(), "n0", 0});
  BOOST_REQUIRE(replayed.ok());
  BOOST_TEST((*replayed)->read_only());
  BOOST_TEST((*replayed)->insert(make_spec("b"), {}).status().code() == Code::kUnavailable);
  BOOST_TEST((*replayed)->clear_all().status().code() == Code::kUnavailable);
  BOOST_TEST(((*replayed)->local_pid("a") == std::optional<Pid>("<1>")));
}

BOOST_AUTO_TEST_CASE(opening_a_missing_log_read_only_is_not_found) {
  testing::TempDir dir;
  auto replayed = Registry::open_replay(ReplayOptions{dir.file("none"), "n0", 0});
  BOOST_TEST(replayed.status().code() == Code::kNotFound);
  RegistryOptions no_hub = options_for(dir.path());
  no_hub.hub.clear();
  BOOST_TEST(Registry::open(no_hub).status().code() == Code::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
