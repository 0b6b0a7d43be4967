// procreg call: registry API calls against a running hub, JSON in and out.
//
// By default each call is one request on the command channel (--command: the writer's, or a
// replica's serve endpoint) through a procreg::Client: reads are answered by that node (paged
// reads fetched page by page), writes by the writer; --at-least-seq makes a read wait until the
// node applied that seq. With --replica the command instead runs a procreg::Replica of the hub
// in-process (bus, replay service, command channel), waits until it caught up (bounded by
// --timeout-ms), and calls the Registry API on it: reads from the replica's projection, writes
// through the writer, returning once the replica applied them.
//
//   procreg call METHOD ['{"arg": ...}']      one call; the result on stdout
//   procreg call --batch FILE|-               one {"method", "args", "id"} object per line; one
//                                             {"id", "result"} or {"id", "error"} line each
#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "procreg/client.h"
#include "procreg/replica.h"
#include "tools/procreg/api_call.h"
#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"

namespace procreg::cli {

namespace {

struct CallOptions {
  HubEndpoints hub;
  std::string method;
  std::string args;
  std::string batch;
  std::string node = "cli";
  bool list = false;
  bool replica = false;
  std::uint64_t at_least_seq = 0;
};

// Where the calls go: a thin client (the default) or a replica's registry (--replica).
struct Target {
  std::unique_ptr<Client> client;
  std::unique_ptr<ClientView> view;
  std::unique_ptr<Replica> replica;
  int timeout_ms = 0;  // --timeout-ms: a write's bound too, unless its args give timeout_ms
  Json call(const std::string& method, Json args) {
    if (api_method_writes(method) && (args.is_null() || args.is_object()) &&
        !args.contains("timeout_ms")) {
      args["timeout_ms"] = timeout_ms;
    }
    return view ? call_api(*view, method, args) : call_api(replica->registry(), method, args);
  }
  void stop() {
    if (replica) replica->stop();
  }
};

// A replica of the hub, caught up; CliError(kExitUnreachable) if it cannot catch up in time.
std::unique_ptr<Replica> connect(zmq::context_t& context, const CallOptions& o) {
  const ReplicaOptions ro = o.hub.replica_options(o.node);
  auto started = Replica::start(context, ro);
  if (!started.ok()) {
    throw CliError(
        started.status().code() == Code::kInvalidArgument ? kExitUsage : kExitUnreachable,
        "cannot connect to hub " + ro.hub + ": " + started.status().to_string());
  }
  std::unique_ptr<Replica> replica = std::move(*started);
  if (!replica->wait_caught_up(o.hub.timeout()).ok()) {
    throw CliError(kExitUnreachable, "hub " + ro.hub + " did not answer within " +
                                         std::to_string(o.hub.timeout_ms) + " ms (replay service " +
                                         ro.replay_endpoint + ", bus " + ro.bus_endpoint +
                                         "); is `procreg serve` running there, for this hub?");
  }
  return replica;
}

Target open_target(zmq::context_t& context, const CallOptions& o) {
  Target t;
  t.timeout_ms = o.hub.timeout_ms;
  if (o.replica) {
    t.replica = connect(context, o);
    return t;
  }
  if (o.hub.command.empty()) {
    usage_error("--command (or --endpoints) is required, or --replica with --bus and --replay");
  }
  ClientOptions co;
  co.endpoint = o.hub.command;
  co.hub = o.hub.hub;
  co.curve = o.hub.curve;
  auto client = Client::connect(context, co);
  if (!client.ok()) {
    throw CliError(client.status().code() == Code::kInvalidArgument ? kExitUsage : kExitUnreachable,
                   "cannot connect to hub " + co.hub + ": " + client.status().to_string());
  }
  t.client = std::move(*client);
  t.view = std::make_unique<ClientView>(*t.client, o.at_least_seq, o.hub.timeout());
  return t;
}

// A call's arguments as given: inline, "-" for standard input, "@FILE" for a file's contents
// (a shell passes at most about 128 KiB on a command line).
std::string argument_text(const std::string& given) {
  if (given != "-" && !given.starts_with('@')) return given;
  std::ifstream file;
  std::istream* in = &std::cin;
  if (given != "-") {
    file.open(given.substr(1), std::ios::binary);
    if (!file) usage_error("cannot read " + given.substr(1) + " (the arguments " + given + ")");
    in = &file;
  }
  return std::string(std::istreambuf_iterator<char>(*in), std::istreambuf_iterator<char>());
}

// One line of a batch: its result line.
Json run_line(Target& target, const std::string& line, std::size_t number) {
  Json request;
  try {
    request = parse_json_input(line);
  } catch (const Json::parse_error& e) {
    return {
        {"line", number},
        {"error", to_json(Status::invalid_argument(std::string("malformed JSON: ") + e.what()))}};
  }
  Json out = {{"line", number}};
  if (request.is_object() && request.contains("id")) out["id"] = request["id"];
  if (!request.is_object() || !request.contains("method") || !request["method"].is_string()) {
    out["error"] = to_json(
        Status::invalid_argument("expected {\"method\": \"...\", \"args\": {...}} on each line"));
    return out;
  }
  for (const auto& [key, value] : request.items()) {
    if (key != "method" && key != "args" && key != "id") {
      out["error"] = to_json(
          Status::invalid_argument("unknown key \"" + key +
                                   "\" in the line (it takes method, args and id); nothing was "
                                   "done"));
      return out;
    }
  }
  try {
    Json result = target.call(request["method"].get<std::string>(),
                              request.contains("args") ? request["args"] : Json());
    if (result.is_object() && result.size() == 1 && result.contains("error")) {
      out["error"] = result["error"];
    } else {
      out["result"] = std::move(result);
    }
  } catch (const JsonError& e) {
    out["error"] = to_json(Status::invalid_argument(e.what()));
  }
  return out;
}

int run_batch(const CallOptions& o) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (o.batch != "-") {
    file.open(o.batch);
    if (!file) usage_error("cannot read " + o.batch);
    in = &file;
  }
  zmq::context_t context;
  Target target = open_target(context, o);
  bool all_ok = true;
  std::string line;
  for (std::size_t number = 1; std::getline(*in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const Json out = run_line(target, line, number);
    all_ok = all_ok && !out.contains("error");
    out_line(dump_line(out));
  }
  target.stop();
  return all_ok ? kExitOk : kExitFailure;
}

int run_call(const CallOptions& o) {
  if (o.list) {
    for (const auto& name : api_methods()) out_line(name);
    return kExitOk;
  }
  CallOptions options = o;
  options.hub.resolve();
  if (!o.batch.empty()) {
    if (!o.method.empty()) usage_error("give a METHOD or --batch, not both");
    return run_batch(options);
  }
  if (o.method.empty()) usage_error("a METHOD is required (procreg call --list lists them)");
  const auto& names = api_methods();
  if (std::find(names.begin(), names.end(), o.method) == names.end()) {
    usage_error("unknown method \"" + o.method + "\" (procreg call --list lists them)");
  }
  Json args;
  if (!o.args.empty()) {
    try {
      args = parse_json_input(argument_text(o.args));
    } catch (const Json::parse_error& e) {
      out_line(dump_line(
          error_json(Status::invalid_argument(std::string("malformed JSON: ") + e.what()))));
      return kExitUsage;
    }
  }
  zmq::context_t context;
  Target target = open_target(context, options);
  Json result;
  try {
    result = target.call(o.method, args);
  } catch (const JsonError& e) {
    out_line(dump_line(error_json(Status::invalid_argument(e.what()))));
    return kExitUsage;
  }
  target.stop();
  out_line(dump_line(result));
  if (result.is_object() && result.size() == 1 && result.contains("error")) {
    const std::string code = result["error"]["code"].get<std::string>();
    if (code == "timeout" || code == "unavailable") {
      if (!o.replica) {
        std::cerr << "procreg call: no answer from hub " << options.hub.hub << " at "
                  << options.hub.command << " within " << options.hub.timeout_ms
                  << " ms; is `procreg serve` (or a replica's serve endpoint) there?\n";
      }
      return kExitUnreachable;
    }
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void add_call_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<CallOptions>();
  CLI::App* call = app.add_subcommand("call", "Call the registry API of a running hub (JSON)");
  call->add_option("method", o->method, "the API method (--list lists them)");
  call->add_option("args", o->args,
                   "its arguments as a JSON object, e.g. '{\"child_id\": \"w1\"}'; - reads them "
                   "from stdin, @FILE from a file");
  call->add_option("--batch", o->batch,
                   "run one {\"method\", \"args\", \"id\"} JSON object per line of FILE (- for "
                   "stdin), print one result per line");
  call->add_option("--node", o->node, "the local node of local_* queries")->capture_default_str();
  call->add_flag("--list", o->list, "list the methods and exit");
  call->add_flag("--replica", o->replica,
                 "run the calls on an in-process replica of the hub (needs --bus and --replay) "
                 "instead of as requests to --command");
  call->add_option("--at-least-seq", o->at_least_seq,
                   "reads wait until the node applied this seq (read your writes), within "
                   "--timeout-ms");
  o->hub.add_options(call, "hbrc");
  commands->push_back({call, [o] { return run_call(*o); }});
}

}  // namespace procreg::cli
