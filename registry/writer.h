// procreg::replay: a Registry's writes, behind one interface with three implementations:
//
//   WriterQueue    (registry/writer_queue.h)   a hub's writer: the writer queue and the commit
//                                              pipeline, over the log;
//   ReplicaWriter  (registry/replica_writer.h) a replica: each write goes to the hub's writer
//                                              through a RemoteWriter, then waits until the
//                                              replica applied it (read-your-writes);
//   ReadOnlyWriter (below)                     a read-only replay: every write is kUnavailable.
//
// The base class turns each API write into a Resolver (state/commands.h) and commits it with
// commit_many(); an implementation that writes elsewhere (the replica) overrides the API
// writes themselves. Arguments are checked by the Registry before they get here.
//
// Thread safety: every method may be called from any thread, concurrently.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "procreg/registry.h"
#include "registry/commit.h"
#include "state/projection.h"

namespace procreg::replay {

class Writer {
 public:
  using Op = WriteBatch::Op;
  // A batch's writes turned into the commit path's: a Write per op (its resolver refers to
  // the op), and where each one's result goes. Points into the ops it was prepared from.
  struct Prepared {
    std::vector<Write> writes;
    std::vector<Result<std::uint64_t>> out;
    bool has_user_code = false;  // an update function
  };
  // The projection (and its lock) node_down scans.
  Writer(const Projection& proj, std::shared_mutex& proj_mu) : proj_(proj), proj_mu_(proj_mu) {}
  virtual ~Writer() = default;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Commits writes[i] and sets out[i] to its seq or its own error: validated in order, each
  // against the state the ones before it leave; returns once every write is durable and
  // applied (or failed). The whole call is bounded by the smallest of the writes' timeouts.
  virtual void commit_many(std::span<const Write> writes, std::span<Result<std::uint64_t>> out,
                           Grouping grouping) = 0;
  Result<std::uint64_t> commit(const WriteOptions& o, Resolver resolve,
                               Grouping grouping = Grouping::kAny);

  // The API's writes, with Registry's semantics (include/procreg/registry.h).
  virtual Result<std::uint64_t> insert(ChildSpec spec, NodePids node_pids, const InsertOptions& o);
  virtual Result<std::uint64_t> bulk_insert(std::vector<Entry> children, const WriteOptions& o);
  virtual Result<std::uint64_t> erase(std::string_view child_id, const WriteOptions& o);
  virtual Result<std::uint64_t> bulk_delete(
      std::vector<std::pair<ChildId, std::vector<NodeName>>> children, const WriteOptions& o);
  virtual Result<std::uint64_t> update(std::string_view child_id, const UpdateFn& fn,
                                       const WriteOptions& o);
  virtual Result<std::uint64_t> clear_all(const WriteOptions& o);
  virtual Result<std::uint64_t> node_down(std::string_view node, const WriteOptions& o);
  // Registry::write: out[i] is ops[i]'s result.
  virtual std::vector<Result<std::uint64_t>> write(std::vector<Op>& ops);
  // Registry::submit: write(ops) without waiting; `done` gets its results. This default
  // writes on the calling thread (a read-only replay's refusals).
  virtual void submit(std::vector<Op> ops, WriteDone done);
  // Completes every accepted submission; called once by ~Registry.
  virtual void close() {}

  // Fills `p` for `ops`. With refuse_user_code, an update function's write is refused
  // (kInvalidArgument, nothing written for it).
  static void prepare(std::vector<Op>& ops, Prepared& p, bool refuse_user_code);

 protected:
  const Projection& proj_;
  std::shared_mutex& proj_mu_;
};

// A read-only replay's: nothing can be written.
class ReadOnlyWriter final : public Writer {
 public:
  using Writer::Writer;
  void commit_many(std::span<const Write> writes, std::span<Result<std::uint64_t>> out,
                   Grouping grouping) override;
};

}  // namespace procreg::replay
