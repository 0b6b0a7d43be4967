// procreg: Client, a thin client of a hub: every read and write of the Registry API as one
// request to a writer's command channel or a replica's serve endpoint (docs/PROTOCOL.md, "The
// command channel" and "Reads"), with no replica and no state of its own.
//
// Reads are answered from the serving node's projection, each with the seq (and epoch) of the
// state it was read at. A read may carry at_least_seq: the node answers once it has applied
// that seq (or fails with kTimeout), so a client that wrote through one node reads its write
// from any other. Reads of many rows (dump, match_tag, ...) come in pages, which these methods
// fetch one after another and join: each row of such an answer is in it at most once, and every
// row that existed throughout the pages is in it; seq is the first page's. local_* queries and
// process_list(kLocal) are of the serving node's local node.
//
// Writes are sent as commands; many may be in flight at once on the client's one socket
// (pipelined), up to ClientOptions::max_in_flight: a synchronous call waits for room within its
// timeout, submit() beyond it fails the write at once with kResourceExhausted. A write's answer
// is its seq at the writer (docs/PROTOCOL.md, "CommandReply"); it returns once the writer made
// it durable and applied it. A write that times out may or may not have been committed.
//
// Thread safety: every method from any thread. The zmq::context_t must outlive the client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "procreg/options.h"
#include "procreg/registry.h"
#include "procreg/security.h"
#include "procreg/status.h"
#include "procreg/types.h"

namespace procreg {

namespace plugin {
class CommandClient;
}

struct ClientOptions {
  std::string endpoint;  // a writer's command channel, or a replica's serve endpoint
  std::string hub;
  // Requests sent and not yet answered, at most (reads and writes); at least 1.
  std::size_t max_in_flight = 1024;
  std::size_t max_reply_bytes = 64u << 20;  // larger replies are dropped (the request times out)
  // CURVE (include/procreg/security.h): a client of curve.server_key (the writer's or the
  // replica's). Empty keys: plaintext.
  CurveOptions curve;
};

// Options of a read through a Client.
struct RemoteReadOptions {
  std::string table;                          // "" = the hub's default table
  std::uint64_t at_least_seq = 0;             // answer once the node applied this seq (0: at once)
  std::chrono::milliseconds timeout{10'000};  // the whole read, every page of it
  std::uint32_t page_rows = 0;                // rows per page (0: the node's default, 1,000)
};

// A read's answer and the state it was read at: the node's applied seq of log `epoch`.
template <typename T>
struct Answer {
  T value{};
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
};

// A write's answer: the seq of its event at the writer (or, when it changed nothing, the seq
// the writer validated it against), in log `epoch`.
struct Ack {
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;
};

class Client {
 public:
  // Connects (ZeroMQ connects in the background: an unreachable endpoint shows as kTimeout on
  // the first request). kInvalidArgument without an endpoint or hub, kUnavailable for a
  // malformed endpoint.
  static Result<std::unique_ptr<Client>> connect(zmq::context_t& context, ClientOptions options);
  // Requests still in flight complete with kUnavailable first.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // ---- writes (as Registry's, docs/SEMANTICS.md) ---------------------------------------
  Result<Ack> insert(ChildSpec spec, NodePids node_pids, const InsertOptions& options = {});
  Result<Ack> bulk_insert(std::vector<Entry> children, const WriteOptions& options = {});
  Result<Ack> erase(std::string_view child_id, const WriteOptions& options = {});
  Result<Ack> bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> children,
                          const WriteOptions& options = {});
  Result<Ack> clear_all(const WriteOptions& options = {});
  Result<Ack> node_down(std::string_view node, const WriteOptions& options = {});
  // Registry::update remotely (docs/PROTOCOL.md, "Remote update"): reads the row and its
  // revision from the node, runs `fn` on this thread, sends the result as a conditional write;
  // if the row moved on meanwhile (conflict) it reads again and retries, within
  // options.timeout. Errors: kNotFound "No child found", kInternal if fn throws,
  // kInvalidArgument for an invalid result, kTimeout (also "update kept conflicting").
  Result<Ack> update(std::string_view child_id, const UpdateFn& fn,
                     const WriteOptions& options = {});
  // Sends every write of the batch at once, without waiting (each its own command, in batch
  // order; the writer commits commands that arrive together in one group). `done` gets one
  // result per write, in batch order, once all are answered; it runs on the client's I/O
  // thread and must be short. An update in the batch is kInvalidArgument (not sent).
  using BatchDone = std::function<void(std::vector<Result<Ack>>)>;
  void submit(WriteBatch batch, BatchDone done);
  std::future<std::vector<Result<Ack>>> submit(WriteBatch batch);

  // ---- reads (as Registry's, with the state's seq) -------------------------------------
  Result<Answer<std::optional<Lookup>>> lookup(std::string_view child_id, bool with_metadata,
                                               const RemoteReadOptions& options = {});
  Result<Answer<std::optional<Pid>>> get_pid(std::string_view child_id,
                                             const RemoteReadOptions& options = {});
  Result<Answer<std::vector<Pid>>> get_pids(std::string_view child_id,
                                            const RemoteReadOptions& options = {});
  Result<Answer<std::optional<Pid>>> local_pid(std::string_view child_id,
                                               const RemoteReadOptions& options = {});
  Result<Answer<bool>> entry_exists(std::string_view child_id,
                                    const RemoteReadOptions& options = {});
  Result<Answer<std::vector<ChildId>>> contains_children(const std::vector<ChildId>& ids,
                                                         const RemoteReadOptions& options = {});
  Result<Answer<ChildNodePids>> match_tag(std::string_view tag,
                                          const RemoteReadOptions& options = {});
  Result<Answer<Dump>> dump(const RemoteReadOptions& options = {});
  Result<Answer<Dump>> dump_all(const RemoteReadOptions& options = {});
  Result<Answer<RegistryMap>> registry(const RemoteReadOptions& options = {});
  Result<Answer<ChildNodePids>> process_list(Scope scope, const RemoteReadOptions& options = {});
  Result<Answer<Dump>> local_children(const RemoteReadOptions& options = {});
  Result<Answer<std::vector<std::pair<ChildId, Entry>>>> local_data(
      const RemoteReadOptions& options = {});
  Result<Answer<std::vector<ChildSpec>>> local_child_specs(const RemoteReadOptions& options = {});
  Result<Answer<std::map<std::string, Dump>>> dump_all_tables(
      const RemoteReadOptions& options = {});
  // The node's RegistryStats by name, and its "hub", "local_node", "role" ("writer", "replica"
  // or "read_only"), "last_sequence" and "epoch".
  Result<Answer<Value::Map>> stats(const RemoteReadOptions& options = {});

  const ClientOptions& options() const { return options_; }

 private:
  struct Request;
  Client(ClientOptions options, std::unique_ptr<plugin::CommandClient> commands);
  std::unique_ptr<plugin::CommandClient> commands_;
  ClientOptions options_;
};

}  // namespace procreg
