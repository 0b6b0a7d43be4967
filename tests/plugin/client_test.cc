// procreg::Client against a writer's command channel and a replica's serve endpoint: every read
// answers what the serving Registry answers, paged reads stay correct while the table changes,
// at_least_seq gives read-your-writes across nodes, writes pipeline on one socket with a bound,
// and malformed reads get an error reply. Real sockets (tcp on 127.0.0.1, ipc, inproc).
#include <algorithm>
#include <atomic>
#include <future>
#include <set>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "bus_fixture.h"
#include "plugin/command_messages.h"
#include "plugin/zmq_util.h"
#include "procreg/client.h"

namespace procreg::testing {

using std::chrono::milliseconds;

namespace {

std::unique_ptr<Client> connect_client(zmq::context_t& ctx, const std::string& endpoint,
                                       std::size_t in_flight = 1024) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.hub = "hub";
  o.max_in_flight = in_flight;
  auto c = Client::connect(ctx, o);
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  return std::move(*c);
}

template <typename T>
T value_of(Result<Answer<T>> r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(r->value);
}

template <typename T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return v;
}

std::vector<ChildSpec> sorted_specs(std::vector<ChildSpec> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return v;
}

// Every read of `c` (with pages of `page` rows) equals the same read of `r`.
void check_reads_match(Client& c, const Registry& r, std::uint32_t page) {
  for (const std::string table : {"", "other"}) {
    BOOST_TEST_CONTEXT("table '" << table << "', pages of " << page) {
      RemoteReadOptions o;
      o.table = table;
      o.page_rows = page;
      ReadOptions ro;
      ro.table = table;
      BOOST_TEST((value_of(c.dump(o)) == r.dump(ro)));
      BOOST_TEST((value_of(c.dump_all(o)) == r.dump_all(ro)));
      BOOST_TEST((value_of(c.registry(o)) == r.registry(ro)));
      BOOST_TEST((value_of(c.local_children(o)) == r.local_children(ro)));
      BOOST_TEST((sorted(value_of(c.local_data(o))) == sorted(r.local_data(ro))));
      BOOST_TEST((sorted_specs(value_of(c.local_child_specs(o))) ==
                  sorted_specs(r.local_child_specs(ro))));
      for (Scope s : {Scope::kGlobal, Scope::kLocal}) {
        BOOST_TEST((sorted(value_of(c.process_list(s, o))) == sorted(r.process_list(s, ro))));
      }
      for (int t = 0; t < 5; ++t) {
        const std::string tag = "t" + std::to_string(t);
        BOOST_TEST((sorted(value_of(c.match_tag(tag, o))) == sorted(r.match_tag(tag, ro))));
      }
      std::vector<ChildId> ids;
      for (int i = 0; i < 220; i += 3) {
        const std::string id = "c" + std::to_string(i);
        ids.push_back(id);
        LookupOptions lo;
        lo.table = table;
        BOOST_TEST((value_of(c.lookup(id, false, o)) == r.lookup(id, lo)));
        lo.with_metadata = true;
        BOOST_TEST((value_of(c.lookup(id, true, o)) == r.lookup(id, lo)));
        BOOST_TEST((value_of(c.get_pid(id, o)) == r.get_pid(id, ro)));
        BOOST_TEST((value_of(c.get_pids(id, o)) == r.get_pids(id, ro)));
        BOOST_TEST((value_of(c.local_pid(id, o)) == r.local_pid(id, ro)));
        BOOST_TEST(value_of(c.entry_exists(id, o)) == r.entry_exists(id, ro));
      }
      BOOST_TEST((value_of(c.contains_children(ids, o)) == r.contains_children(ids, ro)));
    }
  }
  RemoteReadOptions o;
  o.page_rows = page;
  BOOST_TEST((value_of(c.dump_all_tables(o)) == r.dump_all_tables()));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(client)

BOOST_AUTO_TEST_CASE(every_read_at_the_writer_answers_what_the_registry_answers) {
  zmq::context_t ctx;
  TempDir dir;
  for (const Transport& t : {tcp_transport(), ipc_transport(dir), inproc_transport("reads")}) {
    BOOST_TEST_CONTEXT(t.name) {
      TempDir log;
      Writer w = Writer::open(ctx, writer_options(log.path()), Writer::server_options(t));
      random_workload(*w.registry, 7, 1'500);
      auto c = connect_client(ctx, w.server->command_endpoint());
      for (std::uint32_t page : {0u, 1u, 7u}) check_reads_match(*c, *w.registry, page);
      auto stats = c->stats();
      BOOST_REQUIRE(stats.ok());
      BOOST_TEST(stats->seq == w.registry->last_sequence());
      BOOST_TEST(stats->value.at("role").as_string() == "writer");
      BOOST_TEST(stats->value.at("hub").as_string() == "hub");
    }
  }
}

BOOST_AUTO_TEST_CASE(a_replicas_serve_endpoint_answers_from_the_replica) {
  zmq::context_t ctx;
  TempDir log;
  Writer w = Writer::open(ctx, writer_options(log.path()), Writer::server_options(tcp_transport()));
  random_workload(*w.registry, 11, 1'000);
  ReplicaOptions ro = w.replica_options(w.server->publish_endpoint());
  ro.serve_endpoint = "tcp://127.0.0.1:*";
  auto replica = start_replica(ctx, ro);
  BOOST_REQUIRE(replica->wait_for(w.registry->last_sequence(), kWait).ok());
  BOOST_TEST(replica->serve_endpoint().rfind("tcp://127.0.0.1:", 0) == 0u);
  auto c = connect_client(ctx, replica->serve_endpoint());
  check_reads_match(*c, replica->registry(), 5);
  auto stats = c->stats();
  BOOST_REQUIRE(stats.ok());
  BOOST_TEST(stats->value.at("role").as_string() == "replica");
  BOOST_TEST(stats->value.at("local_node").as_string() == "n1");
  // A write at the replica's endpoint goes to the writer, and the replica has it on return.
  auto ack = c->insert(make_spec("via-replica"), {{"n1", "<9>"}});
  BOOST_REQUIRE_MESSAGE(ack.ok(), ack.status().to_string());
  BOOST_TEST((w.registry->get_pid("via-replica") == std::optional<Pid>("<9>")));
  BOOST_TEST((replica->registry().get_pid("via-replica") == std::optional<Pid>("<9>")));
  BOOST_TEST(replica->stats().commands_served > 0u);
}

// A client writes through replica A and reads at once from replica B with at_least_seq: B
// answers only once it applied the write.
BOOST_AUTO_TEST_CASE(at_least_seq_reads_a_write_made_through_another_replica) {
  zmq::context_t ctx;
  TempDir log;
  Writer w = Writer::open(ctx, writer_options(log.path()), Writer::server_options(tcp_transport()));
  ReplicaOptions ro = w.replica_options(w.server->publish_endpoint());
  ro.serve_endpoint = "tcp://127.0.0.1:*";
  auto a = start_replica(ctx, ro);
  ro.local_node = "n2";
  auto b = start_replica(ctx, ro);
  BOOST_REQUIRE(a->wait_caught_up(kWait).ok());
  BOOST_REQUIRE(b->wait_caught_up(kWait).ok());
  auto via_a = connect_client(ctx, a->serve_endpoint());
  auto via_b = connect_client(ctx, b->serve_endpoint());
  for (int i = 0; i < 50; ++i) {
    const std::string id = "w" + std::to_string(i);
    auto ack = via_a->insert(make_spec(id), {{"n1", "<" + std::to_string(i) + ">"}});
    BOOST_REQUIRE_MESSAGE(ack.ok(), ack.status().to_string());
    RemoteReadOptions o;
    o.at_least_seq = ack->seq;
    auto pid = via_b->get_pid(id, o);
    BOOST_REQUIRE_MESSAGE(pid.ok(), pid.status().to_string());
    BOOST_TEST(pid->seq >= ack->seq);
    BOOST_TEST(pid->epoch == ack->epoch);
    BOOST_TEST((pid->value == std::optional<Pid>("<" + std::to_string(i) + ">")));
  }
  // A seq the hub has not reached: kTimeout within the read's own timeout, naming both seqs.
  RemoteReadOptions ahead;
  ahead.at_least_seq = w.registry->last_sequence() + 1'000;
  ahead.timeout = milliseconds(300);
  const auto t0 = std::chrono::steady_clock::now();
  auto late = via_b->get_pid("w1", ahead);
  BOOST_REQUIRE(!late.ok());
  BOOST_TEST(late.status().code() == Code::kTimeout);
  BOOST_TEST(late.status().message().find(std::to_string(ahead.at_least_seq)) != std::string::npos);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < milliseconds(5'000)));
}

// Pages through a table while other rows come and go: no row twice, and every row that
// existed throughout is there (a table scan, process_list, and an index, match_tag).
BOOST_AUTO_TEST_CASE(paging_while_the_table_changes_returns_each_stable_row_once) {
  zmq::context_t ctx;
  TempDir log;
  Writer w = Writer::open(ctx, writer_options(log.path()), Writer::server_options(tcp_transport()));
  WriteBatch stable;
  for (int i = 0; i < 3'000; ++i) {
    InsertOptions io;
    io.metadata["tag"] = "keep";
    stable.insert(make_spec("s" + std::to_string(i)), {{"n0", "<s>"}}, io);
  }
  for (auto& r : w.registry->write(std::move(stable))) BOOST_REQUIRE(r.ok());
  auto c = connect_client(ctx, w.server->command_endpoint());
  std::atomic<bool> stop{false};
  std::atomic<int> churned{0};
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  };
  std::thread churn([&] {
    for (int i = 0; i < 200'000 && !stop.load(); ++i) {
      InsertOptions io;
      io.metadata["tag"] = "keep";
      const std::string id = "x" + std::to_string(i);
      (void)w.registry->insert(make_spec(id), {{"n0", "<x>"}}, io);
      if (i % 2 == 0) (void)w.registry->erase("x" + std::to_string(i / 2));
      churned.fetch_add(1);
    }
  });
  Joiner joiner{stop, churn};
  for (int round = 0; round < 3; ++round) {
    RemoteReadOptions o;
    o.page_rows = 97;
    for (const bool by_tag : {false, true}) {
      BOOST_TEST_CONTEXT("round " << round << (by_tag ? ", match_tag" : ", process_list")) {
        ChildNodePids got = by_tag ? value_of(c->match_tag("keep", o))
                                   : value_of(c->process_list(Scope::kGlobal, o));
        std::set<ChildId> seen;
        int twice = 0;
        for (const auto& [id, np] : got) twice += seen.insert(id).second ? 0 : 1;
        BOOST_TEST(twice == 0);
        int missing = 0;
        for (int i = 0; i < 3'000; ++i) missing += seen.count("s" + std::to_string(i)) ? 0 : 1;
        BOOST_TEST(missing == 0);
      }
    }
  }
  stop = true;
  churn.join();
  BOOST_TEST(churned.load() > 0);
}

// Writes pipeline on the client's one socket; past max_in_flight a submitted write fails at
// once with kResourceExhausted and is not sent, and a synchronous one waits within its timeout.
BOOST_AUTO_TEST_CASE(writes_in_flight_are_bounded_per_client) {
  zmq::context_t ctx;
  zmq::socket_t silent(ctx, zmq::socket_type::router);  // takes commands, never answers
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  auto c = connect_client(ctx, silent.get(zmq::sockopt::last_endpoint), 3);
  InsertOptions slow;
  slow.timeout = milliseconds(2'000);
  WriteBatch three;
  for (int i = 0; i < 3; ++i)
    three.insert(make_spec("p" + std::to_string(i)), {{"n", "<p>"}}, slow);
  auto pending = c->submit(std::move(three));
  // All three reach the writer's socket, on one connection, before any reply.
  std::set<std::string> peers;
  for (int i = 0; i < 3; ++i) {
    plugin::Frames got;
    auto heard = plugin::recv_until(silent, &got, plugin::RecvLimits{},
                                    std::chrono::steady_clock::now() + kWait);
    BOOST_REQUIRE(heard.ok() && *heard);
    peers.insert(std::string(plugin::view(got[0])));
  }
  BOOST_TEST(peers.size() == 1u);
  WriteBatch one_more;
  one_more.insert(make_spec("p3"), {{"n", "<p>"}}, slow);
  const auto refused = c->submit(std::move(one_more)).get();
  BOOST_REQUIRE(refused.size() == 1u);
  BOOST_TEST(refused[0].status().code() == Code::kResourceExhausted);
  InsertOptions quick;
  quick.timeout = milliseconds(100);
  auto waited = c->insert(make_spec("p4"), {{"n", "<p>"}}, quick);
  BOOST_TEST(waited.status().code() == Code::kTimeout);
  for (const auto& r : pending.get()) BOOST_TEST(r.status().code() == Code::kTimeout);
  plugin::Frames got;
  auto more = plugin::recv_until(silent, &got, plugin::RecvLimits{},
                                 std::chrono::steady_clock::now() + milliseconds(100));
  BOOST_TEST((more.ok() && !*more));  // neither refused write was sent
}

// Many writes in flight from several clients at once all commit, and each client's writes
// answer with distinct seqs.
BOOST_AUTO_TEST_CASE(pipelined_writes_from_several_clients_all_commit) {
  zmq::context_t ctx;
  TempDir log;
  RegistryOptions wo = writer_options(log.path());
  wo.log.durability = Durability::kGroupCommit;
  Writer w = Writer::open(ctx, wo, Writer::server_options(tcp_transport()));
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(connect_client(ctx, w.server->command_endpoint()));
  std::vector<std::future<std::vector<Result<Ack>>>> results;
  for (int i = 0; i < 4; ++i) {
    WriteBatch b;
    for (int j = 0; j < 200; ++j) {
      b.insert(make_spec("k" + std::to_string(i) + "-" + std::to_string(j)), {{"n", "<k>"}});
    }
    results.push_back(clients[static_cast<std::size_t>(i)]->submit(std::move(b)));
  }
  std::set<std::uint64_t> seqs;
  for (auto& f : results) {
    for (const auto& r : f.get()) {
      BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
      seqs.insert(r->seq);
    }
  }
  BOOST_TEST(seqs.size() == 800u);
  BOOST_TEST(w.registry->dump_all().size() == 800u);
  BOOST_TEST(w.registry->stats().log_largest_sync_group > 1u);
}

// Bad reads: each gets an error reply with the request's id, and the service goes on.
BOOST_AUTO_TEST_CASE(malformed_reads_get_an_error_reply) {
  zmq::context_t ctx;
  TempDir log;
  Writer w = Writer::open(ctx, writer_options(log.path()), Writer::server_options(tcp_transport()));
  (void)w.registry->insert(make_spec("a"), {{"n0", "<a>"}});
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(w.server->command_endpoint());
  auto ask = [&](const plugin::wire::Command& c, const std::string& patch_from = "",
                 const std::string& patch_to = "") {
    std::string body;
    plugin::wire::encode(c, &body);
    if (!patch_from.empty()) body.replace(body.find(patch_from), patch_from.size(), patch_to);
    plugin::Frames frames;
    frames.emplace_back(body.data(), body.size());
    BOOST_REQUIRE(plugin::send_message(dealer, frames).ok());
    auto got = plugin::recv_until(dealer, &frames, plugin::RecvLimits{},
                                  std::chrono::steady_clock::now() + kWait);
    BOOST_REQUIRE(got.ok() && *got);
    auto reply = plugin::wire::decode_command_reply(plugin::view(frames[0]));
    BOOST_REQUIRE(reply.ok());
    BOOST_TEST(reply->id == c.id);
    return *reply;
  };
  plugin::wire::Command c;
  c.id = 5;
  c.hub = "hub";
  c.op = plugin::wire::CommandOp::kGetPid;
  c.child_id = "a";
  BOOST_TEST(ask(c).status.ok());
  // A read without its op's key.
  c.op = plugin::wire::CommandOp::kContainsChildren;
  c.id = 6;
  auto missing = ask(c, "cids", "cidz");
  BOOST_TEST(missing.status.code() == Code::kCorruption);
  BOOST_TEST(missing.status.message().find("cids") != std::string::npos);
  // A cursor that is not one.
  c.op = plugin::wire::CommandOp::kDump;
  c.id = 7;
  c.cursor = "garbage";
  auto bad_cursor = ask(c);
  BOOST_TEST(bad_cursor.status.code() == Code::kInvalidArgument);
  BOOST_TEST(bad_cursor.status.message().find("cursor") != std::string::npos);
  // A scope that is neither.
  c.op = plugin::wire::CommandOp::kProcessList;
  c.id = 8;
  c.cursor.clear();
  c.local = true;
  auto bad_scope = ask(c, "local", "lokal");
  BOOST_TEST(bad_scope.status.code() == Code::kInvalidArgument);
  // An op this build does not know.
  c.op = plugin::wire::CommandOp::kGetPids;
  c.id = 9;
  c.child_id = "a";
  auto unknown = ask(c, "get_pids", "get_pidz");
  BOOST_TEST(unknown.status.code() == Code::kUnsupported);
  // A cursor of another node (here: another writer's table) is refused, not misread.
  TempDir log2;
  Writer other =
      Writer::open(ctx, writer_options(log2.path()), Writer::server_options(tcp_transport()));
  for (int i = 0; i < 50; ++i)
    (void)other.registry->insert(make_spec("o" + std::to_string(i)), {{"n0", "<o>"}});
  auto oc = connect_client(ctx, other.server->command_endpoint());
  plugin::wire::Command page;
  page.id = 10;
  page.hub = "hub";
  page.op = plugin::wire::CommandOp::kDump;
  page.limit = 2;
  zmq::socket_t other_dealer(ctx, zmq::socket_type::dealer);
  other_dealer.set(zmq::sockopt::linger, 0);
  other_dealer.connect(other.server->command_endpoint());
  std::string body;
  plugin::wire::encode(page, &body);
  plugin::Frames frames;
  frames.emplace_back(body.data(), body.size());
  BOOST_REQUIRE(plugin::send_message(other_dealer, frames).ok());
  auto got = plugin::recv_until(other_dealer, &frames, plugin::RecvLimits{},
                                std::chrono::steady_clock::now() + kWait);
  BOOST_REQUIRE(got.ok() && *got);
  auto first = plugin::wire::decode_command_reply(plugin::view(frames[0]));
  BOOST_REQUIRE(first.ok());
  BOOST_REQUIRE(!first->next.empty());
  page.id = 11;
  page.cursor = first->next;
  auto foreign = ask(page);
  BOOST_TEST(foreign.status.code() == Code::kInvalidArgument);
  BOOST_TEST(w.server->stats().command_errors >= 5u);
  BOOST_TEST(ask(c).status.ok());  // and the service still answers
}

// A request over the channel's size limit is answered resource_exhausted at once, with its
// id (so the client's call fails at once instead of timing out), and nothing is run.
BOOST_AUTO_TEST_CASE(an_oversized_request_is_answered_at_once) {
  zmq::context_t ctx;
  TempDir log;
  HubServerOptions so = Writer::server_options(tcp_transport());
  so.max_request_bytes = 4'096;
  Writer w = Writer::open(ctx, writer_options(log.path()), so);
  auto c = connect_client(ctx, w.server->command_endpoint());
  std::vector<ChildId> many(2'000, "a-child-id");
  RemoteReadOptions o;
  o.timeout = milliseconds(20'000);
  const auto t0 = std::chrono::steady_clock::now();
  auto read = c->contains_children(many, o);
  BOOST_REQUIRE(!read.ok());
  BOOST_TEST(read.status().code() == Code::kResourceExhausted);
  BOOST_TEST(read.status().message().find("4096") != std::string::npos, read.status().message());
  InsertOptions io;
  io.metadata["blob"] = std::string(10'000, 'x');
  io.timeout = milliseconds(20'000);
  auto write = c->insert(make_spec("big"), {{"n0", "<b>"}}, io);
  BOOST_TEST(write.status().code() == Code::kResourceExhausted);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < milliseconds(5'000)));
  BOOST_TEST(!w.registry->entry_exists("big"));
  BOOST_TEST(w.server->stats().bad_frames >= 2u);
  BOOST_TEST(c->get_pid("big").ok());  // the channel goes on
}

// Client::update reads the row and its revision, runs the function here and sends a
// conditional write; a row that moved on meanwhile is read again and the function rerun.
BOOST_AUTO_TEST_CASE(update_through_a_client_retries_a_conflict) {
  zmq::context_t ctx;
  TempDir log;
  Writer w = Writer::open(ctx, writer_options(log.path()), Writer::server_options(tcp_transport()));
  BOOST_REQUIRE(w.registry->insert(make_spec("u"), {{"n0", "<1>"}}).ok());
  auto c = connect_client(ctx, w.server->command_endpoint());
  int runs = 0;
  auto ack = c->update("u", [&](const ChildSpec& s, const NodePids& np, const Metadata& md) {
    if (++runs == 1) {  // another writer moves the row on before this result is sent
      BOOST_REQUIRE(w.registry->insert(make_spec("u"), {{"n0", "<2>"}}).ok());
    }
    Metadata m = md;
    m["seen"] = np.front().pid;
    return Entry{s, np, m};
  });
  BOOST_REQUIRE_MESSAGE(ack.ok(), ack.status().to_string());
  BOOST_TEST(runs == 2);
  LookupOptions lo;
  lo.with_metadata = true;
  auto row = w.registry->lookup("u", lo);
  BOOST_REQUIRE(row.has_value());
  BOOST_TEST((row->metadata->at("seen") == Value("<2>")));  // the second run saw the new row
  BOOST_TEST(ack->seq == w.registry->last_sequence());
  auto missing =
      c->update("nobody", [](const ChildSpec& s, const NodePids& np, const Metadata& md) {
        return Entry{s, np, md};
      });
  BOOST_TEST(missing.status().code() == Code::kNotFound);
  auto throws = c->update("u", [](const ChildSpec&, const NodePids&, const Metadata&) -> Entry {
    throw std::runtime_error("no");
  });
  BOOST_TEST(throws.status().code() == Code::kInternal);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace procreg::testing
