// procreg::plugin internal: HistoryCheck, whether a writer continues the history a follower
// took (docs/PROTOCOL.md, "Terms and histories").
//
// A follower remembers which writer incarnation wrote the last record it took (from a range
// reply's `linc`, or a live event's `inc`). A range reply or a live event that continues the
// follower's position P gives the incarnation of seq P in the writer's log (`pinc`); another
// incarnation there means the writer continues another history from some seq at or before P,
// and what the follower took after that point is not in the writer's log. A writer's head
// below P in the same epoch means the same for the seqs above the head: it came back on a
// shorter history. Both are the follower's to answer: a replica resynchronises, a hook
// subscriber and `procreg tail` stop and say so. Follower (plugin/follower.h) and tail use
// this.
//
// Thread safety: none; one follower's thread.
#pragma once

#include <cstdint>
#include <string>

#include "plugin/bus_messages.h"
#include "procreg/status.h"

namespace procreg::plugin {

class HistoryCheck {
 public:
  // Record `seq`, taken, was written by `incarnation` (0: unknown).
  void note(std::uint64_t seq, std::uint64_t incarnation) {
    known_seq_ = seq;
    known_incarnation_ = incarnation;
  }
  // Whether the writer's log holds, at `position`, the record taken there, its incarnation in
  // the writer's log being `pinc`. Only a position whose incarnation is known can be compared;
  // 0 (a writer before terms, or nothing said) compares equal.
  bool same(std::uint64_t pinc, std::uint64_t position) const {
    return position == 0 || known_seq_ != position || known_incarnation_ == 0 || pinc == 0 ||
           pinc == known_incarnation_;
  }
  // The answer when same() is false: kConflict, "<who>: the writer's seq P is of incarnation
  // I, the one taken here of J: the writer continues another history".
  Status diverged(const std::string& who, std::uint64_t position, std::uint64_t pinc) const {
    return Status::conflict(who + ": the writer's seq " + std::to_string(position) +
                            " is of incarnation " + std::to_string(pinc) +
                            ", the one taken here of " + std::to_string(known_incarnation_) +
                            ": the writer continues another history");
  }
  // A live event message whose term was accepted, at the follower's `position`: diverged() if
  // it continues the position from another history; else ok, noting the incarnation of its
  // last event when it continues the position (one past a gap says it after the repair).
  Status check_live(const std::string& who, const wire::EventHeader& h, std::uint64_t position) {
    if (h.seq == position + 1 && !same(h.prev_incarnation, position)) {
      return diverged(who, position, h.prev_incarnation);
    }
    if (h.incarnation != 0 && h.seq <= position + 1 && h.seq + (h.count - 1) > position) {
      note(h.seq + (h.count - 1), h.incarnation);
    }
    return Status();
  }

 private:
  std::uint64_t known_seq_ = 0;  // the seq whose incarnation is known_incarnation_
  std::uint64_t known_incarnation_ = 0;
};

}  // namespace procreg::plugin
