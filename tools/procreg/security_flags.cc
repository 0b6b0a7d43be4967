#include "tools/procreg/security_flags.h"

#include <sys/stat.h>

#include <memory>

#include "tools/procreg/cli.h"
#include "tools/procreg/commands.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

namespace {

// A public key given as itself or as a certificate file.
std::string public_key_of(const std::string& arg, const std::string& flag) {
  if (valid_curve_key(arg)) return arg;
  auto read = read_curve_keys(arg, false);
  if (!read.ok()) throw CliError(kExitFailure, flag + ": " + read.status().to_string());
  return read->public_key;
}

CurveKeys own_keys(const std::string& path) {
  auto read = read_curve_keys(path, true);
  if (!read.ok()) throw CliError(kExitFailure, "--curve-key: " + read.status().to_string());
  return *read;
}

}  // namespace

void CurveFlags::add_client_options(CLI::App* app) {
  app->add_option("--curve-key", key,
                  "CURVE: this client's secret certificate (NAME.key_secret, from procreg keygen)")
      ->envname("PROCREG_CURVE_KEY");
  app->add_option("--curve-server", server,
                  "CURVE: the server's public key (a .key file or the 40-character key)")
      ->envname("PROCREG_CURVE_SERVER");
  app->add_option("--curve-bus", bus, "CURVE: the bus proxy's public key, if not the server's")
      ->envname("PROCREG_CURVE_BUS");
}

void CurveFlags::add_server_options(CLI::App* app, bool publishes) {
  if (publishes) {
    app->add_option("--curve-bus", bus,
                    "CURVE: with --connect, the public key of the proxy published to")
        ->envname("PROCREG_CURVE_BUS");
  }
  app->add_option("--curve-key", key, "CURVE: this server's secret certificate")
      ->envname("PROCREG_CURVE_KEY");
  app->add_option("--curve-policy", policy,
                  "CURVE: the directory of public keys per role (reader/, writer-client/, admin/, "
                  "publisher/, standby/)")
      ->envname("PROCREG_CURVE_POLICY");
  app->add_flag("--insecure", insecure,
                "allow plaintext on a tcp endpoint that is not loopback (anyone who reaches it "
                "owns the hub)");
}

CurveOptions CurveFlags::client_options() const {
  CurveOptions c;
  if (key.empty()) {
    if (!server.empty() || !bus.empty()) usage_error("--curve-server needs --curve-key");
    return c;
  }
  if (server.empty()) usage_error("--curve-key needs --curve-server (the server's public key)");
  c.keys = own_keys(key);
  c.server_key = public_key_of(server, "--curve-server");
  if (!bus.empty()) c.bus_server_key = public_key_of(bus, "--curve-bus");
  return c;
}

CurveOptions CurveFlags::server_options() const {
  CurveOptions c;
  if (key.empty()) {
    if (!policy.empty()) usage_error("--curve-policy needs --curve-key");
    return c;
  }
  if (policy.empty()) usage_error("--curve-key needs --curve-policy (who may connect)");
  c.keys = own_keys(key);
  auto loaded = AccessPolicy::load(policy);
  if (!loaded.ok()) throw CliError(kExitFailure, "--curve-policy: " + loaded.status().to_string());
  c.policy = *loaded;
  if (!bus.empty()) c.bus_server_key = public_key_of(bus, "--curve-bus");
  return c;
}

void CurveFlags::check_endpoint(const std::string& endpoint, const std::string& what) const {
  if (endpoint.empty() || endpoint == "none" || enabled() || insecure) return;
  if (is_local_endpoint(endpoint)) return;
  usage_error(what + " " + endpoint +
              " is not loopback: give --curve-key and --curve-policy, or --insecure to serve "
              "it in plaintext");
}

namespace {

struct KeygenOptions {
  std::string name;
  bool force = false;
};

int run_keygen(const KeygenOptions& o) {
  struct stat st {};
  if (!o.force && (::stat((o.name + ".key").c_str(), &st) == 0 ||
                   ::stat((o.name + ".key_secret").c_str(), &st) == 0)) {
    throw CliError(kExitFailure,
                   o.name + ".key or " + o.name + ".key_secret exists; --force replaces it");
  }
  auto keys = generate_curve_keys();
  if (!keys.ok()) throw CliError(kExitFailure, keys.status().to_string());
  if (Status s = write_curve_keys(o.name, *keys); !s.ok()) {
    throw CliError(kExitFailure, s.to_string());
  }
  out_line(dump_line({{"public_key", keys->public_key},
                      {"public_file", o.name + ".key"},
                      {"secret_file", o.name + ".key_secret"}}));
  return kExitOk;
}

}  // namespace

void add_keygen_command(CLI::App& app, Commands* commands) {
  auto o = std::make_shared<KeygenOptions>();
  CLI::App* sub = app.add_subcommand(
      "keygen", "Make a CURVE key pair: NAME.key (public) and NAME.key_secret (mode 0600)");
  sub->add_option("name", o->name, "the files' path without extension")->required();
  sub->add_flag("--force", o->force, "replace existing files");
  commands->push_back({sub, [o] { return run_keygen(*o); }});
}

}  // namespace procreg::cli
