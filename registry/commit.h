// procreg::replay: the vocabulary of a writer's commit path, shared by the writer queue
// (registry/writer_queue.h), the commit pipeline (registry/commit_pipeline.h) and the applier
// (registry/applier.h).
//
// A write reaches the commit path as a Resolver: a function that, run under the writer's slot
// against the writer's state (the projection plus appended, not yet applied events), returns
// the event body to append, nothing (the call changes nothing), or the call's error.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "events/row_codec.h"
#include "procreg/event.h"
#include "procreg/hooks.h"
#include "procreg/options.h"
#include "procreg/status.h"
#include "state/commands.h"

namespace procreg::replay {

using Resolver = std::function<Resolved(const CommandContext&)>;

// How the writer queue may group a call with others. kAny: with any. kAlone: in a group of its
// own (it runs user code: an update function). kQuiesce: also alone, and the pipeline first
// waits until every appended event is applied, so that the resolver may read the projection
// itself (the overlay is then empty); for writes that scan (node_down).
enum class Grouping { kAny, kAlone, kQuiesce };

// One write of a call: its options and its resolver (both owned by the caller).
struct Write {
  const WriteOptions* options;
  const Resolver* resolve;
};

// What a result holds before the commit path sets it.
inline Status unset_result() { return Status::internal("result not set"); }

// An event between its encoding and its apply.
struct Pending {
  Event event;
  std::vector<HookEvent> hooks;
  std::string encoded;                     // for the commit listener
  std::vector<events::EntryPartsAt> rows;  // where encoded holds the rows (apply keeps them)
  std::string table;  // the event's, kept for the listener once the event is applied
};

// The writer's counters (Registry::stats), updated without a lock.
struct WriteCounters {
  std::atomic<std::uint64_t> events_written{0}, bytes_written{0}, writes_without_event{0},
      invalid_calls{0}, rows_expired{0}, writes_refused_queue_full{0};
};

}  // namespace procreg::replay
