// procreg::plugin internal: a client of the replay service (a DEALER socket).
//
// call() sends one request and waits for the reply carrying its id; replies to earlier,
// abandoned requests are skipped. After a timeout the socket is replaced, so nothing of the
// abandoned request can arrive later. fetch_range() and fetch_snapshot() page through a whole
// range or snapshot, chunk by chunk, until the end marker.
//
// Thread safety: one thread at a time (the owner's).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <zmq.hpp>

#include "plugin/wire.h"
#include "plugin/zmq_util.h"
#include "procreg/security.h"

namespace procreg::plugin {

class ReplayClient {
 public:
  ReplayClient(zmq::context_t& context, std::string endpoint, std::string hub,
               std::chrono::milliseconds timeout, std::uint32_t chunk_items,
               CurveOptions curve = {});  // a client of curve.server_key when enabled

  struct Reply {
    wire::ReplayReplyHeader header;
    Frames payload;  // header.count frames
  };
  // Errors: kTimeout (no reply), kCorruption (a malformed reply), the reply's own error.
  // While *cancelled is true, a wait for a reply ends within about 20 ms with kUnavailable
  // (a stopping owner). Set once, before use; the flag must outlive the client.
  void set_cancel(const std::atomic<bool>* cancelled) { cancelled_ = cancelled; }
  Result<Reply> call(wire::ReplayRequest request);

  // Pages events from..to (0: the head at each reply) to on_event(seq, bytes) in order, and
  // returns the last reply's header (its `last`/`head`/`epoch`). on_event returning an error
  // stops the paging with it. `epoch` != 0: a reply from another epoch is kConflict (a new
  // log: resynchronise). on_header, if set, sees each reply's header (and the `from` it was
  // asked with) before its events; an error stops the paging with it.
  Result<wire::ReplayReplyHeader> fetch_range(
      std::uint64_t from, std::uint64_t to, std::uint64_t epoch,
      const std::function<Status(std::string_view event)>& on_event,
      const std::function<Status(const wire::ReplayReplyHeader&, std::uint64_t)>& on_header =
          nullptr);
  // Pages a new snapshot to on_row(bytes); returns the first reply's header (epoch, `last` =
  // the snapshot's seq, total). on_header, if set, sees that header before the first row.
  Result<wire::ReplayReplyHeader> fetch_snapshot(
      const std::function<Status(std::string_view row)>& on_row,
      const std::function<Status(const wire::ReplayReplyHeader&)>& on_header = {});

 private:
  // The halves of call(): send (assigning the id) and wait for the reply with that id.
  Result<std::uint64_t> send_request(wire::ReplayRequest request);
  Result<Reply> await_reply(std::uint64_t id);
  void reconnect();

  zmq::context_t& context_;
  const std::string endpoint_;
  const std::string hub_;
  const std::chrono::milliseconds timeout_;
  const std::uint32_t chunk_items_;
  const CurveOptions curve_;
  zmq::socket_t socket_;
  std::uint64_t next_id_ = 1;
  const std::atomic<bool>* cancelled_ = nullptr;
};

}  // namespace procreg::plugin
