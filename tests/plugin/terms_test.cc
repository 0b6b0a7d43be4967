// Terms and histories (docs/PROTOCOL.md, "Terms and histories"; docs/LOG_FORMAT.md section 3):
// a replica following a writer over real sockets notices a writer that came back on another
// history of the same epoch (a restored copy that then wrote as many events as the replica
// held), resynchronises, and ignores a writer of an older term; and it moves to a writer of a
// newer term on other endpoints, which its heartbeats name.
#include <filesystem>

#include <boost/test/unit_test.hpp>

#include "bus_fixture.h"
#include "procreg/bus_proxy.h"
#include "procreg/client.h"
#include "procreg/replica.h"

namespace procreg {
namespace {

using namespace procreg::testing;
using std::chrono::milliseconds;

ChildSpec spec(const std::string& id) {
  return ChildSpec{id, StartSpec{"M", "start_link", {}}, {}};
}

void insert_range(Registry& r, const std::string& prefix, int first, int last) {
  for (int i = first; i <= last; ++i) {
    auto seq = r.insert(spec(prefix + std::to_string(i)), {{"n1", "<0.1.0>"}});
    BOOST_REQUIRE_MESSAGE(seq.ok(), seq.status().to_string());
  }
}

// A copy of a log directory's files as they are now (the writer keeps it open: its records
// are on disk under kSyncEach).
void copy_log(const std::string& from, const std::string& to) {
  std::filesystem::create_directories(to);
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    std::filesystem::copy_file(entry.path(), to + "/" + entry.path().filename().string(),
                               std::filesystem::copy_options::overwrite_existing);
  }
}

bool same_state(const Replica& replica, const Registry& writer) {
  return replica.registry().last_sequence() == writer.last_sequence() &&
         replica.registry().dump_all_tables() == writer.dump_all_tables();
}

BOOST_AUTO_TEST_SUITE(terms)

BOOST_AUTO_TEST_CASE(a_replica_notices_a_writer_back_on_another_history_of_the_same_epoch) {
  zmq::context_t ctx;
  TempDir sockets;
  TempDir dir;
  TempDir restored;
  const Transport t = ipc_transport(sockets);  // the same endpoints for the writer restarted
  std::uint64_t old_incarnation = 0;
  std::unique_ptr<Replica> replica;
  {
    Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(t));
    old_incarnation = w.registry->incarnation();
    insert_range(*w.registry, "a", 1, 5);
    copy_log(dir.path(), restored.path());  // a backup at seq 5
    insert_range(*w.registry, "a", 6, 10);
    replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
    BOOST_REQUIRE(eventually([&] { return same_state(*replica, *w.registry); }));
  }
  // The writer comes back on the backup and writes more than the replica held: seqs 6..13 of
  // another history, under the same epoch. Seq 10 is another event than the replica's.
  Writer back = Writer::open(ctx, writer_options(restored.path()), Writer::server_options(t));
  BOOST_TEST(back.registry->incarnation() != old_incarnation);
  BOOST_TEST(back.registry->incarnation_start_seq() == 6u);
  insert_range(*back.registry, "b", 6, 13);
  BOOST_TEST(eventually([&] { return same_state(*replica, *back.registry); }));
  BOOST_TEST(!replica->registry().entry_exists("a10"));
  BOOST_TEST(replica->registry().entry_exists("b13"));
  BOOST_TEST(replica->stats().histories_diverged >= 1u);
  BOOST_TEST(replica->stats().resyncs >= 1u);
}

BOOST_AUTO_TEST_CASE(a_promoted_writer_is_followed_and_the_old_term_is_fenced) {
  zmq::context_t ctx;
  TempDir sockets;
  TempDir dir;
  TempDir old_copy;
  const Transport t = ipc_transport(sockets);
  std::unique_ptr<Replica> replica;
  std::unique_ptr<Client> client;
  {
    Writer w = Writer::open(ctx, writer_options(dir.path()), Writer::server_options(t));
    BOOST_TEST(w.registry->term() == 1u);
    insert_range(*w.registry, "a", 1, 5);
    replica = start_replica(ctx, w.replica_options(w.server->publish_endpoint()));
    BOOST_REQUIRE(eventually([&] { return same_state(*replica, *w.registry); }));
  }
  copy_log(dir.path(), old_copy.path());  // what the old writer (term 1) keeps
  {
    // Promoted: term 3 on the same history. The replica follows without starting over.
    RegistryOptions promoted = writer_options(dir.path());
    promoted.log.term = 3;
    Writer w = Writer::open(ctx, promoted, Writer::server_options(t));
    BOOST_TEST(w.registry->term() == 3u);
    const std::uint64_t resyncs = replica->stats().resyncs;
    insert_range(*w.registry, "b", 6, 8);
    BOOST_REQUIRE(eventually([&] { return same_state(*replica, *w.registry); }));
    BOOST_TEST(replica->stats().resyncs == resyncs);
    BOOST_TEST(replica->stats().histories_diverged == 0u);
    // A client hears term 3 in a reply.
    ClientOptions co;
    co.endpoint = w.server->command_endpoint();
    co.hub = w.registry->hub();
    auto c = Client::connect(ctx, co);
    BOOST_REQUIRE_MESSAGE(c.ok(), c.status().to_string());
    client = std::move(*c);
    InsertOptions io;
    io.timeout = milliseconds(3'000);
    BOOST_REQUIRE(client->insert(spec("b9"), {{"n1", "<0.9.0>"}}, io).ok());
    BOOST_REQUIRE(eventually([&] { return same_state(*replica, *w.registry); }));
  }
  // The old writer (term 1) comes back on its own copy at the same endpoints and writes: the
  // replica, which heard term 3, takes none of it.
  const auto before = replica->registry().dump_all_tables();
  const std::uint64_t applied = replica->registry().last_sequence();
  Writer old = Writer::open(ctx, writer_options(old_copy.path()), Writer::server_options(t));
  BOOST_TEST(old.registry->term() == 1u);
  insert_range(*old.registry, "c", 6, 12);  // seqs 6..12: past what the replica holds
  BOOST_TEST(eventually([&] { return replica->stats().fenced >= 3u; }));
  BOOST_TEST(replica->registry().last_sequence() == applied);
  BOOST_TEST((replica->registry().dump_all_tables() == before));
  BOOST_TEST(!replica->registry().entry_exists("c12"));
  // The client, reconnected to the same endpoint, does not take the old writer's answers.
  InsertOptions io;
  io.timeout = milliseconds(3'000);
  Status refused;
  BOOST_TEST(eventually([&] {
               refused = client->insert(spec("d1"), {{"n1", "<0.9.1>"}}, io).status();
               return refused.code() == Code::kUnavailable &&
                      refused.message().find("fenced") != std::string::npos;
             }),
             refused.to_string());
}

BOOST_AUTO_TEST_CASE(a_replica_moves_to_the_endpoints_a_newer_writer_names_in_heartbeats) {
  zmq::context_t ctx;
  TempDir sockets;
  TempDir dir;
  BusProxyOptions po;
  po.frontend = "ipc://" + sockets.file("front");
  po.backend = "ipc://" + sockets.file("back");
  auto proxy = BusProxy::start(ctx, po);
  BOOST_REQUIRE(proxy.ok());
  // Each writer publishes on the shared bus; its replay service and command channel are its own.
  const auto server_options = [&](const std::string& tag) {
    HubServerOptions so =
        Writer::server_options({"ipc", "", "ipc://" + sockets.file("replay-" + tag),
                                "ipc://" + sockets.file("cmd-" + tag)});
    so.publish_connect = true;
    so.publish_endpoint = (*proxy)->frontend_endpoint();
    return so;
  };
  std::unique_ptr<Replica> replica;
  {
    Writer a = Writer::open(ctx, writer_options(dir.path()), server_options("a"));
    insert_range(*a.registry, "a", 1, 5);
    replica = start_replica(ctx, a.replica_options((*proxy)->backend_endpoint()));
    BOOST_REQUIRE(eventually([&] { return same_state(*replica, *a.registry); }));
  }
  // The next writer, at term 3 on other endpoints, writes 6..8 before it publishes anything:
  // the replica can only get them from the new writer's replay service.
  RegistryOptions promoted = writer_options(dir.path());
  promoted.log.term = 3;
  auto opened = Registry::open(promoted);
  BOOST_REQUIRE(opened.ok());
  std::unique_ptr<Registry> b = std::move(*opened);
  insert_range(*b, "b", 6, 8);
  auto server = HubServer::start(ctx, *b, server_options("b"));
  BOOST_REQUIRE(server.ok());
  insert_range(*b, "b", 9, 9);
  BOOST_TEST(eventually([&] { return same_state(*replica, *b); }));
  BOOST_TEST(replica->stats().histories_diverged == 0u);
  // Its writes go to the new writer too.
  InsertOptions io;
  io.timeout = milliseconds(3'000);
  auto via = replica->registry().insert(spec("via"), {{"n1", "<0.2.0>"}}, io);
  BOOST_TEST(via.ok(), via.status().to_string());
  BOOST_TEST(b->entry_exists("via"));
  (*server)->stop();
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg
