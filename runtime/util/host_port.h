// "host:port" as metrics.prometheus writes it: one parser for the config reader, which refuses a
// malformed value at its key, and the endpoint, which binds it.
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace llmrt {

struct HostPort {
  std::string host;  // a name or an IPv4 address, or an IPv6 address without its brackets
  int port = 0;      // 1-65535
};

// "127.0.0.1:9464", "localhost:9464", "[::1]:9464". An input error says what was expected and
// what was found; the caller adds the key.
Result<HostPort> parse_host_port(std::string_view text);

// The address as a user writes it back: "127.0.0.1:9464", "[::1]:9464".
std::string format_host_port(const HostPort& address);

}  // namespace llmrt
