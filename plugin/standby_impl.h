// procreg internal: the standby's state (include/procreg/standby.h), shared by its two files:
// plugin/standby.cc (checking the copy at start, copying, the public side) and
// plugin/standby_terms.cc (following a writer of a newer term, docs/PROTOCOL.md, "Terms and
// histories").
//
// Thread safety: Impl's members are the standby thread's, but for mu, cv and what they guard
// (stats, answered, failed, stopping), and the cancelled flag.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "log/file_util.h"
#include "log/segment_scan.h"
#include "plugin/replay_client.h"
#include "plugin/wire.h"
#include "procreg/standby.h"

namespace procreg {

namespace standby_internal {

inline constexpr std::uint64_t kAnySeq = std::numeric_limits<std::uint64_t>::max();

// A segment of the copy: its checked size, and a scan while it may still grow.
struct LocalSegment {
  std::uint64_t first_seq = 0;
  std::uint64_t size = 0;      // checked and synced
  std::uint64_t last_seq = 0;  // 0: no record
  std::optional<replay::SegmentScan> scan;
};

}  // namespace standby_internal

struct Standby::Impl {
  StandbyOptions options;
  plugin::ReplayClient client;
  replay::UniqueFd lock;
  std::map<std::string, standby_internal::LocalSegment> segments;  // by name: sequence order
  std::uint64_t epoch = 0;                                         // the copy's (0: no segment yet)
  std::uint64_t term = 0;  // the highest term in the copy, or of a writer it copied from
  bool verified = false;   // a round compared the copy with the writer's history
  // The bytes a listing carried of the segment being copied, from the copy's size on.
  struct Prefetched {
    std::string name;
    std::uint64_t offset = 0;
    zmq::message_t bytes;
  };
  std::optional<Prefetched> prefetched;
  // The highest seq the writer said its disk holds (a listing's head), or at start what the
  // copy holds: records up to it may have been acknowledged, and are never cut off.
  std::uint64_t writer_durable_seen = 0;
  std::uint64_t writer_incarnation = 0;  // of the last listing (0: none yet)
  std::atomic<bool> cancelled{false};    // set by stop(): requests in flight end at once

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  StandbyStats stats;
  std::optional<std::chrono::steady_clock::time_point> answered;  // the last listing's answer
  Status failed;                                                  // not ok: stopped copying
  bool stopping = false;
  std::thread thread;

  Impl(zmq::context_t& context, const StandbyOptions& o)
      : options(o),
        // A files reply carries a frame per file: the most a reply may carry.
        client(context, o.replay_endpoint, o.hub, o.request_timeout, plugin::wire::kMaxChunkItems,
               o.curve) {
    client.set_cancel(&cancelled);  // stop() need not wait out a request to a dead writer
  }

  Status open_copy();
  Status check_segments();
  Status check_snapshots();
  void run();
  // One listing and the copying it calls for; whether anything was copied.
  Result<bool> round();
  Status copy_snapshot(const plugin::wire::LogFile& f);
  Result<bool> copy_segment(const plugin::wire::LogFile& f);
  Status remove_unlisted(const std::vector<plugin::wire::LogFile>& files);
  Result<plugin::ReplayClient::Reply> fetch(const std::string& name, std::uint64_t offset,
                                            std::uint32_t max_bytes = 0);
  // The next bytes of segment `name` from `offset`: those the listing carried, or a file
  // request's. Never empty.
  Result<zmq::message_t> next_chunk(const std::string& name, std::uint64_t offset);
  // The writer is of a newer term than the copy: keep what the copy shares with its history.
  Status follow_new_term(const std::vector<plugin::wire::LogFile>& files);
  // A new incarnation of the same term (a restarted writer, or the first listing): cut off the
  // records copied ahead of its disk that it no longer has.
  Status follow_restart(const std::vector<plugin::wire::LogFile>& files);
  // The writer's listing of the copy's segment `name` if it is the same file (listed, and
  // the copy starts with the writer's header bytes of it: the same incarnation wrote both);
  // nullptr if not.
  Result<const plugin::wire::LogFile*> listed_as_copied(
      const std::string& name, const std::vector<plugin::wire::LogFile>& files);
  // The incarnation and the term that wrote record `seq` of the copy (0: none, or not known).
  std::uint64_t incarnation_at(std::uint64_t seq) const;
  std::uint64_t term_at(std::uint64_t seq) const;
  // The header of the copy's segment holding record `seq` (none: no such segment, or unreadable).
  std::optional<replay::SegmentHeader> header_at(std::uint64_t seq) const;
  // Cuts the copy's segment `name` back to `size` bytes (a record boundary), synced.
  Status cut_back(standby_internal::LocalSegment& local, const std::string& name,
                  std::uint64_t size);
  // Drops the copy's segment `it` (its file too); returns the next.
  Result<std::map<std::string, standby_internal::LocalSegment>::iterator> drop(
      std::map<std::string, standby_internal::LocalSegment>::iterator it);
  std::uint64_t copied_seq_of_copy() const;  // on the standby's thread
  void publish(std::uint64_t head, std::uint64_t lag_bytes);
  std::string path(const std::string& name) const { return options.dir + "/" + name; }
  static Status diverged(const std::string& why) {
    return Status::conflict(why + "; the copy is kept as it is");
  }
};

}  // namespace procreg
