#include "policy/rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "protocol/address.h"

namespace socks5::policy {
namespace {

constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

// The keys, as bits for "given once".
enum Key : unsigned {
  kFrom = 1,
  kUser = 2,
  kTo = 4,
  kPort = 8,
  kCmd = 16,
  kEgress = 32,
  kRate = 64,
};

std::optional<Key> KeyNamed(absl::string_view name) {
  if (name == "from") return kFrom;
  if (name == "user") return kUser;
  if (name == "to") return kTo;
  if (name == "port") return kPort;
  if (name == "cmd") return kCmd;
  if (name == "egress") return kEgress;
  if (name == "rate") return kRate;
  return std::nullopt;
}

// Digits only (no sign, no space), at most `max`.
std::optional<std::uint64_t> ParseDigits(absl::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::optional<PortRange> ParsePortRange(absl::string_view text) {
  absl::string_view low = text;
  absl::string_view high = text;
  if (std::size_t dash = text.find('-'); dash != absl::string_view::npos) {
    low = text.substr(0, dash);
    high = text.substr(dash + 1);
  }
  auto lo = ParseDigits(low, 65535);
  auto hi = ParseDigits(high, 65535);
  if (!lo || !hi || *lo > *hi) return std::nullopt;
  return PortRange{static_cast<std::uint16_t>(*lo), static_cast<std::uint16_t>(*hi)};
}

// "10.0.0.0/8", "::1/128", or a bare IP (a host prefix). A mapped IPv6 prefix becomes IPv4 (its
// length minus 96; it must be at least /96).
std::optional<udp::IpPrefix> ParsePrefix(absl::string_view text) {
  absl::string_view ip_text = text;
  std::optional<std::uint64_t> length;
  if (std::size_t slash = text.find('/'); slash != absl::string_view::npos) {
    ip_text = text.substr(0, slash);
    length = ParseDigits(text.substr(slash + 1), 128);
    if (!length) return std::nullopt;
  }
  auto ip = ParseIp(ip_text);
  if (!ip) return std::nullopt;
  const bool written_v6 = absl::StrContains(ip_text, ':');
  int bits = static_cast<int>(length.value_or(written_v6 ? 128 : 32));
  if (written_v6 && ip->is_v4()) {
    if (bits < 96) return std::nullopt;
    bits -= 96;
  }
  if (bits > (ip->is_v4() ? 32 : 128)) return std::nullopt;
  return udp::IpPrefix{*ip, bits};
}

// Digits and dots with a digit: meant as an IPv4 address (no top-level domain is numeric).
bool LooksNumeric(absl::string_view text) {
  return std::any_of(text.begin(), text.end(), absl::ascii_isdigit) &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return absl::ascii_isdigit(c) || c == '.'; });
}

std::string Quote(absl::string_view text) {
  return absl::StrCat("'", protocol::EscapeForLog(std::string_view(text.data(), text.size())), "'");
}

// The error of one value, or "" when it was stored in `rule`.
std::string ParseValue(Key key, absl::string_view value, Rule& rule) {
  switch (key) {
    case kFrom: {
      auto prefix = ParsePrefix(value);
      if (!prefix) return absl::StrCat("bad CIDR or IP in from=: ", Quote(value));
      rule.from.push_back(*prefix);
      return "";
    }
    case kUser:
      if (value == "*") {
        rule.any_user = true;
      } else if (value == "-") {
        rule.unauthenticated = true;
      } else if (value.size() > 255) {
        return "a user name in user= is longer than 255 bytes";
      } else {
        rule.users.emplace_back(value);
      }
      return "";
    case kTo: {
      if (absl::StrContains(value, '/') || absl::StrContains(value, ':') || LooksNumeric(value)) {
        auto prefix = ParsePrefix(value);
        if (!prefix) return absl::StrCat("bad CIDR or IP in to=: ", Quote(value));
        rule.to_addresses.push_back(*prefix);
        return "";
      }
      if (absl::StartsWith(value, "*.")) {
        return absl::StrCat("bad host name in to=: ", Quote(value),
                            " (write .example.com for a domain and its subdomains)");
      }
      absl::string_view name = value;
      const bool suffix = absl::ConsumePrefix(&name, ".");
      while (absl::ConsumeSuffix(&name, ".")) {
      }
      if (!protocol::IsHostName(std::string_view(name.data(), name.size()))) {
        return absl::StrCat("bad host name in to=: ", Quote(value));
      }
      (suffix ? rule.to_suffixes : rule.to_hosts).push_back(absl::AsciiStrToLower(name));
      return "";
    }
    case kPort: {
      auto range = ParsePortRange(value);
      if (!range) {
        return absl::StrCat("bad port or port range in port=: ", Quote(value),
                            " (expected N or LO-HI, 0-65535, LO not above HI)");
      }
      rule.ports.push_back(*range);
      return "";
    }
    case kCmd:
      if (value == "connect") {
        rule.commands |= static_cast<std::uint8_t>(Command::kConnect);
      } else if (value == "bind") {
        rule.commands |= static_cast<std::uint8_t>(Command::kBind);
      } else if (value == "udp") {
        rule.commands |= static_cast<std::uint8_t>(Command::kUdp);
      } else if (value == "resolve") {
        rule.commands |= static_cast<std::uint8_t>(Command::kResolve);
      } else if (value == "resolve_ptr") {
        rule.commands |= static_cast<std::uint8_t>(Command::kResolvePtr);
      } else {
        return absl::StrCat("unknown command in cmd=: ", Quote(value),
                            " (expected connect, bind, udp, resolve or resolve_ptr)");
      }
      return "";
    case kEgress: {
      auto ip = ParseIp(value);
      if (!ip) return absl::StrCat("bad IP address in egress=: ", Quote(value));
      if (ip->is_unspecified()) {
        return absl::StrCat("egress= must be a unicast address, not ", Quote(value));
      }
      auto& slot = ip->is_v4() ? rule.egress_v4 : rule.egress_v6;
      if (slot) {
        return absl::StrCat("egress= has two ", ip->is_v4() ? "IPv4" : "IPv6",
                            " addresses (at most one per address family)");
      }
      slot = *ip;
      return "";
    }
    case kRate: {
      if (rule.rate) return "rate= takes one value";
      std::uint64_t unit = 1;
      absl::string_view digits = value;
      switch (value.back()) {
        case 'K':
        case 'k':
          unit = 1000;
          break;
        case 'M':
        case 'm':
          unit = 1000 * 1000;
          break;
        case 'G':
        case 'g':
          unit = 1000 * 1000 * 1000;
          break;
        default:
          break;
      }
      if (unit != 1) digits.remove_suffix(1);
      auto n = ParseDigits(digits, UINT64_MAX / unit);
      if (!n) {
        return absl::StrCat("bad rate in rate=: ", Quote(value),
                            " (expected bytes per second: N, NK, NM or NG)");
      }
      if (*n == 0) return "rate= must be above 0";
      rule.rate = *n * unit;
      return "";
    }
  }
  return "unknown key";
}

// The error of one line, or "" with `rule` filled (`empty`: the line holds no rule).
std::string ParseRule(absl::string_view line, Rule& rule, bool& empty) {
  std::vector<absl::string_view> words =
      absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  empty = words.empty();
  if (empty) return "";
  if (words[0] == "allow") {
    rule.allow = true;
  } else if (words[0] != "deny") {
    return absl::StrCat("expected allow or deny, got ", Quote(words[0]));
  }
  unsigned seen = 0;
  for (std::size_t i = 1; i < words.size(); ++i) {
    absl::string_view word = words[i];
    std::size_t eq = word.find('=');
    if (eq == absl::string_view::npos) {
      return absl::StrCat("expected key=value, got ", Quote(word));
    }
    absl::string_view name = word.substr(0, eq);
    absl::string_view values = word.substr(eq + 1);
    auto key = KeyNamed(name);
    if (!key) {
      return absl::StrCat("unknown key ", Quote(name),
                          " (expected from, user, to, port, cmd, egress or rate)");
    }
    if ((seen & *key) != 0) {
      return absl::StrCat("repeated key ", Quote(name),
                          " (give its values once, separated by commas)");
    }
    seen |= *key;
    if (!rule.allow && (*key == kEgress || *key == kRate)) {
      return absl::StrCat(name, "= is only allowed on allow rules");
    }
    if (values.empty()) return absl::StrCat("empty value for ", name, "=");
    for (absl::string_view value : absl::StrSplit(values, ',')) {
      if (value.empty()) return absl::StrCat("empty value in ", name, "=", values);
      if (std::string error = ParseValue(*key, value, rule); !error.empty()) return error;
    }
  }
  rule.has_user = (seen & kUser) != 0;
  rule.has_to = (seen & kTo) != 0;
  return "";
}

bool InAny(const std::vector<udp::IpPrefix>& prefixes, const udp::IpAddress& ip) {
  for (const udp::IpPrefix& prefix : prefixes) {
    if (prefix.Contains(ip)) return true;
  }
  return false;
}

// from=, user=, cmd=.
bool MatchesIdentity(const Rule& rule, const udp::IpAddress& client,
                     const std::optional<absl::string_view>& user, Command command) {
  if (rule.commands != 0 && (rule.commands & static_cast<std::uint8_t>(command)) == 0) {
    return false;
  }
  if (!rule.from.empty() && !InAny(rule.from, client)) return false;
  if (rule.has_user) {
    if (!user) return rule.unauthenticated;
    if (rule.any_user) return true;
    return std::find(rule.users.begin(), rule.users.end(), *user) != rule.users.end();
  }
  return true;
}

bool MatchesPort(const Rule& rule, std::uint16_t port) {
  if (rule.ports.empty()) return true;
  for (const PortRange& range : rule.ports) {
    if (port >= range.low && port <= range.high) return true;
  }
  return false;
}

// The query's name without its trailing dots (compared case-insensitively).
absl::string_view Canonical(absl::string_view name) {
  while (absl::ConsumeSuffix(&name, ".")) {
  }
  return name;
}

bool MatchesName(const Rule& rule, absl::string_view name) {
  for (const std::string& host : rule.to_hosts) {
    if (absl::EqualsIgnoreCase(name, host)) return true;
  }
  for (const std::string& suffix : rule.to_suffixes) {
    if (name.size() == suffix.size()) {
      if (absl::EqualsIgnoreCase(name, suffix)) return true;
    } else if (name.size() > suffix.size() && name[name.size() - suffix.size() - 1] == '.' &&
               absl::EndsWithIgnoreCase(name, suffix)) {
      return true;
    }
  }
  return false;
}

}  // namespace

const char* CommandName(Command command) {
  switch (command) {
    case Command::kConnect:
      return "connect";
    case Command::kBind:
      return "bind";
    case Command::kUdp:
      return "udp";
    case Command::kResolve:
      return "resolve";
    case Command::kResolvePtr:
      return "resolve_ptr";
  }
  return "?";
}

std::optional<udp::IpAddress> ParseIp(absl::string_view text) {
  // inet_pton wants a NUL-terminated string; no literal is longer than 45 bytes.
  std::array<char, 64> buffer{};
  if (text.empty() || text.size() >= buffer.size()) return std::nullopt;
  std::memcpy(buffer.data(), text.data(), text.size());
  if (absl::StrContains(text, ':')) {
    protocol::Ipv6 v6{};
    if (::inet_pton(AF_INET6, buffer.data(), v6.data()) != 1) return std::nullopt;
    return udp::IpAddress(v6);
  }
  protocol::Ipv4 v4{};
  if (::inet_pton(AF_INET, buffer.data(), v4.data()) != 1) return std::nullopt;
  return udp::IpAddress(v4);
}

absl::StatusOr<RuleSet> RuleSet::Parse(absl::string_view text, absl::string_view source) {
  RuleSet set;
  absl::ConsumePrefix(&text, kUtf8Bom);
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");
    if (std::size_t hash = line.find('#'); hash != absl::string_view::npos) {
      line = line.substr(0, hash);
    }
    Rule rule;
    bool empty = false;
    if (std::string error = ParseRule(line, rule, empty); !error.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": ", error));
    }
    if (empty) continue;
    rule.source = absl::StrCat(source, ":", line_number);
    set.rules_.push_back(std::move(rule));
  }
  return set;
}

Decision RuleSet::Decide(const Query& query) const {
  const absl::string_view name = query.name ? Canonical(*query.name) : absl::string_view();
  for (const Rule& rule : rules_) {
    if (!MatchesIdentity(rule, query.client, query.user, query.command)) continue;
    if (!MatchesPort(rule, query.port)) continue;
    if (rule.has_to) {
      const bool by_name = query.name && MatchesName(rule, name);
      const bool by_address = query.address && InAny(rule.to_addresses, *query.address);
      if (!by_name && !by_address) continue;
    }
    return Decision{rule.allow, &rule};
  }
  return Decision{};
}

Decision RuleSet::CouldAllow(const Query& query) const {
  const absl::string_view name = query.name ? Canonical(*query.name) : absl::string_view();
  for (const Rule& rule : rules_) {
    if (!MatchesIdentity(rule, query.client, query.user, query.command)) continue;
    if (!MatchesPort(rule, query.port)) continue;
    if (!rule.has_to || (query.name && MatchesName(rule, name))) {
      return Decision{rule.allow, &rule};  // whatever the address
    }
    // Only some addresses match: a deny may not apply, an allow may.
    if (rule.allow && !rule.to_addresses.empty()) return Decision{true, &rule};
  }
  return Decision{};
}

Decision RuleSet::DecideAnyTarget(const udp::IpAddress& client,
                                  std::optional<absl::string_view> user, Command command) const {
  for (const Rule& rule : rules_) {
    if (!MatchesIdentity(rule, client, user, command)) continue;
    if (!rule.has_to && rule.ports.empty()) return Decision{rule.allow, &rule};
    if (rule.allow) return Decision{true, &rule};
  }
  return Decision{};
}

absl::StatusOr<RuleSet> ParseRules(absl::string_view text, absl::string_view source) {
  return RuleSet::Parse(text, source);
}

absl::StatusOr<RuleSet> LoadRules(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--rules_file: cannot read '", path, "'"));
  std::stringstream contents;
  contents << in.rdbuf();
  if (in.bad())
    return absl::DataLossError(absl::StrCat("--rules_file: error reading '", path, "'"));
  return RuleSet::Parse(contents.str(), path);
}

}  // namespace socks5::policy
