// libFuzzer target: the --rules_file parser and matcher (policy/rules.h). The input is the file's
// contents. A parse either fails with `rules:LINE: ...` or yields rules whose sources count lines
// up; then queries built from the rules' own names, addresses and ports check the matcher:
//  - first match: the rules up to the deciding rule's line decide the same way;
//  - CouldAllow refusing a name means Decide refuses it at every address;
//  - DecideAnyTarget refusing means Decide refuses every target of that client, user and command;
//  - a name differing only in case or a trailing dot decides the same way.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "policy/rules.h"

namespace {

namespace p = socks5::policy;
using socks5::udp::IpAddress;

void Check(bool condition) {
  if (!condition) std::abort();
}

// The text of lines 1..n.
absl::string_view Lines(absl::string_view text, int n) {
  std::size_t end = 0;
  for (int i = 0; i < n; ++i) {
    end = text.find('\n', end);
    if (end == absl::string_view::npos) return text;
    ++end;
  }
  return text.substr(0, end);
}

int LineOf(const p::Rule& rule) {
  int line = 0;
  Check(absl::StartsWith(rule.source, "rules:"));
  Check(absl::SimpleAtoi(absl::string_view(rule.source).substr(6), &line));
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = p::ParseRules(text, "rules");
  if (!parsed.ok()) {
    Check(absl::StartsWith(parsed.status().message(), "rules:"));
    return 0;
  }
  const p::RuleSet& set = *parsed;
  int previous = 0;
  std::vector<std::string> names = {"example.com", "a.example.com"};
  std::vector<IpAddress> addresses = {*p::ParseIp("127.0.0.1"), *p::ParseIp("::1")};
  std::vector<std::uint16_t> ports = {0, 80, 65535};
  for (const p::Rule& rule : set.rules()) {
    const int line = LineOf(rule);
    Check(line > previous);
    previous = line;
    Check(rule.allow || (!rule.egress_v4 && !rule.egress_v6 && !rule.rate));
    Check(!rule.rate || *rule.rate > 0);
    Check(!rule.egress_v4 || rule.egress_v4->is_v4());
    Check(!rule.egress_v6 || !rule.egress_v6->is_v4());
    if (names.size() < 8) {
      for (const auto& host : rule.to_hosts) names.push_back(host);
      for (const auto& suffix : rule.to_suffixes) names.push_back("x." + suffix);
    }
    if (addresses.size() < 8) {
      for (const auto& prefix : rule.to_addresses) addresses.push_back(prefix.network);
      for (const auto& prefix : rule.from) addresses.push_back(prefix.network);
    }
    if (ports.size() < 8) {
      for (const auto& range : rule.ports) ports.push_back(range.high);
    }
  }
  std::map<int, p::RuleSet> prefixes;  // the rules of lines 1..N, by N
  const std::optional<absl::string_view> users[] = {std::nullopt, "alice", ""};
  const p::Command commands[] = {p::Command::kConnect, p::Command::kBind, p::Command::kUdp};
  for (const IpAddress& client : {addresses[0], addresses.back()}) {
    for (const auto& user : users) {
      for (p::Command command : commands) {
        const p::Decision any = set.DecideAnyTarget(client, user, command);
        for (const std::string& name : names) {
          for (std::uint16_t port : {ports[0], ports.back()}) {
            p::Query q{client, user, command, name, std::nullopt, port};
            const p::Decision could = set.CouldAllow(q);
            std::string upper = absl::StrCat(name, ".");
            for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
            for (const IpAddress& address : addresses) {
              q.name = name;
              q.address = address;
              const p::Decision d = set.Decide(q);
              if (!could.allow) Check(!d.allow);
              if (!any.allow) Check(!d.allow);
              q.name = upper;
              const p::Decision same = set.Decide(q);
              Check(same.allow == d.allow && same.rule == d.rule);
              if (d.rule != nullptr) {
                Check(d.rule->allow == d.allow);
                const int line = LineOf(*d.rule);
                auto it = prefixes.find(line);
                if (it == prefixes.end()) {
                  auto prefix = p::ParseRules(Lines(text, line), "rules");
                  Check(prefix.ok());
                  it = prefixes.emplace(line, *std::move(prefix)).first;
                }
                q.name = name;
                const p::Decision first = it->second.Decide(q);
                Check(first.allow == d.allow && first.rule != nullptr &&
                      first.rule->source == d.rule->source);
              } else {
                Check(!d.allow);
              }
            }
          }
        }
      }
    }
  }
  return 0;
}
