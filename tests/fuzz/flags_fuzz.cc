// libFuzzer target: the flag value parsers. The first byte picks the parser, the rest is the
// flag's text: --listen (net/parse.h: ParseHostPort, ParseListenList), --deny_destinations
// items (ParseCidr, Cidr::Contains), --udp_port_range / --bind_port_range
// (net/port_range.h: ParsePortRange, PortPicker), --udp_reply_policy (udp/policy.h:
// ParseReplyPolicy), --log_level (net/log.h: ParseLogLevel), and the duration flags (Abseil's
// flag parser absl::ParseDuration, then ValidateConfig's rules for each duration). Accepted values
// must round-trip through their printed form; rejected ones must say why.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "net/log.h"
#include "net/port_range.h"
#include "server/config.h"
#include "udp/policy.h"

namespace {

namespace s = socks5::server;
namespace u = socks5::udp;
namespace n = socks5::net;

void Check(bool condition) {
  if (!condition) std::abort();
}

std::string HostPort(const asio::ip::tcp::endpoint& e) {
  std::string host = e.address().to_string();
  if (e.address().is_v6()) host = absl::StrCat("[", host, "]");
  return absl::StrCat(host, ":", e.port());
}

template <typename T>
void CheckError(const T& result) {
  if (!result.ok()) Check(!result.status().message().empty());
}

void HostPortCase(absl::string_view text) {
  auto e = n::ParseHostPort(text);
  CheckError(e);
  if (!e.ok()) return;
  Check(text.find(':') != absl::string_view::npos);
  auto again = n::ParseHostPort(HostPort(*e));
  Check(again.ok() && *again == *e);
}

void ListenListCase(absl::string_view text) {
  auto list = n::ParseListenList(text);
  CheckError(list);
  if (!list.ok()) return;
  Check(!list->empty());
  std::string joined;
  for (const auto& e : *list) absl::StrAppend(&joined, joined.empty() ? "" : ",", HostPort(e));
  auto again = n::ParseListenList(joined);
  Check(again.ok() && *again == *list);
}

void CidrCase(absl::string_view text) {
  auto cidr = n::ParseCidr(text);
  CheckError(cidr);
  if (!cidr.ok()) return;
  int max = cidr->network.is_v4() ? 32 : 128;
  Check(cidr->prefix_length >= 0 && cidr->prefix_length <= max);
  Check(!(cidr->network.is_v6() && cidr->network.to_v6().is_v4_mapped()));  // canonical form
  Check(cidr->Contains(cidr->network));
  if (cidr->network.is_v4()) {  // the IPv4-mapped spelling of a covered address is covered too
    Check(cidr->Contains(asio::ip::make_address_v6(asio::ip::v4_mapped, cidr->network.to_v4())));
  }
  auto again = n::ParseCidr(absl::StrCat(cidr->network.to_string(), "/", cidr->prefix_length));
  Check(again.ok() && again->network == cidr->network &&
        again->prefix_length == cidr->prefix_length);
}

void PortRangeCase(absl::string_view text) {
  auto range = n::ParsePortRange(text);
  CheckError(range);
  if (!range.ok()) return;
  Check(range->lo >= 1 && range->lo <= range->hi);
  Check(range->Contains(range->lo) && range->Contains(range->hi));
  auto again = n::ParsePortRange(range->ToString());
  Check(again.ok() && *again == *range);
  if (range->size() <= 64) {  // every port offered exactly once, then nullopt
    n::PortPicker picker(*range, text.size());
    std::size_t offered = 0;
    Check(!picker
               .Pick([&](std::uint16_t port) {
                 Check(range->Contains(port));
                 ++offered;
                 return false;
               })
               .has_value());
    Check(offered == range->size());
  }
}

void NamesCase(absl::string_view text) {
  if (auto policy = u::ParseReplyPolicy(text); policy.ok()) {
    Check(text == u::ReplyPolicyName(*policy));
  } else {
    CheckError(policy);
  }
  if (auto level = n::ParseLogLevel(text); level.ok()) {
    Check(text.size() <= 7);
  } else {
    CheckError(level);
  }
}

void DurationCase(absl::string_view text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d)) return;
  absl::Duration again;
  Check(absl::ParseDuration(absl::FormatDuration(d), &again) && again == d);
  s::Config base;
  base.listen.push_back(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 1080));
  Check(s::ValidateConfig(base).ok());
  const bool positive = d > absl::ZeroDuration();
  // Some fields are session::Settings', some only the process's (server::Config extends it).
  using Field = absl::Duration* (*)(s::Config&);
  for (Field field :
       std::initializer_list<Field>{[](s::Config& c) { return &c.handshake_timeout; },
                                    [](s::Config& c) { return &c.connect_timeout; },
                                    [](s::Config& c) { return &c.idle_timeout; },
                                    [](s::Config& c) { return &c.dns_timeout; },
                                    [](s::Config& c) { return &c.bind_timeout; },
                                    [](s::Config& c) { return &c.udp_idle_timeout; }}) {
    s::Config config = base;
    *field(config) = d;
    Check(s::ValidateConfig(config).ok() == positive);
  }
  s::Config config = base;
  config.shutdown_grace = d;
  Check(s::ValidateConfig(config).ok() == (d >= absl::ZeroDuration()));
  config = base;
  config.udp_reassembly_timeout = d;
  Check(s::ValidateConfig(config).ok() == (d >= absl::Seconds(5)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  absl::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      HostPortCase(text);
      break;
    case 1:
      ListenListCase(text);
      break;
    case 2:
      CidrCase(text);
      break;
    case 3:
      PortRangeCase(text);
      break;
    case 4:
      NamesCase(text);
      break;
    case 5:
      DurationCase(text);
      break;
    case 6:  // "ADDRESS/N" with N from a byte: decimal prefix lengths that mutation rarely spells
      if (!text.empty()) {
        CidrCase(absl::StrCat(text.substr(1), "/", static_cast<unsigned char>(text[0])));
      }
      break;
    default:  // "LO-HI" from two 16-bit numbers (0 and equal ends included)
      if (text.size() >= 4) {
        auto number = [&](std::size_t i) {
          return (static_cast<unsigned char>(text[i]) << 8) |
                 static_cast<unsigned char>(text[i + 1]);
        };
        PortRangeCase(absl::StrCat(number(0), "-", number(2)));
      }
      break;
  }
  return 0;
}
