#include "plugin/replay_client.h"

#include "plugin/zap_handler.h"

namespace procreg::plugin {

ReplayClient::ReplayClient(zmq::context_t& context, std::string endpoint, std::string hub,
                           std::chrono::milliseconds timeout, std::uint32_t chunk_items,
                           CurveOptions curve)
    : context_(context),
      endpoint_(std::move(endpoint)),
      hub_(std::move(hub)),
      timeout_(timeout),
      chunk_items_(chunk_items),
      curve_(std::move(curve)) {
  reconnect();
}

void ReplayClient::reconnect() {
  socket_ = zmq::socket_t(context_, zmq::socket_type::dealer);
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::rcvhwm, 0);
  // Keys are checked before a client is made (valid_curve_key): this cannot fail on them.
  (void)secure_client(socket_, curve_, curve_.server_key);
  socket_.connect(endpoint_);
}

Result<std::uint64_t> ReplayClient::send_request(wire::ReplayRequest request) {
  request.id = next_id_++;
  request.hub = hub_;
  std::string body;
  wire::encode(request, &body);
  Frames frames;
  frames.emplace_back(body.data(), body.size());
  auto sent = send_message(socket_, frames, /*dont_wait=*/true);
  if (!sent.ok()) return sent.status();
  if (!*sent) {  // not connected yet, or the writer is gone: start afresh next time
    reconnect();
    return Status::timeout("replay service at " + endpoint_ + " is not reachable");
  }
  return request.id;
}

Result<ReplayClient::Reply> ReplayClient::await_reply(std::uint64_t id) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  const RecvLimits limits{static_cast<std::size_t>(chunk_items_) + 1, 64u << 20};
  Frames frames;
  for (;;) {
    // In slices, so that a cancelling owner is heard.
    const auto slice =
        cancelled_ == nullptr
            ? deadline
            : std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
    auto got = recv_until(socket_, &frames, limits, slice);
    if (!got.ok() && got.status().code() == Code::kUnavailable) return got.status();
    if (!got.ok()) return Status::corruption("replay reply: " + got.status().message());
    if (!*got && cancelled_ != nullptr && cancelled_->load()) {
      return Status::unavailable("replay request to " + endpoint_ + " cancelled: stopping");
    }
    if (!*got && std::chrono::steady_clock::now() < deadline) continue;
    if (!*got) break;  // the deadline passed
    if (frames.empty()) return Status::corruption("replay reply without frames");
    auto header = wire::decode_replay_reply_header(view(frames[0]));
    if (!header.ok())
      return Status::corruption("replay reply header: " + header.status().message());
    if (header->id != id) continue;  // a late reply to an abandoned request
    if (!header->status.ok()) return header->status;
    if (frames.size() != header->count + 1u) {
      return Status::corruption("replay reply announces " + std::to_string(header->count) +
                                " items but carries " + std::to_string(frames.size() - 1));
    }
    Reply reply{std::move(*header), {}};
    for (std::size_t i = 1; i < frames.size(); ++i) reply.payload.push_back(std::move(frames[i]));
    return reply;
  }
  reconnect();
  return Status::timeout("no reply from the replay service at " + endpoint_ + " within " +
                         std::to_string(timeout_.count()) + " ms");
}

Result<ReplayClient::Reply> ReplayClient::call(wire::ReplayRequest request) {
  auto id = send_request(std::move(request));
  if (!id.ok()) return id.status();
  return await_reply(*id);
}

Result<wire::ReplayReplyHeader> ReplayClient::fetch_range(
    std::uint64_t from, std::uint64_t to, std::uint64_t epoch,
    const std::function<Status(std::string_view event)>& on_event,
    const std::function<Status(const wire::ReplayReplyHeader&, std::uint64_t)>& on_header) {
  wire::ReplayRequest req;
  req.op = wire::ReplayOp::kRange;
  req.to = to;
  req.max_events = chunk_items_;
  for (std::uint64_t next = from;;) {
    req.from = next;
    auto reply = call(req);
    if (!reply.ok()) return reply.status();
    const wire::ReplayReplyHeader& h = reply->header;
    if (epoch != 0 && h.epoch != epoch) {
      return Status::conflict("the writer's log is epoch " + std::to_string(h.epoch) + ", not " +
                              std::to_string(epoch));
    }
    if (h.count > 0 && h.first != next) {
      return Status::corruption("range reply starts at " + std::to_string(h.first) +
                                ", asked from " + std::to_string(next));
    }
    if (on_header) {
      if (Status s = on_header(h, next); !s.ok()) return s;
    }
    for (const auto& frame : reply->payload) {
      Status s = on_event(view(frame));
      if (!s.ok()) return s;
    }
    if (h.count > 0) next = h.last + 1;
    if (h.end || h.count == 0) return reply->header;
  }
}

Result<wire::ReplayReplyHeader> ReplayClient::fetch_snapshot(
    const std::function<Status(std::string_view row)>& on_row,
    const std::function<Status(const wire::ReplayReplyHeader&)>& on_header) {
  // Two requests in flight: the next chunk is asked for as soon as a reply's header names its
  // offset, before this chunk's rows are handed over, so the service works while we decode.
  wire::ReplayRequest req;
  req.op = wire::ReplayOp::kSnapshot;
  req.max_events = chunk_items_;
  wire::ReplayReplyHeader first;
  bool started = false;
  int retries = 0;
  auto id = send_request(req);
  for (;;) {
    Result<Reply> reply = id.ok() ? await_reply(*id) : Result<Reply>(id.status());
    if (!reply.ok() && started && reply.status().code() == Code::kTimeout && retries++ < 3) {
      id = send_request(req);  // the same chunk of the same snapshot again, not a new snapshot
      continue;
    }
    if (!reply.ok()) return reply.status();
    const wire::ReplayReplyHeader& h = reply->header;
    if (!started) {
      first = h;
      started = true;
      if (on_header) {
        Status s = on_header(h);
        if (!s.ok()) return s;
      }
    } else if (h.snapshot_id != first.snapshot_id || h.last != first.last ||
               h.epoch != first.epoch || h.total != first.total) {
      return Status::corruption("snapshot reply of another snapshot");
    }
    if (h.next_offset != req.offset + h.count) {
      return Status::corruption("snapshot reply offsets do not add up");
    }
    if (!h.end && h.count == 0) {
      return Status::corruption("snapshot reply with no rows before its end");
    }
    if (h.next_offset > first.total || (h.end && h.next_offset != first.total)) {
      // An end before all the rows the header announced (or rows past them): a partial state
      // must never be taken for the snapshot.
      return Status::corruption("snapshot reply ends at row " + std::to_string(h.next_offset) +
                                " of " + std::to_string(first.total));
    }
    if (!h.end) {
      req.snapshot_id = h.snapshot_id;
      req.offset = h.next_offset;
      id = send_request(req);  // in flight while the rows below are decoded
    }
    for (const auto& frame : reply->payload) {
      Status s = on_row(view(frame));
      if (!s.ok()) return s;
    }
    if (h.end) return first;
  }
}

}  // namespace procreg::plugin
