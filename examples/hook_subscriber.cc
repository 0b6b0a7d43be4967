// hook_subscriber: ProcessHub's hooks on another node. A HookSubscriber follows a hub on the
// bus and calls its handlers for every hook event (child_registered, child_unregistered) of
// the writes made with hooks on, exactly once and in log order, catching up from the replay
// service when it starts behind. Stopped, it tells its position; a new subscriber started from
// that position carries on with the next hook event, missing and repeating nothing.
//
// The writer and the subscribers share one process here and talk over tcp on 127.0.0.1; in a
// deployment the subscriber runs where the handlers' work is, and stores its position (three
// numbers) with that work.
//
//   hook_subscriber    (exit 0 when every hook event arrived once, in order)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "procreg/hook_subscriber.h"
#include "procreg/hub_server.h"
#include "procreg/registry.h"

namespace {

int fail(const char* what, const procreg::Status& status) {
  std::fprintf(stderr, "hook_subscriber: %s: %s\n", what, status.to_string().c_str());
  return 1;
}

// Round r starts, stops and starts again children r-0, r-1 and r-2, with hooks on: 9 events,
// each firing one hook event.
procreg::Status workload(procreg::Registry& writer, int round) {
  procreg::InsertOptions insert;
  insert.hooks = true;  // only writes that ask for hooks fire them (ProcessHub's :hook_storage)
  procreg::WriteOptions erase;
  erase.hooks = true;
  for (int i = 0; i < 3; ++i) {
    const std::string id = std::to_string(round) + "-" + std::to_string(i);
    if (auto seq = writer.insert(procreg::make_spec(id), {{"n1", "<0.1.0>"}}, insert); !seq.ok()) {
      return seq.status();
    }
    if (auto seq = writer.erase(id, erase); !seq.ok()) return seq.status();
    if (auto seq = writer.insert(procreg::make_spec(id), {{"n1", "<0.2.0>"}}, insert); !seq.ok()) {
      return seq.status();
    }
  }
  return procreg::Status();
}

}  // namespace

int main() {
  namespace fs = std::filesystem;
  using std::chrono::seconds;
  const fs::path dir = fs::temp_directory_path() / ("procreg-hooks-" + std::to_string(::getpid()));
  zmq::context_t context;

  procreg::RegistryOptions options;
  options.hub = "workers";
  options.log_dir = dir.string();
  options.local_node = "n1";
  auto writer = procreg::Registry::open(options);
  if (!writer.ok()) return fail("open", writer.status());
  auto server = procreg::HubServer::start(context, **writer, {});
  if (!server.ok()) return fail("server", server.status());

  // The handler runs on the subscriber's thread; it records "<seq> +child" or "<seq> -child".
  std::mutex mu;
  std::vector<std::string> received;
  const procreg::HookHandler record = [&](const procreg::HookEvent& e) {
    const char* sign = e.topic == procreg::HookTopic::kChildRegistered ? " +" : " -";
    std::lock_guard<std::mutex> lock(mu);
    received.push_back(std::to_string(e.seq) + sign + e.child_id);
  };
  const std::vector<procreg::HookHandlerSpec> handlers{
      {procreg::HookTopic::kChildRegistered, record},
      {procreg::HookTopic::kChildUnregistered, record}};

  // 1. From the start of the log (from_seq = 0), through the writer's replay service.
  procreg::HookSubscriberOptions subscriber_options;
  subscriber_options.hub = options.hub;
  subscriber_options.bus_endpoint = (*server)->publish_endpoint();
  subscriber_options.replay_endpoint = (*server)->replay_endpoint();
  subscriber_options.from_seq = 0;
  if (auto s = workload(**writer, 1); !s.ok()) return fail("write", s);
  auto first = procreg::HookSubscriber::start(context, subscriber_options, handlers);
  if (!first.ok()) return fail("subscriber", first.status());
  if (auto s = (*first)->wait_position((*writer)->last_sequence(), seconds(30)); !s.ok()) {
    return fail("first subscriber", s);
  }
  (*first)->stop();
  const procreg::HookPosition stored = (*first)->position();  // exact once stopped
  std::printf("first subscriber: %zu hook events, stopped at seq %llu\n", received.size(),
              static_cast<unsigned long long>(stored.seq));

  // 2. More writes while no subscriber runs, then a new one resumes from the stored position.
  if (auto s = workload(**writer, 2); !s.ok()) return fail("write", s);
  subscriber_options.from_epoch = stored.epoch;
  subscriber_options.from_seq = stored.seq;
  subscriber_options.from_partial = stored.partial;
  auto second = procreg::HookSubscriber::start(context, subscriber_options, handlers);
  if (!second.ok()) return fail("subscriber", second.status());
  if (auto s = (*second)->wait_position((*writer)->last_sequence(), seconds(30)); !s.ok()) {
    return fail("second subscriber", s);
  }
  (*second)->stop();

  // The check: every hook event of the log, once, in order, across the two subscribers.
  std::vector<std::string> expected;
  for (std::uint64_t seq = 1; seq <= (*writer)->last_sequence(); ++seq) {
    const bool registered = seq % 3 != 2;  // insert, erase, insert, ...
    expected.push_back(std::to_string(seq) + (registered ? " +" : " -") +
                       std::to_string(1 + (seq - 1) / 9) + "-" + std::to_string((seq - 1) / 3 % 3));
  }
  const bool same = received == expected;
  std::printf("second subscriber resumed; %zu hook events in all, each once, in order: %s\n",
              received.size(), same ? "yes" : "NO");

  (*server)->stop();
  writer->reset();
  fs::remove_all(dir);
  return same ? 0 : 1;
}
