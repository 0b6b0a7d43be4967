// procreg::plugin internal: a HubServer's counters, shared by its threads.
#pragma once

#include <atomic>
#include <cstdint>

#include "procreg/hub_server.h"

namespace procreg::plugin {

struct ServerCounters {
  std::atomic<std::uint64_t> events_published{0}, event_messages_published{0},
      hook_messages_published{0}, heartbeats{0}, bytes_published{0}, publish_dropped{0},
      replay_requests{0}, replay_errors{0}, replay_replies_dropped{0}, snapshots_served{0},
      snapshot_files_served{0}, snapshot_files_refused{0}, commands{0}, command_errors{0},
      replies_refused{0}, bad_frames{0}, permission_denied{0};

  HubServerStats read() const {
    HubServerStats s;
    s.events_published = events_published.load();
    s.event_messages_published = event_messages_published.load();
    s.hook_messages_published = hook_messages_published.load();
    s.heartbeats = heartbeats.load();
    s.bytes_published = bytes_published.load();
    s.publish_dropped = publish_dropped.load();
    s.replay_requests = replay_requests.load();
    s.replay_errors = replay_errors.load();
    s.replay_replies_dropped = replay_replies_dropped.load();
    s.snapshots_served = snapshots_served.load();
    s.snapshot_files_served = snapshot_files_served.load();
    s.snapshot_files_refused = snapshot_files_refused.load();
    s.commands = commands.load();
    s.command_errors = command_errors.load();
    s.replies_refused = replies_refused.load();
    s.bad_frames = bad_frames.load();
    s.permission_denied = permission_denied.load();
    return s;
  }
};

}  // namespace procreg::plugin
