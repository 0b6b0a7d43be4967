// procreg command: one registry API call by name with JSON arguments, for `call` (through a
// thin client by default, or on a replica's registry) and `replay` (on a read-only registry).
// docs/CLI.md, "call", lists every method with its arguments and result.
//
// Thread safety: as the Registry's.
#pragma once

#include <string>
#include <vector>

#include "procreg/registry.h"
#include "tools/procreg/client_view.h"
#include "tools/procreg/json_convert.h"

namespace procreg::cli {

// Runs `method` with `args` (a JSON object, or null for none) on `registry`. Returns the
// result as JSON, or error_json(status) when the library refused the call. Throws JsonError
// when the arguments do not have the method's shape, and UnknownMethod for a name that is not
// a method.
Json call_api(Registry& registry, const std::string& method, const Json& args);
// The same through a thin client (reads answered by the node it is connected to).
Json call_api(ClientView& client, const std::string& method, const Json& args);

struct UnknownMethod : JsonError {
  using JsonError::JsonError;
};

// Every method call_api knows, in documentation order.
const std::vector<std::string>& api_methods();
// Whether `method` writes (and so takes hooks, table and timeout_ms).
bool api_method_writes(const std::string& method);

}  // namespace procreg::cli
