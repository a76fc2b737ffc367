#include "util/host_port.h"

#include <charconv>

namespace llmrt {

Result<HostPort> parse_host_port(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return input_error("expected \"host:port\" or \"\", found \"{}\"", text);
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return input_error("expected an IPv6 host in brackets (\"[::1]:9464\"), found \"{}\"", text);
  }
  if (host.empty()) return input_error("expected a host before ':port' (\"127.0.0.1:9464\"), found \"{}\"", text);
  for (char c : host) {
    if (c == ' ' || c == '\t' || c == '/' || c == '[' || c == ']') {
      return input_error("expected a host name or address, found \"{}\" in \"{}\"", host, text);
    }
  }
  int port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  const bool digits_only = end == port_text.data() + port_text.size();
  if (error == std::errc::result_out_of_range && digits_only) {
    port = 65536;  // too many digits for an int: out of range, said below
  } else if (port_text.empty() || error != std::errc() || !digits_only) {
    return input_error("expected a port number after the last ':', found \"{}\" in \"{}\"", port_text, text);
  }
  if (port < 1 || port > 65535) return input_error("port {} is out of range 1-65535 in \"{}\"", port_text, text);
  return HostPort{std::string(host), port};
}

std::string format_host_port(const HostPort& address) {
  if (address.host.find(':') != std::string::npos) return fmt::format("[{}]:{}", address.host, address.port);
  return fmt::format("{}:{}", address.host, address.port);
}

}  // namespace llmrt
