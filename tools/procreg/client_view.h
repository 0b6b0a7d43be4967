// procreg command: a procreg::Client seen through the Registry's method names, so that
// `procreg call` runs the same method table (tools/procreg/api_call.h) on a thin client as on
// a replica's registry. A read that fails throws RemoteError with the status (call_api turns
// it into the error JSON); writes return their Result as the Registry's do.
//
// Thread safety: as the Client's.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "procreg/client.h"
#include "procreg/registry.h"

namespace procreg::cli {

struct RemoteError : std::runtime_error {
  explicit RemoteError(Status s) : std::runtime_error(s.to_string()), status(std::move(s)) {}
  Status status;
};

class ClientView {
 public:
  // Reads wait for at_least_seq (0: none) and are bounded by `timeout`.
  ClientView(Client& client, std::uint64_t at_least_seq, std::chrono::milliseconds timeout)
      : client_(client), at_least_seq_(at_least_seq), timeout_(timeout) {}

  // ---- writes: the Registry's results (the seq) ----
  Result<std::uint64_t> insert(ChildSpec spec, NodePids np, const InsertOptions& o) {
    return seq(client_.insert(std::move(spec), std::move(np), o));
  }
  Result<std::uint64_t> bulk_insert(std::vector<Entry> children, const WriteOptions& o) {
    return seq(client_.bulk_insert(std::move(children), o));
  }
  Result<std::uint64_t> erase(std::string_view id, const WriteOptions& o) {
    return seq(client_.erase(id, o));
  }
  Result<std::uint64_t> bulk_delete(std::vector<std::pair<ChildId, std::vector<NodeName>>> d,
                                    const WriteOptions& o) {
    return seq(client_.bulk_delete(std::move(d), o));
  }
  Result<std::uint64_t> update(std::string_view id, const UpdateFn& fn, const WriteOptions& o) {
    return seq(client_.update(id, fn, o));
  }
  Result<bool> clear_all(const WriteOptions& o) {
    Result<Ack> a = client_.clear_all(o);
    if (!a.ok()) return a.status();
    return true;
  }
  Result<std::uint64_t> node_down(std::string_view node, const WriteOptions& o) {
    return seq(client_.node_down(node, o));
  }

  // ---- reads: the value, or RemoteError ----
  std::vector<ChildId> contains_children(const std::vector<ChildId>& ids, const ReadOptions& o) {
    return value(client_.contains_children(ids, at(o)));
  }
  Dump dump(const ReadOptions& o) { return value(client_.dump(at(o))); }
  Dump dump_all(const ReadOptions& o) { return value(client_.dump_all(at(o))); }
  std::map<std::string, Dump> dump_all_tables() { return value(client_.dump_all_tables(at({}))); }
  bool entry_exists(std::string_view id, const ReadOptions& o) {
    return value(client_.entry_exists(id, at(o)));
  }
  std::optional<Pid> get_pid(std::string_view id, const ReadOptions& o) {
    return value(client_.get_pid(id, at(o)));
  }
  std::vector<Pid> get_pids(std::string_view id, const ReadOptions& o) {
    return value(client_.get_pids(id, at(o)));
  }
  std::vector<ChildSpec> local_child_specs(const ReadOptions& o) {
    return value(client_.local_child_specs(at(o)));
  }
  Dump local_children(const ReadOptions& o) { return value(client_.local_children(at(o))); }
  std::vector<std::pair<ChildId, Entry>> local_data(const ReadOptions& o) {
    return value(client_.local_data(at(o)));
  }
  std::optional<Pid> local_pid(std::string_view id, const ReadOptions& o) {
    return value(client_.local_pid(id, at(o)));
  }
  std::optional<Lookup> lookup(std::string_view id, const LookupOptions& o) {
    return value(client_.lookup(id, o.with_metadata, at(o)));
  }
  ChildNodePids match_tag(std::string_view tag, const ReadOptions& o) {
    return value(client_.match_tag(tag, at(o)));
  }
  ChildNodePids process_list(Scope scope, const ReadOptions& o) {
    return value(client_.process_list(scope, at(o)));
  }
  RegistryMap registry(const ReadOptions& o) { return value(client_.registry(at(o))); }

  // ---- the node's state (one stats read each) ----
  std::uint64_t last_sequence() { return stats().seq; }
  std::uint64_t epoch() { return stats().epoch; }
  const std::string& hub() const { return client_.options().hub; }
  std::string local_node() {
    const Value::Map m = stats().value;
    auto it = m.find("local_node");
    return it != m.end() && it->second.is_string() ? it->second.as_string() : std::string();
  }

 private:
  RemoteReadOptions at(const ReadOptions& o) const {
    RemoteReadOptions r;
    r.table = o.table;
    r.at_least_seq = at_least_seq_;
    r.timeout = timeout_;
    return r;
  }
  Answer<Value::Map> stats() { return answer(client_.stats(at({}))); }
  static Result<std::uint64_t> seq(Result<Ack> a) {
    if (!a.ok()) return a.status();
    return a->seq;
  }
  template <typename T>
  static Answer<T> answer(Result<Answer<T>> r) {
    if (!r.ok()) throw RemoteError(r.status());
    return std::move(*r);
  }
  template <typename T>
  static T value(Result<Answer<T>> r) {
    return answer(std::move(r)).value;
  }

  Client& client_;
  const std::uint64_t at_least_seq_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace procreg::cli
