// procreg internal: the parts behind a Registry, and which mode builds which.
//
//   every Registry  the projection (and its lock), the in-process hooks, the applier (the
//                   applied head and the failure latch), a Writer (registry/writer.h);
//   a hub's writer  the log, the commit pipeline, the writer queue (its Writer), the
//                   snapshotter, the janitor;
//   a replica       a ReplicaWriter (writes go to the hub's writer);
//   a read-only replay  a ReadOnlyWriter.
//
// Each part's header states its locks. Across parts the order is: the writer queue's lock
// (never held while committing), the pipeline's slot, the applier's apply lock, the
// projection's lock; the snapshotter's lock comes before the slot.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>

#include "log/log.h"
#include "procreg/registry.h"
#include "registry/applier.h"
#include "registry/commit.h"
#include "registry/commit_pipeline.h"
#include "registry/durable_positions.h"
#include "registry/hook_dispatcher.h"
#include "registry/janitor.h"
#include "registry/remote_writer.h"
#include "registry/replica_writer.h"
#include "registry/replication.h"
#include "registry/snapshotter.h"
#include "registry/writer.h"
#include "registry/writer_queue.h"
#include "state/projection.h"

namespace procreg {

struct Registry::Impl {
  explicit Impl(RegistryOptions o)
      : opts(std::move(o)),
        clock(opts.clock ? opts.clock : Clock(&system_clock_ms)),
        proj(opts.hub, opts.local_node) {}

  // Builds a hub writer's parts over `log`.
  void become_writer(std::unique_ptr<replay::Log> opened);
  // Builds a replica's parts: writes go through `remote`.
  void become_replica(std::shared_ptr<replay::RemoteWriter> remote);
  // Builds a read-only replay's parts.
  void become_read_only();

  const std::string& table_name(const std::string& t) const { return t.empty() ? opts.hub : t; }
  template <typename F>
  auto read(const std::string& table, F&& f) const {
    std::shared_lock lock(proj_mu);
    return f(proj.table(table_name(table)));
  }

  const RegistryOptions opts;
  const Clock clock;
  std::string recovery;

  mutable std::shared_mutex proj_mu;  // the projection: shared for reads, exclusive for apply
  replay::Projection proj;
  replay::HookDispatcher hooks;
  replay::WriteCounters counters;

  std::unique_ptr<replay::Log> log;                         // a writer's
  std::unique_ptr<replay::Applier> applier;                 // every registry's
  std::unique_ptr<replay::CommitPipeline> pipeline;         // a writer's
  std::unique_ptr<replay::Snapshotter> snapshotter;         // a writer's
  std::unique_ptr<replay::Writer> writer;                   // every registry's
  replay::WriterQueue* queue = nullptr;                     // a writer's: `writer`
  replay::ReplicaWriter* replica = nullptr;                 // a replica's: `writer`
  replay::Janitor janitor;                                  // a writer's, if an interval is set
  std::unique_ptr<replay::ReplicationTracker> replication;  // a writer's
  std::unique_ptr<replay::DurablePositions> durable;        // a writer's
};

}  // namespace procreg
