// procreg::replay: the vocabulary of a writer's commit path, shared by the writer queue
// (registry/writer_queue.h), the commit pipeline (registry/commit_pipeline.h) and the applier
// (registry/applier.h).
//
// A write reaches the commit path as a Resolver: a function that, run under the writer's slot
// against the writer's state (the projection plus appended, not yet applied events), returns
// the event body to append, nothing (the call changes nothing), or the call's error.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "events/row_codec.h"
#include "procreg/event.h"
#include "procreg/hooks.h"
#include "procreg/options.h"
#include "procreg/status.h"
#include "state/commands.h"

namespace procreg::replay {

// A reference to a resolver, not its owner (a function_ref): the callable it was made from
// must outlive the write. Making one never allocates, where a std::function of a lambda with
// the call's arguments did on every write.
class Resolver {
 public:
  using Call = Resolved (*)(void* object, const CommandContext& ctx);

  // `call(object, ctx)` resolves.
  Resolver(Call call, void* object) : object_(object), call_(call) {}
  // `f(ctx)` resolves; f is not copied.
  template <typename F>
  requires(!std::same_as<std::remove_cvref_t<F>, Resolver> &&
           std::is_invocable_r_v<Resolved, F&, const CommandContext&>)
      Resolver(F&& f)  // NOLINT(bugprone-forwarding-reference-overload): constrained above
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, const CommandContext& ctx) -> Resolved {
          return (*static_cast<std::remove_reference_t<F>*>(object))(ctx);
        }) {}

  Resolved operator()(const CommandContext& ctx) const { return call_(object_, ctx); }

 private:
  void* object_;
  Call call_;
};

// How the writer queue may group a call with others. kAny: with any. kAlone: in a group of its
// own (it runs user code: an update function). kQuiesce: also alone, and the pipeline first
// waits until every appended event is applied, so that the resolver may read the projection
// itself (the overlay is then empty); for writes that scan (node_down).
enum class Grouping { kAny, kAlone, kQuiesce };

// One write of a call: its options and its resolver (both owned by the caller).
struct Write {
  const WriteOptions* options;
  Resolver resolve;
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
