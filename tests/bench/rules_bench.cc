// Rule evaluation cost (policy/rules.h): one decision against a rules file of N rules (range: 100,
// 1,000), where the query matches only the last rule, so every rule is looked at. The rules mix
// every key: users, client CIDRs, name suffixes, exact hosts, target CIDRs, ports and commands.
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "policy/rules.h"

namespace socks5::policy {
namespace {

RuleSet Rules(int n) {
  std::string text = "deny to=169.254.0.0/16,fd00::/8,127.0.0.0/8\n";
  for (int i = 1; i < n - 1; ++i) {
    switch (i % 4) {
      case 0:
        absl::StrAppend(&text, "allow user=user", i, " to=.domain", i, ".test port=80,443\n");
        break;
      case 1:
        absl::StrAppend(&text, "allow from=10.", i % 256, ".", i / 256,
                        ".0/24 cmd=connect,udp egress=198.51.100.7\n");
        break;
      case 2:
        absl::StrAppend(&text, "deny to=host", i, ".example,2001:db8:", i,
                        "::/48 port=1000-2000\n");
        break;
      default:
        absl::StrAppend(&text, "allow user=team", i, ",other", i, " cmd=bind rate=10M\n");
        break;
    }
  }
  absl::StrAppend(&text, "allow user=last to=.last.test\n");
  auto set = ParseRules(text, "bench");
  if (!set.ok()) std::abort();
  return *std::move(set);
}

// A domain target resolved to one address: the shape of every CONNECT and UDP decision.
void BM_DecideLastRule(benchmark::State& state) {
  const RuleSet set = Rules(static_cast<int>(state.range(0)));
  const Query query{*ParseIp("203.0.113.9"),   "last", Command::kConnect, "www.last.test",
                    *ParseIp("93.184.216.34"), 443};
  for (auto _ : state) {
    Decision d = set.Decide(query);
    benchmark::DoNotOptimize(d);
  }
  if (set.Decide(query).source() != absl::StrCat("bench:", state.range(0))) std::abort();
}
BENCHMARK(BM_DecideLastRule)->Arg(100)->Arg(1000);

// An IPv6 address target no rule allows: every rule and then the implicit deny.
void BM_DecideDefault(benchmark::State& state) {
  const RuleSet set = Rules(static_cast<int>(state.range(0)));
  const Query query{*ParseIp("2001:db8:ffff::9"), "nobody", Command::kUdp, std::nullopt,
                    *ParseIp("2001:db8:ffff::1"), 1500};
  for (auto _ : state) {
    Decision d = set.Decide(query);
    benchmark::DoNotOptimize(d);
  }
  if (set.Decide(query).rule != nullptr) std::abort();
}
BENCHMARK(BM_DecideDefault)->Arg(100)->Arg(1000);

// The check before resolving a name.
void BM_CouldAllow(benchmark::State& state) {
  const RuleSet set = Rules(static_cast<int>(state.range(0)));
  const Query query{*ParseIp("203.0.113.9"), "last",       Command::kConnect,
                    "www.last.test",         std::nullopt, 443};
  for (auto _ : state) {
    Decision d = set.CouldAllow(query);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_CouldAllow)->Arg(100)->Arg(1000);

void BM_Parse(benchmark::State& state) {
  for (auto _ : state) {
    RuleSet set = Rules(static_cast<int>(state.range(0)));
    benchmark::DoNotOptimize(set);
  }
}
BENCHMARK(BM_Parse)->Arg(1000);

}  // namespace
}  // namespace socks5::policy
