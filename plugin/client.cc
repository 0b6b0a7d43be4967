// procreg::Client (include/procreg/client.h): requests over plugin/command_client.h, answers
// decoded from docs/PROTOCOL.md's "Reads".
#include "procreg/client.h"

#include <atomic>
#include <mutex>

#include "events/codec.h"
#include "events/decoder.h"
#include "events/row_codec.h"
#include "plugin/command_client.h"
#include "plugin/zap_handler.h"

namespace procreg {

namespace {

using events::Decoder;
using plugin::wire::Command;
using plugin::wire::CommandOp;
using plugin::wire::CommandReply;
using SteadyClock = std::chrono::steady_clock;

std::uint32_t clamp_ms(std::chrono::milliseconds t) {
  const auto ms = t.count();
  return ms <= 0 ? 0u : ms > 0xffffffffLL ? 0xffffffffu : static_cast<std::uint32_t>(ms);
}

// The node's part of a read's time: a little less than the client waits, so that a read
// parked for its at_least_seq gets the node's answer (which says how far the node got)
// rather than the client's own timeout.
std::uint32_t node_ms(std::chrono::milliseconds t) {
  return clamp_ms(t - std::min(t / 10, std::chrono::milliseconds(200)));
}

Command read_command(CommandOp op, const RemoteReadOptions& o) {
  Command c;
  c.op = op;
  c.table = o.table;
  c.timeout_ms = node_ms(o.timeout);
  c.at_least_seq = o.at_least_seq;
  c.limit = o.page_rows;
  return c;
}

Status malformed(Decoder& d) {
  Status s = std::move(d).error();
  return Status::corruption("malformed answer: " + s.message());
}

// Decodes one answer item of `bytes` with read(decoder, out).
template <typename T, typename Read>
Status decode_into(const std::string& bytes, T* out, Read&& read) {
  return events::decode_without_throwing<bool>([&]() -> Result<bool> {
           const events::DecodeLimits limits =
               events::record_limits(static_cast<std::uint32_t>(bytes.size()));
           Decoder d(bytes, limits, "result");
           if (!read(d, out) || !d.finish()) return malformed(d);
           return true;
         })
      .status();
}

bool read_string_array(Decoder& d, std::vector<std::string>* out) {
  std::uint32_t n = 0;
  if (!d.read_array_head(&n)) return false;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!d.read_string(&out->emplace_back())) return false;
  }
  return true;
}

bool read_optional_string(Decoder& d, std::optional<std::string>* out) {
  if (d.next_is_nil()) return d.skip();
  return d.read_string(&out->emplace());
}

// [id, node_pids]
bool read_pairs_row(Decoder& d, ChildNodePids* out) {
  auto& [id, np] = out->emplace_back();
  return d.read_tuple_head(2) && d.read_string(&id) && events::read_node_pids(d, &np);
}

}  // namespace

Result<std::unique_ptr<Client>> Client::connect(zmq::context_t& context, ClientOptions options) {
  if (options.endpoint.empty() || options.hub.empty()) {
    return Status::invalid_argument("client: endpoint and hub are required");
  }
  if (Status s = plugin::check_client_curve(options.curve, false, "client"); !s.ok()) return s;
  std::unique_ptr<plugin::CommandClient> commands;
  try {
    commands = std::make_unique<plugin::CommandClient>(context, options.endpoint, options.hub,
                                                       options.max_in_flight,
                                                       options.max_reply_bytes, options.curve);
  } catch (const zmq::error_t& e) {
    return Status::unavailable("client: cannot connect to " + options.endpoint + ": " + e.what());
  }
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(commands)));
}

Client::Client(ClientOptions options, std::unique_ptr<plugin::CommandClient> commands)
    : commands_(std::move(commands)), options_(std::move(options)) {}

Client::~Client() = default;

// ---- the answers of reads ------------------------------------------------------------

namespace {

// One request whose answer is one item, decoded by read(decoder, &value).
template <typename T, typename Read>
Result<Answer<T>> point_read(plugin::CommandClient& commands, Command c, const RemoteReadOptions& o,
                             Read&& read) {
  Result<CommandReply> reply = commands.call(std::move(c), o.timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->status.ok()) return reply->status;
  Answer<T> answer;
  answer.seq = reply->seq;
  answer.epoch = reply->epoch;
  Status s = decode_into(reply->result, &answer.value, read);
  if (!s.ok()) return s;
  return answer;
}

// A paged read: every page, each row read by row(decoder, &value); `c` is the first page's.
template <typename T, typename Row>
Result<Answer<T>> paged_read(plugin::CommandClient& commands, Command c, const RemoteReadOptions& o,
                             Row&& row) {
  const auto deadline = SteadyClock::now() + o.timeout;
  Answer<T> answer;
  for (bool first = true;; first = false) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      return Status::timeout("the read's pages took longer than " +
                             std::to_string(o.timeout.count()) + " ms");
    }
    c.timeout_ms = node_ms(left);
    Result<CommandReply> reply = commands.call(c, left);
    if (!reply.ok()) return reply.status();
    if (!reply->status.ok()) return reply->status;
    if (first) {
      answer.seq = reply->seq;
      answer.epoch = reply->epoch;
    }
    Status s = decode_into(reply->result, &answer.value, [&](Decoder& d, T* out) {
      std::uint32_t n = 0;
      if (!d.read_array_head(&n)) return false;
      for (std::uint32_t i = 0; i < n; ++i) {
        Decoder::Scope item(&d, i);
        if (!row(d, out)) return false;
      }
      return true;
    });
    if (!s.ok()) return s;
    if (reply->next.empty()) return answer;
    c.cursor = std::move(reply->next);
    c.at_least_seq = 0;  // the first page waited for it
  }
}

// A lookup answer: nil, or {"spec", "np", "md"?, "rev"} (other keys skipped).
template <typename Row>
bool read_row_at(Decoder& d, Row* out) {
  if (d.next_is_nil()) return d.skip();
  Lookup& l = out->lookup.emplace();
  std::uint32_t n = 0;
  if (!d.read_map_head(&n)) return false;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string_view key;
    if (!d.read_key(&key)) return false;
    const bool ok = key == "spec"  ? events::read_spec(d, &l.spec)
                    : key == "np"  ? events::read_node_pids(d, &l.node_pids)
                    : key == "md"  ? d.read_value_map(&l.metadata.emplace())
                    : key == "rev" ? d.read_uint(&out->revision)
                                   : d.skip();
    if (!ok) return false;
  }
  return true;
}

bool read_dump_row(Decoder& d, Dump* out) {
  ChildId id;
  Entry entry;
  if (!d.read_tuple_head(2) || !d.read_string(&id) || !events::read_entry(d, &entry)) return false;
  out->insert_or_assign(std::move(id), std::move(entry));
  return true;
}

}  // namespace

// ---- writes --------------------------------------------------------------------------------

namespace {

Result<Ack> ack_of(Result<CommandReply> reply) {
  if (!reply.ok()) return reply.status();
  if (!reply->status.ok()) return reply->status;
  return Ack{reply->seq, reply->epoch};
}

}  // namespace

Result<Ack> Client::insert(ChildSpec spec, NodePids node_pids, const InsertOptions& options) {
  return ack_of(commands_->call(
      plugin::CommandClient::insert_command(std::move(spec), std::move(node_pids), options),
      options.timeout));
}

Result<Ack> Client::bulk_insert(std::vector<Entry> children, const WriteOptions& options) {
  return ack_of(commands_->call(
      plugin::CommandClient::bulk_insert_command(std::move(children), options), options.timeout));
}

Result<Ack> Client::erase(std::string_view child_id, const WriteOptions& options) {
  return ack_of(
      commands_->call(plugin::CommandClient::erase_command(child_id, options), options.timeout));
}

Result<Ack> Client::bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> children,
                                const WriteOptions& options) {
  return ack_of(commands_->call(
      plugin::CommandClient::bulk_delete_command(std::move(children), options), options.timeout));
}

Result<Ack> Client::clear_all(const WriteOptions& options) {
  return ack_of(commands_->call(plugin::CommandClient::command(CommandOp::kClearAll, options),
                                options.timeout));
}

Result<Ack> Client::node_down(std::string_view node, const WriteOptions& options) {
  return ack_of(
      commands_->call(plugin::CommandClient::node_down_command(node, options), options.timeout));
}

Result<Ack> Client::update(std::string_view child_id, const UpdateFn& fn,
                           const WriteOptions& options) {
  const auto deadline = SteadyClock::now() + options.timeout;
  std::uint64_t read_at = 0;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return Status::timeout("update kept conflicting");
    RemoteReadOptions ro;
    ro.table = options.table;
    ro.at_least_seq = read_at;
    ro.timeout = left;
    Command read = read_command(CommandOp::kLookup, ro);
    read.child_id = child_id;
    read.with_metadata = true;
    struct RowAt {
      std::optional<Lookup> lookup;
      std::uint64_t revision = 0;
    };
    Result<Answer<RowAt>> row =
        point_read<RowAt>(*commands_, std::move(read), ro, read_row_at<RowAt>);
    if (!row.ok()) return row.status();
    if (!row->value.lookup) return Status::not_found("No child found");
    const Lookup& l = *row->value.lookup;
    Entry entry;
    try {
      entry = fn(l.spec, l.node_pids, l.metadata.value_or(Metadata{}));
    } catch (const std::exception& e) {
      return Status::internal(std::string("the update function threw: ") + e.what());
    } catch (...) {
      return Status::internal("the update function threw");
    }
    WriteOptions wo = options;
    wo.timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (wo.timeout.count() <= 0) return Status::timeout("update kept conflicting");
    Command c = plugin::CommandClient::command(CommandOp::kUpdate, wo);
    c.child_id = child_id;
    c.expect_revision = row->value.revision;
    c.entry = std::move(entry);
    Result<Ack> ack = ack_of(commands_->call(std::move(c), wo.timeout));
    if (ack.ok() || ack.status().code() != Code::kConflict) return ack;
    read_at = row->seq + 1;  // the row moved on: read a state past the one read
  }
}

void Client::submit(WriteBatch batch, BatchDone done) {
  struct Gather {
    std::mutex mu;
    std::vector<Result<Ack>> results;
    std::size_t left;
    BatchDone done;
  };
  const std::size_t n = batch.ops_.size();
  if (n == 0) return done({});
  auto gather = std::make_shared<Gather>();
  gather->results.assign(n, Status::internal("not answered"));
  gather->left = n;
  gather->done = std::move(done);
  auto complete = [gather](std::size_t i, Result<Ack> r) {
    std::unique_lock l(gather->mu);
    gather->results[i] = std::move(r);
    if (--gather->left != 0) return;
    l.unlock();
    gather->done(std::move(gather->results));
  };
  for (std::size_t i = 0; i < n; ++i) {
    WriteBatch::Op& op = batch.ops_[i];
    const std::chrono::milliseconds timeout = op.options.timeout;  // (options may move below)
    Command c;
    switch (op.kind) {
      case WriteBatch::Kind::kInsert:
        c = plugin::CommandClient::insert_command(std::move(op.spec), std::move(op.node_pids),
                                                  std::move(op.options));
        break;
      case WriteBatch::Kind::kBulkInsert:
        c = plugin::CommandClient::bulk_insert_command(std::move(op.children), op.options);
        break;
      case WriteBatch::Kind::kErase:
        c = plugin::CommandClient::erase_command(op.child_id, op.options);
        break;
      case WriteBatch::Kind::kBulkDelete:
        c = plugin::CommandClient::bulk_delete_command(std::move(op.nodes), op.options);
        break;
      case WriteBatch::Kind::kClearAll:
        c = plugin::CommandClient::command(CommandOp::kClearAll, op.options);
        break;
      case WriteBatch::Kind::kUpdate:
        complete(i, Status::invalid_argument(
                        "update runs a function of the row: a Client cannot send it (use a "
                        "Replica); not sent"));
        continue;
    }
    commands_->send(std::move(c), timeout,
                    [complete, i](Result<CommandReply> r) { complete(i, ack_of(std::move(r))); });
  }
}

std::future<std::vector<Result<Ack>>> Client::submit(WriteBatch batch) {
  auto promise = std::make_shared<std::promise<std::vector<Result<Ack>>>>();
  std::future<std::vector<Result<Ack>>> future = promise->get_future();
  submit(std::move(batch),
         [promise](std::vector<Result<Ack>> results) { promise->set_value(std::move(results)); });
  return future;
}

// ---- reads ---------------------------------------------------------------------------------

Result<Answer<std::optional<Lookup>>> Client::lookup(std::string_view child_id, bool with_metadata,
                                                     const RemoteReadOptions& o) {
  Command c = read_command(CommandOp::kLookup, o);
  c.child_id = child_id;
  c.with_metadata = with_metadata;
  struct RowAt {
    std::optional<Lookup> lookup;
    std::uint64_t revision = 0;
  };
  Result<Answer<RowAt>> row = point_read<RowAt>(*commands_, std::move(c), o, read_row_at<RowAt>);
  if (!row.ok()) return row.status();
  return Answer<std::optional<Lookup>>{std::move(row->value.lookup), row->seq, row->epoch};
}

Result<Answer<std::optional<Pid>>> Client::get_pid(std::string_view child_id,
                                                   const RemoteReadOptions& o) {
  Command c = read_command(CommandOp::kGetPid, o);
  c.child_id = child_id;
  return point_read<std::optional<Pid>>(*commands_, std::move(c), o, read_optional_string);
}

Result<Answer<std::vector<Pid>>> Client::get_pids(std::string_view child_id,
                                                  const RemoteReadOptions& o) {
  Command c = read_command(CommandOp::kGetPids, o);
  c.child_id = child_id;
  return point_read<std::vector<Pid>>(*commands_, std::move(c), o, read_string_array);
}

Result<Answer<std::optional<Pid>>> Client::local_pid(std::string_view child_id,
                                                     const RemoteReadOptions& o) {
  Command c = read_command(CommandOp::kLocalPid, o);
  c.child_id = child_id;
  return point_read<std::optional<Pid>>(*commands_, std::move(c), o, read_optional_string);
}

Result<Answer<bool>> Client::entry_exists(std::string_view child_id, const RemoteReadOptions& o) {
  Command c = read_command(CommandOp::kEntryExists, o);
  c.child_id = child_id;
  return point_read<bool>(*commands_, std::move(c), o,
                          [](Decoder& d, bool* out) { return d.read_bool(out); });
}

Result<Answer<std::vector<ChildId>>> Client::contains_children(const std::vector<ChildId>& ids,
                                                               const RemoteReadOptions& o) {
  Command c = read_command(CommandOp::kContainsChildren, o);
  c.ids = ids;
  return point_read<std::vector<ChildId>>(*commands_, std::move(c), o, read_string_array);
}

Result<Answer<ChildNodePids>> Client::match_tag(std::string_view tag, const RemoteReadOptions& o) {
  Command c = read_command(CommandOp::kMatchTag, o);
  c.tag = tag;
  return paged_read<ChildNodePids>(*commands_, std::move(c), o, read_pairs_row);
}

Result<Answer<Dump>> Client::dump(const RemoteReadOptions& o) {
  return paged_read<Dump>(*commands_, read_command(CommandOp::kDump, o), o, read_dump_row);
}

Result<Answer<Dump>> Client::dump_all(const RemoteReadOptions& o) {
  return paged_read<Dump>(*commands_, read_command(CommandOp::kDumpAll, o), o, read_dump_row);
}

Result<Answer<Dump>> Client::local_children(const RemoteReadOptions& o) {
  return paged_read<Dump>(*commands_, read_command(CommandOp::kLocalChildren, o), o, read_dump_row);
}

Result<Answer<RegistryMap>> Client::registry(const RemoteReadOptions& o) {
  return paged_read<RegistryMap>(
      *commands_, read_command(CommandOp::kRegistry, o), o, [](Decoder& d, RegistryMap* out) {
        ChildId id;
        std::pair<ChildSpec, NodePids> row;
        if (!d.read_tuple_head(3) || !d.read_string(&id) || !events::read_spec(d, &row.first) ||
            !events::read_node_pids(d, &row.second)) {
          return false;
        }
        out->insert_or_assign(std::move(id), std::move(row));
        return true;
      });
}

Result<Answer<ChildNodePids>> Client::process_list(Scope scope, const RemoteReadOptions& o) {
  Command c = read_command(CommandOp::kProcessList, o);
  c.local = scope == Scope::kLocal;
  return paged_read<ChildNodePids>(*commands_, std::move(c), o, read_pairs_row);
}

Result<Answer<std::vector<std::pair<ChildId, Entry>>>> Client::local_data(
    const RemoteReadOptions& o) {
  using Rows = std::vector<std::pair<ChildId, Entry>>;
  return paged_read<Rows>(
      *commands_, read_command(CommandOp::kLocalData, o), o, [](Decoder& d, Rows* out) {
        auto& [id, entry] = out->emplace_back();
        return d.read_tuple_head(2) && d.read_string(&id) && events::read_entry(d, &entry);
      });
}

Result<Answer<std::vector<ChildSpec>>> Client::local_child_specs(const RemoteReadOptions& o) {
  using Specs = std::vector<ChildSpec>;
  return paged_read<Specs>(
      *commands_, read_command(CommandOp::kLocalChildSpecs, o), o,
      [](Decoder& d, Specs* out) { return events::read_spec(d, &out->emplace_back()); });
}

Result<Answer<std::map<std::string, Dump>>> Client::dump_all_tables(const RemoteReadOptions& o) {
  using Tables = std::map<std::string, Dump>;
  return paged_read<Tables>(*commands_, read_command(CommandOp::kDumpAllTables, o), o,
                            [](Decoder& d, Tables* out) {
                              std::string table;
                              ChildId id;
                              Entry entry;
                              if (!d.read_tuple_head(3) || !d.read_string(&table) ||
                                  !d.read_string(&id) || !events::read_entry(d, &entry)) {
                                return false;
                              }
                              (*out)[table].insert_or_assign(std::move(id), std::move(entry));
                              return true;
                            });
}

Result<Answer<Value::Map>> Client::stats(const RemoteReadOptions& o) {
  return point_read<Value::Map>(*commands_, read_command(CommandOp::kStats, o), o,
                                [](Decoder& d, Value::Map* out) { return d.read_value_map(out); });
}

}  // namespace procreg
