#include "plugin/replay_service.h"
#include "registry/durable_positions.h"

#include "plugin/zap_handler.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log/file_util.h"
#include "log/log.h"
#include "log/log_format.h"
#include "log/log_reader.h"
#include "plugin/log_files.h"
#include "plugin/served_snapshot.h"
#include "plugin/wire.h"
#include "plugin/zmq_util.h"
#include "registry/registry_access.h"
#include "replay/snapshot.h"

namespace procreg::plugin {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kMaxSnapshots = 4;  // encoded snapshots kept at once
constexpr std::size_t kMaxCursors = 64;   // clients paging through the log at once
constexpr std::size_t kMaxParked = 64;    // files requests held until the log grows, at once

// A client paging through the log: its reader sits at next_seq.
struct Cursor {
  std::unique_ptr<replay::LogReader> reader;
  std::uint64_t next_seq = 0;
  SteadyClock::time_point last_used;
};

// The answer to a range from `from` that the writer's log no longer holds (compaction removed
// it). The log reader's own message names the log directory, the writer's business and not its
// clients': this one says what is gone, by seq, and what to do instead.
Status compacted_range(const std::string& log_dir, std::uint64_t from) {
  const std::string asked = std::to_string(from);
  auto segments = replay::list_segments(log_dir);
  if (!segments.ok() || segments->empty() || segments->front().first_seq <= from) {
    return Status::compacted("compacted: the writer's log no longer holds seq " + asked +
                             ": start again from a snapshot (op snapshot), or ask from a later "
                             "seq");
  }
  const std::string first = std::to_string(segments->front().first_seq);
  return Status::compacted("compacted: the writer's log no longer holds seqs 1 to " +
                           std::to_string(segments->front().first_seq - 1) + " (it starts at seq " +
                           first + "), and seq " + asked +
                           " was asked for: start again from a snapshot (op snapshot), or ask "
                           "from seq " +
                           first + " on");
}

}  // namespace

// Attempts to queue a reply for a client whose queue is full, a millisecond apart.
constexpr int kFullRetries = 20;

struct ReplayService::State {
  zmq::socket_t socket;
  Registry& writer;
  HubServerOptions options;
  ServerCounters& counters;
  std::shared_ptr<EndpointSecurity> security;
  std::map<std::string, Cursor> cursors;  // by client identity
  std::map<std::uint64_t, ServedSnapshot> snapshots;
  std::uint64_t next_snapshot_id = 1;
  std::string chunk;              // the encoded rows of the reply being sent (captured snapshots)
  LogFileSource log_files;        // files, file: up to the durable seq
  LogFileSource log_files_ahead;  // the same, up to the written seq (ReplayRequest::ahead)
  // files requests held (wait_ms) until the writer's disk holds more than their `have`.
  struct Parked {
    std::string identity;
    wire::ReplayRequest req;
    SteadyClock::time_point until;
  };
  std::vector<Parked> parked;

  State(zmq::socket_t s, Registry& w, HubServerOptions o, ServerCounters& c)
      : socket(std::move(s)),
        writer(w),
        options(std::move(o)),
        counters(c),
        log_files(w, false),
        log_files_ahead(w, true) {}
  LogFileSource& source(const wire::ReplayRequest& req) {
    return req.ahead ? log_files_ahead : log_files;
  }

  void handle(Frames& request);
  // Sends `header` (with the writer's term, incarnation and its start seq) and `payload`.
  void reply(const zmq::message_t& identity, wire::ReplayReplyHeader header,
             const std::vector<std::string_view>& payload = {});
  void reply_error(const zmq::message_t& identity, std::uint64_t id, Status status);
  void range(const zmq::message_t& identity, const wire::ReplayRequest& req);
  void snapshot(const zmq::message_t& identity, const wire::ReplayRequest& req);
  std::uint64_t from_file();
  void files(const zmq::message_t& identity, const wire::ReplayRequest& req);
  void answer_files(const zmq::message_t& identity, const wire::ReplayRequest& req);
  // Answers the held files requests whose log grew or whose wait ended (all, with `all`).
  void release_parked(bool all);
  void file(const zmq::message_t& identity, const wire::ReplayRequest& req);
  // A durable hook subscriber's position: records `have` (unless 0) and answers the one held.
  void position(const zmq::message_t& identity, const wire::ReplayRequest& req);
  void expire_idle();
  // Waits for a request (true), or for the log to grow while requests are held, the end of a
  // held request's wait, or 50 ms (false).
  Result<bool> wait(int wake_fd);
};

Result<std::unique_ptr<ReplayService>> ReplayService::start(
    zmq::context_t& context, Registry& writer, const std::string& endpoint,
    const HubServerOptions& options, ServerCounters& counters,
    std::shared_ptr<ConnectionBudget> budget) {
  std::unique_ptr<ReplayService> service(new ReplayService());
  auto security =
      EndpointSecurity::make(context, options.curve, kClientRoles, "replay", std::move(budget));
  if (!security.ok()) return security.status();
  try {
    zmq::socket_t socket(context, zmq::socket_type::router);
    socket.set(zmq::sockopt::linger, 0);
    // A client may have at most kReplyQueue replies (each at most kMaxChunkBytes) queued and
    // unread; past that its replies are dropped and counted instead of growing the writer
    // (router_mandatory makes the ROUTER say so rather than drop silently).
    socket.set(zmq::sockopt::sndhwm, kReplyQueue);
    socket.set(zmq::sockopt::router_mandatory, true);
    if (Status st = (*security)->apply(socket); !st.ok()) return st;
    socket.bind(endpoint);
    service->endpoint_ = last_endpoint(socket);
    service->state_ = std::make_unique<State>(std::move(socket), writer, options, counters);
    service->state_->security = std::move(*security);
  } catch (const zmq::error_t& e) {
    return Status::unavailable("replay service cannot bind " + endpoint + ": " + e.what());
  }
  service->thread_ = std::thread([s = service.get()] { s->run(); });
  return service;
}

ReplayService::~ReplayService() { stop(); }

std::uint64_t ReplayService::connections_refused() const {
  return state_ ? state_->security->refused() : 0;
}

void ReplayService::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (state_) state_->socket.close();
}

void ReplayService::run() {
  State& st = *state_;
  const RecvLimits limits{4, st.options.max_request_bytes};
  Frames frames;
  const int wake_fd = replay::RegistryAccess::local_wake_fd(st.writer);
  while (!stop_.load()) {
    // Held files requests are answered as soon as the log grows: armed before the durable seq
    // is read, the log's wake fd turns readable on any advance after that read.
    if (!st.parked.empty()) replay::RegistryAccess::arm_local_wake(st.writer);
    st.release_parked(false);
    auto ready = st.wait(wake_fd);
    if (!ready.ok()) return;  // the context is closing
    st.expire_idle();
    if (!*ready) continue;
    for (int i = 0; i < 64 && !stop_.load(); ++i) {  // drain a burst, then look at stop_
      auto got = recv_message(st.socket, &frames, limits, /*dont_wait=*/true);
      if (!got.ok()) {
        if (got.status().code() == Code::kUnavailable) return;
        st.counters.bad_frames.fetch_add(1);  // oversized: drained and dropped
        continue;
      }
      if (!*got) break;
      try {
        st.handle(frames);
      } catch (const std::exception&) {  // out of memory serving one request: the next may fit
        st.counters.replay_errors.fetch_add(1);
      }
    }
  }
}

void ReplayService::State::reply(const zmq::message_t& identity, wire::ReplayReplyHeader header,
                                 const std::vector<std::string_view>& payload) {
  header.term = writer.term();
  header.incarnation = writer.incarnation();
  header.start_seq = writer.incarnation_start_seq();
  std::string head;
  wire::encode(header, &head);
  Frames frames;
  frames.emplace_back(identity.data(), identity.size());
  frames.emplace_back(head.data(), head.size());
  for (std::string_view p : payload) frames.emplace_back(p.data(), p.size());
  // A full queue is retried for a few milliseconds: libzmq tells the ROUTER what its peer read
  // in batches, so a queue can look full for a moment to a client that reads. Still full
  // after that (a client that does not read), or a gone client: the reply is dropped and
  // counted; an honest client times out and asks again.
  for (int attempt = 0; attempt < kFullRetries; ++attempt) {
    auto sent = send_message(socket, frames, /*dont_wait=*/true);
    if (sent.ok() && *sent) return;
    if (!sent.ok()) break;
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLOUT, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(1));  // and take in the peer's progress
    } catch (const zmq::error_t&) {
      break;
    }
  }
  counters.replay_replies_dropped.fetch_add(1);
}

void ReplayService::State::reply_error(const zmq::message_t& identity, std::uint64_t id,
                                       Status status) {
  counters.replay_errors.fetch_add(1);
  wire::ReplayReplyHeader header;
  header.id = id;
  header.status = std::move(status);
  header.head = writer.last_sequence();
  header.epoch = writer.epoch();
  reply(identity, header);
}

void ReplayService::State::handle(Frames& request) {
  counters.replay_requests.fetch_add(1);
  if (request.size() != 2) {
    counters.bad_frames.fetch_add(1);
    if (!request.empty()) {
      reply_error(request[0], 0,
                  Status::invalid_argument("a replay request is one frame, got " +
                                           std::to_string(request.size() - 1)));
    }
    return;
  }
  auto req = wire::decode_replay_request(view(request[1]));
  if (!req.ok()) {
    counters.bad_frames.fetch_add(1);
    reply_error(request[0], wire::read_request_id(view(request[1])).value_or(0), req.status());
    return;
  }
  const Grant grant = security->grant(request[1]);
  if (!grant.allows(Role::kReader)) {
    counters.permission_denied.fetch_add(1);
    reply_error(request[0], req->id,
                Status::permission_denied("replay needs the reader role, which this key no "
                                          "longer holds"));
    return;
  }
  if (!req->standby.empty() && !grant.allows(Role::kStandby)) {
    // An acknowledgement lets the writer acknowledge writes: only a standby's key may send one.
    counters.permission_denied.fetch_add(1);
    reply_error(request[0], req->id,
                Status::permission_denied("a files request naming a standby (stb) needs the "
                                          "standby role"));
    return;
  }
  if (req->hub != writer.hub()) {
    reply_error(request[0], req->id,
                Status::not_found("this replay service serves hub '" + writer.hub() + "', not '" +
                                  req->hub + "'"));
    return;
  }
  if (req->max_events == 0 || req->max_events > wire::kMaxChunkItems || req->max_bytes == 0 ||
      req->max_bytes > wire::kMaxChunkBytes) {
    reply_error(
        request[0], req->id,
        Status::invalid_argument("max_events must be 1.." + std::to_string(wire::kMaxChunkItems) +
                                 " and max_bytes 1.." + std::to_string(wire::kMaxChunkBytes)));
    return;
  }
  switch (req->op) {
    case wire::ReplayOp::kRange:
      return range(request[0], *req);
    case wire::ReplayOp::kSnapshot:
      return snapshot(request[0], *req);
    case wire::ReplayOp::kFiles:
      return files(request[0], *req);
    case wire::ReplayOp::kFile:
      return file(request[0], *req);
    case wire::ReplayOp::kPosition:
      return position(request[0], *req);
  }
}

void ReplayService::State::position(const zmq::message_t& identity,
                                    const wire::ReplayRequest& req) {
  if (Status s = replay::check_durable_name(req.name); !s.ok()) {
    return reply_error(identity, req.id, s);
  }
  if (req.have != 0) {
    if (Status s = writer.set_durable_position(req.name, req.have); !s.ok()) {
      return reply_error(identity, req.id, s);
    }
  }
  wire::ReplayReplyHeader header;
  header.id = req.id;
  header.epoch = writer.epoch();
  header.head = writer.last_sequence();
  header.last = writer.durable_position(req.name);
  header.end = true;
  reply(identity, header);
}

void ReplayService::State::range(const zmq::message_t& identity, const wire::ReplayRequest& req) {
  if (req.from == 0) {
    reply_error(identity, req.id, Status::invalid_argument("range from 0: sequences start at 1"));
    return;
  }
  const std::uint64_t head = writer.last_sequence();  // applied = durable: nothing beyond
  const std::uint64_t to = req.to == 0 ? head : std::min(req.to, head);
  wire::ReplayReplyHeader header;
  header.id = req.id;
  header.head = head;
  header.epoch = writer.epoch();
  // What the client's position (from - 1) is in this log: it compares it with its own.
  header.prev_incarnation = log_files.incarnation_of(req.from - 1, head);
  if (req.from > to) {  // nothing (yet) in the range
    header.end = true;
    reply(identity, header);
    return;
  }
  const std::string key(static_cast<const char*>(identity.data()), identity.size());
  if (cursors.size() >= kMaxCursors && cursors.count(key) == 0) {
    // Each cursor holds a file and a read buffer: evict the least recently used.
    auto lru = std::min_element(cursors.begin(), cursors.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    cursors.erase(lru);
  }
  Cursor& cursor = cursors[key];
  cursor.last_used = SteadyClock::now();
  if (!cursor.reader || cursor.next_seq != req.from) {
    cursor.reader.reset();
    // Segments of format version 1 do not record their limit: it was this writer's.
    auto opened = replay::LogReader::open(replay::RegistryAccess::log_dir(writer), req.from,
                                          replay::RegistryAccess::max_record_bytes(writer));
    if (!opened.ok()) {
      cursors.erase(key);
      const Status& s = opened.status();
      reply_error(identity, req.id,
                  s.code() == Code::kCompacted
                      ? compacted_range(replay::RegistryAccess::log_dir(writer), req.from)
                      : s);
      return;
    }
    cursor.reader = std::move(*opened);
    cursor.next_seq = req.from;
  }
  header.epoch = cursor.reader->epoch();
  std::vector<std::string> payloads;
  std::size_t bytes = 0;
  replay::LogRecord record;
  while (cursor.next_seq <= to && payloads.size() < req.max_events &&
         (payloads.empty() || bytes < req.max_bytes)) {
    auto more = cursor.reader->next(&record);
    if (!more.ok()) {
      cursors.erase(key);
      reply_error(identity, req.id, more.status());
      return;
    }
    if (!*more) break;  // not on disk yet (cannot happen below head, but never loop on it)
    if (record.seq < cursor.next_seq) continue;
    bytes += record.payload.size();
    payloads.push_back(std::move(record.payload));
    record.payload = std::string();
    cursor.next_seq = record.seq + 1;
  }
  header.count = static_cast<std::uint32_t>(payloads.size());
  header.first = payloads.empty() ? 0 : cursor.next_seq - payloads.size();
  header.last = payloads.empty() ? 0 : cursor.next_seq - 1;
  header.last_incarnation = log_files.incarnation_of(header.last, head);
  header.end = cursor.next_seq > to;
  std::vector<std::string_view> views(payloads.begin(), payloads.end());
  reply(identity, header, views);
}

// The newest snapshot file as a served snapshot (shared if already read); its id, or 0 if there
// is none, or it is unusable (damaged, of another epoch). Reading it costs the writer nothing,
// where capturing the projection holds its lock; the client fetches the range after it.
std::uint64_t ReplayService::State::from_file() {
  const std::string dir = replay::RegistryAccess::log_dir(writer);
  auto files = replay::list_snapshots(dir);
  if (!files.ok() || files->empty()) return 0;
  const replay::SnapshotFile& newest = files->back();
  for (auto& [id, snap] : snapshots) {
    if (snap.file_seq == newest.seq) return id;
  }
  if (snapshots.size() >= kMaxSnapshots) return 0;
  auto reader = replay::SnapshotReader::open(dir + "/" + newest.name);
  if (!reader.ok()) {
    counters.snapshot_files_refused.fetch_add(1);
    return 0;
  }
  if ((*reader)->meta().epoch != writer.epoch()) return 0;  // a log begun anew: not an error
  auto snap = ServedSnapshot::from_file(**reader, newest.seq);
  if (!snap) {  // damaged: serve the projection instead
    counters.snapshot_files_refused.fetch_add(1);
    return 0;
  }
  const std::uint64_t id = next_snapshot_id++;
  snapshots.emplace(id, std::move(*snap));
  counters.snapshots_served.fetch_add(1);
  counters.snapshot_files_served.fetch_add(1);
  return id;
}

void ReplayService::State::snapshot(const zmq::message_t& identity,
                                    const wire::ReplayRequest& req) {
  std::uint64_t id = req.snapshot_id;
  if (id == 0) id = from_file();
  if (id == 0 && !snapshots.empty()) {
    // Share the newest snapshot when it is of the current head, or when the cap is reached
    // (a client then fetches the range above it): many replicas starting together cost one
    // encoding, and memory is bounded by kMaxSnapshots of them.
    auto newest = std::prev(snapshots.end());
    if (newest->second.seq == writer.last_sequence() || snapshots.size() >= kMaxSnapshots) {
      id = newest->first;
    }
  }
  if (id == 0) {
    ServedSnapshot snap;
    replay::RegistryAccess::read_projection(
        writer, [&](const replay::Projection& p) { snap = ServedSnapshot::capture(p); });
    snap.epoch = writer.epoch();  // a writer's: its log's, fixed
    id = next_snapshot_id++;      // ids grow, so the map's last entry is the newest
    snapshots.emplace(id, std::move(snap));
    counters.snapshots_served.fetch_add(1);
  }
  auto it = snapshots.find(id);
  if (it == snapshots.end()) {
    reply_error(identity, req.id,
                Status::not_found("snapshot " + std::to_string(id) + " expired, start again"));
    return;
  }
  ServedSnapshot& snap = it->second;
  snap.last_used = SteadyClock::now();
  if (req.offset > snap.rows()) {
    reply_error(identity, req.id,
                Status::invalid_argument("offset " + std::to_string(req.offset) + " past the " +
                                         std::to_string(snap.rows()) + " rows of the snapshot"));
    return;
  }
  wire::ReplayReplyHeader header;
  header.id = req.id;
  header.epoch = snap.epoch;
  header.head = writer.last_sequence();
  header.last = snap.seq;
  header.last_incarnation = log_files.incarnation_of(snap.seq, header.head);
  header.snapshot_id = id;
  header.total = snap.rows();
  std::vector<std::string_view> payload;
  const std::size_t i = snap.take(req.offset, req.max_events, req.max_bytes, &chunk, &payload);
  header.count = static_cast<std::uint32_t>(payload.size());
  header.next_offset = i;
  header.end = i == snap.rows();
  reply(identity, header, payload);
  // Kept after its end (other clients may be reading it) until idle for snapshot_idle.
}

void ReplayService::State::files(const zmq::message_t& identity, const wire::ReplayRequest& req) {
  if (req.wait_ms > wire::kMaxFilesWaitMs) {
    return reply_error(identity, req.id,
                       Status::invalid_argument("wait must be at most " +
                                                std::to_string(wire::kMaxFilesWaitMs) + " ms"));
  }
  if (req.standby.size() > wire::kMaxStandbyNameBytes) {
    return reply_error(
        identity, req.id,
        Status::invalid_argument("a standby's name (stb) must be at most " +
                                 std::to_string(wire::kMaxStandbyNameBytes) + " bytes"));
  }
  // What the standby may copy: durable on this disk, or (ahead) written to it.
  const std::uint64_t reach = source(req).reach();
  if (!req.standby.empty()) {
    // Counted only if the copy's record `have` is this log's: a copy holding more than it may
    // have copied, or another incarnation's record there, copied another history (a writer at
    // the same endpoints before a promotion). Unknown incarnations (0) are not compared.
    const std::uint64_t mine = log_files.incarnation_of(req.have, reach);
    const bool same = req.have <= reach &&
                      (req.have_incarnation == 0 || mine == 0 || mine == req.have_incarnation);
    replay::RegistryAccess::standby_ack(writer, req.standby, same ? req.have : 0);
  }
  if (req.wait_ms > 0 && reach <= req.have && parked.size() < kMaxParked) {
    parked.push_back({std::string(static_cast<const char*>(identity.data()), identity.size()), req,
                      SteadyClock::now() + std::chrono::milliseconds(req.wait_ms)});
    return;
  }
  answer_files(identity, req);
}

void ReplayService::State::release_parked(bool all) {
  if (parked.empty()) return;
  const std::uint64_t durable = log_files.reach();
  const std::uint64_t written = log_files_ahead.reach();
  const auto now = SteadyClock::now();
  std::vector<Parked> due;
  std::erase_if(parked, [&](Parked& p) {
    if (!all && (p.req.ahead ? written : durable) <= p.req.have && now < p.until) return false;
    due.push_back(std::move(p));
    return true;
  });
  for (const Parked& p : due) {
    zmq::message_t identity(p.identity.data(), p.identity.size());
    answer_files(identity, p.req);
  }
}

void ReplayService::State::answer_files(const zmq::message_t& identity,
                                        const wire::ReplayRequest& req) {
  LogFileSource& files_source = source(req);
  auto listed = files_source.list();
  if (!listed.ok()) return reply_error(identity, req.id, listed.status());
  wire::ReplayReplyHeader header;
  header.id = req.id;
  header.head = replay::RegistryAccess::local_durable_seq(writer);
  header.epoch = writer.epoch();
  header.end = true;
  std::vector<std::string> bodies(listed->size());
  for (std::size_t i = 0; i < listed->size(); ++i) wire::encode((*listed)[i], &bodies[i]);
  header.total = bodies.size();
  // The bytes of the segment the standby is copying, from its size on, in the same reply: one
  // request per group of writes instead of two (docs/PROTOCOL.md, "Copying the log"). A name
  // not listed, or an offset past the size, adds nothing: the standby goes by the listing.
  if (!req.name.empty()) {
    auto f = std::find_if(listed->begin(), listed->end(), [&](const wire::LogFile& l) {
      return l.kind == wire::LogFileKind::kSegment && l.name == req.name;
    });
    if (f != listed->end() && req.offset < f->size) {
      auto bytes = files_source.read_listed(*f, req.offset, req.max_bytes);
      if (!bytes.ok()) return reply_error(identity, req.id, bytes.status());
      header.next_offset = req.offset + bytes->size();
      bodies.push_back(std::move(*bytes));
    }
  }
  header.count = static_cast<std::uint32_t>(bodies.size());
  reply(identity, header, std::vector<std::string_view>(bodies.begin(), bodies.end()));
}

void ReplayService::State::file(const zmq::message_t& identity, const wire::ReplayRequest& req) {
  auto got = source(req).read(req.name, req.offset, req.max_bytes);
  if (!got.ok()) return reply_error(identity, req.id, got.status());
  const std::uint64_t n = got->bytes.size();
  wire::ReplayReplyHeader header;
  header.id = req.id;
  header.head = replay::RegistryAccess::local_durable_seq(writer);
  header.epoch = writer.epoch();
  header.count = n > 0 ? 1 : 0;
  header.next_offset = req.offset + n;
  header.total = got->file.size;
  header.end = got->file.sealed && header.next_offset == got->file.size;
  std::vector<std::string_view> payload;
  if (n > 0) payload.emplace_back(got->bytes);
  reply(identity, header, payload);
}

Result<bool> ReplayService::State::wait(int wake_fd) {
  auto timeout = std::chrono::milliseconds(50);
  const auto now = SteadyClock::now();
  for (const Parked& p : parked) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(p.until - now);
    timeout = std::clamp(left, std::chrono::milliseconds(0), timeout);
  }
  // Without an eventfd (none could be made) a held request is looked at every millisecond.
  if (wake_fd < 0 && !parked.empty()) timeout = std::min(timeout, std::chrono::milliseconds(1));
  zmq::pollitem_t items[2] = {{socket.handle(), 0, ZMQ_POLLIN, 0},
                              {nullptr, wake_fd, ZMQ_POLLIN, 0}};
  const int n = !parked.empty() && wake_fd >= 0 ? 2 : 1;
  try {
    zmq::poll(items, n, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    return Status::unavailable(std::string("poll failed: ") + e.what());
  }
  if (n == 2 && (items[1].revents & ZMQ_POLLIN) != 0) {
    eventfd_t drained = 0;
    (void)::eventfd_read(wake_fd, &drained);
  }
  return (items[0].revents & ZMQ_POLLIN) != 0;
}

void ReplayService::State::expire_idle() {
  const auto now = SteadyClock::now();
  std::erase_if(snapshots,
                [&](const auto& kv) { return now - kv.second.last_used > options.snapshot_idle; });
  std::erase_if(cursors,
                [&](const auto& kv) { return now - kv.second.last_used > options.snapshot_idle; });
}

}  // namespace procreg::plugin
