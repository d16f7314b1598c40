#include "policy/rules.h"

#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace socks5::policy {
namespace {

udp::IpAddress Ip(absl::string_view text) {
  auto ip = ParseIp(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip.value_or(udp::IpAddress());
}

RuleSet MustParse(absl::string_view text) {
  auto set = ParseRules(text, "rules");
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *std::move(set) : RuleSet();
}

TEST(ParseIpTest, Literals) {
  EXPECT_EQ(Ip("127.0.0.1"), udp::IpAddress(protocol::Ipv4{127, 0, 0, 1}));
  EXPECT_EQ(Ip("::ffff:10.1.2.3"), udp::IpAddress(protocol::Ipv4{10, 1, 2, 3}));  // mapped
  EXPECT_FALSE(Ip("::1").is_v4());
  for (absl::string_view bad :
       {"", "1.2.3", "1.2.3.256", "01.2.3.4x", "::g", "localhost", " 1.2.3.4", "1.2.3.4 "}) {
    EXPECT_FALSE(ParseIp(bad).has_value()) << bad;
  }
}

// Every malformed case names its line and what is wrong.
TEST(ParseRulesTest, Errors) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"permit user=alice", "rules:1: expected allow or deny, got 'permit'"},
      {"Allow", "rules:1: expected allow or deny, got 'Allow'"},
      {"allow\nallow user", "rules:2: expected key=value, got 'user'"},
      {"allow host=a.com",
       "rules:1: unknown key 'host' (expected from, user, to, port, cmd, egress or rate)"},
      {"allow =x", "rules:1: unknown key '' (expected from, user, to, port, cmd, egress or rate)"},
      {"allow to=a.com to=b.com",
       "rules:1: repeated key 'to' (give its values once, separated by commas)"},
      {"# c\n\nallow user=a user=b",
       "rules:3: repeated key 'user' (give its values once, separated by commas)"},
      {"allow to=", "rules:1: empty value for to="},
      {"allow port=", "rules:1: empty value for port="},
      {"allow to=a.com,,b.com", "rules:1: empty value in to=a.com,,b.com"},
      {"allow cmd=connect,", "rules:1: empty value in cmd=connect,"},
      {"allow from=10.0.0.0/33", "rules:1: bad CIDR or IP in from=: '10.0.0.0/33'"},
      {"allow from=10.0.0/8", "rules:1: bad CIDR or IP in from=: '10.0.0/8'"},
      {"allow from=10.0.0.0/", "rules:1: bad CIDR or IP in from=: '10.0.0.0/'"},
      {"allow from=10.0.0.0/-1", "rules:1: bad CIDR or IP in from=: '10.0.0.0/-1'"},
      {"allow from=10.0.0.0/+8", "rules:1: bad CIDR or IP in from=: '10.0.0.0/+8'"},
      {"allow from=::/129", "rules:1: bad CIDR or IP in from=: '::/129'"},
      {"allow from=::ffff:10.0.0.0/95", "rules:1: bad CIDR or IP in from=: '::ffff:10.0.0.0/95'"},
      {"allow from=office", "rules:1: bad CIDR or IP in from=: 'office'"},
      {"allow to=300.1.1.1", "rules:1: bad CIDR or IP in to=: '300.1.1.1'"},
      {"allow to=1.2.3", "rules:1: bad CIDR or IP in to=: '1.2.3'"},
      {"allow to=fd00::/200", "rules:1: bad CIDR or IP in to=: 'fd00::/200'"},
      {"allow to=a.com/8", "rules:1: bad CIDR or IP in to=: 'a.com/8'"},
      {"allow to=fe80::1%eth0", "rules:1: bad CIDR or IP in to=: 'fe80::1%eth0'"},
      {"allow to=*.a.com",
       "rules:1: bad host name in to=: '*.a.com' (write .example.com for a domain and its "
       "subdomains)"},
      {"allow to=a..com", "rules:1: bad host name in to=: 'a..com'"},
      {"allow to=.", "rules:1: bad host name in to=: '.'"},
      {"allow to=..a.com", "rules:1: bad host name in to=: '..a.com'"},
      {"allow to=a$b.com", "rules:1: bad host name in to=: 'a$b.com'"},
      {"allow port=0-65536",
       "rules:1: bad port or port range in port=: '0-65536' (expected N or LO-HI, 0-65535, LO "
       "not above HI)"},
      {"allow port=443-80",
       "rules:1: bad port or port range in port=: '443-80' (expected N or LO-HI, 0-65535, LO not "
       "above HI)"},
      {"allow port=http",
       "rules:1: bad port or port range in port=: 'http' (expected N or LO-HI, 0-65535, LO not "
       "above HI)"},
      {"allow port=80-",
       "rules:1: bad port or port range in port=: '80-' (expected N or LO-HI, 0-65535, LO not "
       "above HI)"},
      {"allow port=+80",
       "rules:1: bad port or port range in port=: '+80' (expected N or LO-HI, 0-65535, LO not "
       "above HI)"},
      {"allow cmd=CONNECT",
       "rules:1: unknown command in cmd=: 'CONNECT' (expected connect, bind, udp, resolve or "
       "resolve_ptr)"},
      {"allow cmd=associate",
       "rules:1: unknown command in cmd=: 'associate' (expected connect, bind, udp, resolve or "
       "resolve_ptr)"},
      {"allow cmd=RESOLVE",
       "rules:1: unknown command in cmd=: 'RESOLVE' (expected connect, bind, udp, resolve or "
       "resolve_ptr)"},
      {"allow cmd=resolve-ptr",
       "rules:1: unknown command in cmd=: 'resolve-ptr' (expected connect, bind, udp, resolve or "
       "resolve_ptr)"},
      {"allow egress=1.2.3.4,5.6.7.8",
       "rules:1: egress= has two IPv4 addresses (at most one per address family)"},
      {"allow egress=1.2.3.4,::ffff:5.6.7.8",
       "rules:1: egress= has two IPv4 addresses (at most one per address family)"},
      {"allow egress=2001:db8::1,1.2.3.4,2001:db8::2",
       "rules:1: egress= has two IPv6 addresses (at most one per address family)"},
      {"allow egress=10.0.0.0/8", "rules:1: bad IP address in egress=: '10.0.0.0/8'"},
      {"allow egress=host.example", "rules:1: bad IP address in egress=: 'host.example'"},
      {"allow egress=0.0.0.0", "rules:1: egress= must be a unicast address, not '0.0.0.0'"},
      {"allow egress=::", "rules:1: egress= must be a unicast address, not '::'"},
      {"deny egress=1.2.3.4", "rules:1: egress= is only allowed on allow rules"},
      {"deny rate=1M", "rules:1: rate= is only allowed on allow rules"},
      {"allow rate=0", "rules:1: rate= must be above 0"},
      {"allow rate=0K", "rules:1: rate= must be above 0"},
      {"allow rate=1T",
       "rules:1: bad rate in rate=: '1T' (expected bytes per second: N, NK, NM or NG)"},
      {"allow rate=K",
       "rules:1: bad rate in rate=: 'K' (expected bytes per second: N, NK, NM or NG)"},
      {"allow rate=1.5M",
       "rules:1: bad rate in rate=: '1.5M' (expected bytes per second: N, NK, NM or NG)"},
      {"allow rate=-1",
       "rules:1: bad rate in rate=: '-1' (expected bytes per second: N, NK, NM or NG)"},
      {"allow rate=18446744073709551616",
       "rules:1: bad rate in rate=: '18446744073709551616' (expected bytes per second: N, NK, NM "
       "or NG)"},
      {"allow rate=18446744073709552G",
       "rules:1: bad rate in rate=: '18446744073709552G' (expected bytes per second: N, NK, NM "
       "or NG)"},
      {"allow rate=1M,2M", "rules:1: rate= takes one value"},
      {"allow\r\ndeny\r\nallow to=a..b\r\n", "rules:3: bad host name in to=: 'a..b'"},
      {"allow to=\x1b[31m", "rules:1: bad host name in to=: '\\x1b[31m'"},  // escaped
  };
  for (const Case& c : cases) {
    auto set = ParseRules(c.text, "rules");
    ASSERT_FALSE(set.ok()) << c.text;
    EXPECT_EQ(std::string(set.status().message()), c.error) << c.text;
  }
  auto long_user = ParseRules("allow user=" + std::string(256, 'u'), "f");
  ASSERT_FALSE(long_user.ok());
  EXPECT_EQ(long_user.status().message(), "f:1: a user name in user= is longer than 255 bytes");
  EXPECT_TRUE(ParseRules("allow user=" + std::string(255, 'u'), "f").ok());
}

TEST(ParseRulesTest, FieldsOfEveryKey) {
  RuleSet set = MustParse(
      "\xEF\xBB\xBF# team proxy\n"
      "deny  to=169.254.0.0/16,fd00::/8   # link-local, ULA\n"
      "\n"
      "allow user=alice,*,- to=.Example.COM.,Host.Test.,10.1.2.3,::ffff:10.9.0.0/112 "
      "port=80,443,8000-8999 cmd=connect,udp egress=198.51.100.7,2001:db8::7 rate=2M\n"
      "\tallow\tfrom=10.0.0.0/8,::1 rate=7\r\n"
      "allow rate=3k\n"
      "allow rate=4G\n"
      "deny\n");
  ASSERT_EQ(set.size(), 6u);
  const Rule& deny = set.rules()[0];
  EXPECT_FALSE(deny.allow);
  EXPECT_EQ(deny.source, "rules:2");
  ASSERT_EQ(deny.to_addresses.size(), 2u);
  EXPECT_EQ(deny.to_addresses[0].length, 16);
  EXPECT_EQ(deny.to_addresses[1].length, 8);
  EXPECT_TRUE(deny.has_to);
  EXPECT_FALSE(deny.has_user);

  const Rule& alice = set.rules()[1];
  EXPECT_TRUE(alice.allow);
  EXPECT_EQ(alice.source, "rules:4");
  EXPECT_EQ(alice.users, std::vector<std::string>{"alice"});
  EXPECT_TRUE(alice.any_user);
  EXPECT_TRUE(alice.unauthenticated);
  EXPECT_EQ(alice.to_suffixes, std::vector<std::string>{"example.com"});
  EXPECT_EQ(alice.to_hosts, std::vector<std::string>{"host.test"});
  ASSERT_EQ(alice.to_addresses.size(), 2u);
  EXPECT_EQ(alice.to_addresses[0].network, Ip("10.1.2.3"));
  EXPECT_EQ(alice.to_addresses[0].length, 32);
  EXPECT_EQ(alice.to_addresses[1].network, Ip("10.9.0.0"));  // mapped /112 = IPv4 /16
  EXPECT_EQ(alice.to_addresses[1].length, 16);
  ASSERT_EQ(alice.ports.size(), 3u);
  EXPECT_EQ(alice.ports[2].low, 8000);
  EXPECT_EQ(alice.ports[2].high, 8999);
  EXPECT_EQ(alice.commands, static_cast<std::uint8_t>(Command::kConnect) |
                                static_cast<std::uint8_t>(Command::kUdp));
  EXPECT_EQ(alice.egress_v4, Ip("198.51.100.7"));
  EXPECT_EQ(alice.egress_v6, Ip("2001:db8::7"));
  EXPECT_EQ(alice.rate, 2'000'000u);

  const Rule& office = set.rules()[2];
  EXPECT_EQ(office.source, "rules:5");
  ASSERT_EQ(office.from.size(), 2u);
  EXPECT_EQ(office.from[1].length, 128);
  EXPECT_EQ(office.rate, 7u);
  EXPECT_FALSE(office.egress_v4.has_value());
  EXPECT_EQ(set.rules()[3].rate, 3'000u);
  EXPECT_EQ(set.rules()[4].rate, 4'000'000'000u);
  EXPECT_FALSE(set.rules()[5].allow);
  EXPECT_EQ(set.rules()[5].source, "rules:8");
}

TEST(ParseRulesTest, EmptyFileDeniesEverything) {
  RuleSet set = MustParse("# nothing yet\n\n   \n");
  EXPECT_EQ(set.size(), 0u);
  Query q{Ip("127.0.0.1"), std::nullopt, Command::kConnect, std::nullopt, Ip("127.0.0.1"), 80};
  Decision d = set.Decide(q);
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(d.source(), "default");
}

TEST(LoadRulesTest, NamesThePath) {
  const std::string path = testing::TempDir() + "/rules_test_rules";
  {
    std::ofstream out(path);
    out << "allow\nallow port=99999\n";
  }
  auto set = LoadRules(path);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message(),
            path +
                ":2: bad port or port range in port=: '99999' (expected N or LO-HI, 0-65535, "
                "LO not above HI)");
  {
    std::ofstream out(path);
    out << "allow user=*\n";
  }
  set = LoadRules(path);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->rules()[0].source, path + ":1");
  auto missing = LoadRules(path + ".missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "--rules_file: cannot read '" + path + ".missing'");
}

// One table: the rule that decides each query ("default" = the implicit deny).
TEST(RuleSetTest, DecideTable) {
  RuleSet set = MustParse(
      "deny  to=169.254.0.0/16,fd00::/8,127.0.0.0/8\n"               // 1
      "allow user=alice to=.example.com port=80,443 cmd=connect\n"   // 2
      "allow from=10.0.0.0/8 cmd=connect,udp egress=198.51.100.7\n"  // 3
      "deny  cmd=bind\n"                                             // 4
      "allow user=bob to=host.test,2001:db8::/32 port=1000-2000\n"   // 5
      "allow user=- from=192.0.2.0/24 to=192.0.2.0/24\n"             // 6
      "deny  to=evil.test\n"                                         // 7
      "allow user=*\n");                                             // 8
  struct Case {
    const char* client;
    std::optional<absl::string_view> user;
    Command command;
    std::optional<absl::string_view> name;
    const char* address;  // "" = none
    std::uint16_t port;
    bool allow;
    const char* rule;
  };
  const std::optional<absl::string_view> none;
  const Case cases[] = {
      // Rule 1 first: no name reaches a denied address, whoever asks.
      {"10.1.1.1", "alice", Command::kConnect, "www.example.com", "127.0.0.1", 80, false,
       "rules:1"},
      {"10.1.1.1", "alice", Command::kConnect, none, "::ffff:127.0.0.1", 80, false, "rules:1"},
      {"10.1.1.1", "alice", Command::kConnect, none, "169.254.169.254", 80, false, "rules:1"},
      {"10.1.1.1", "alice", Command::kConnect, none, "fd12::1", 80, false, "rules:1"},
      {"10.1.1.1", "alice", Command::kUdp, none, "127.0.0.53", 53, false, "rules:1"},
      // Rule 2: alice to the domain and its subdomains, any address, ports 80/443, connect only.
      {"203.0.113.1", "alice", Command::kConnect, "example.com", "93.184.216.34", 443, true,
       "rules:2"},
      {"203.0.113.1", "alice", Command::kConnect, "WWW.Example.COM.", "93.184.216.34", 80, true,
       "rules:2"},
      {"203.0.113.1", "alice", Command::kConnect, "a.b.example.com", "2001:4860::1", 80, true,
       "rules:2"},
      {"203.0.113.1", "alice", Command::kConnect, "badexample.com", "93.184.216.34", 80, true,
       "rules:8"},  // not a subdomain: falls to user=*
      {"203.0.113.1", "alice", Command::kConnect, "example.com.evil", "93.184.216.34", 80, true,
       "rules:8"},
      {"203.0.113.1", "alice", Command::kConnect, "example.com", "93.184.216.34", 8080, true,
       "rules:8"},  // port
      {"203.0.113.1", "alice", Command::kUdp, "example.com", "93.184.216.34", 80, true,
       "rules:8"},  // cmd
      {"203.0.113.1", "alicia", Command::kConnect, "example.com", "93.184.216.34", 80, true,
       "rules:8"},  // user
      {"203.0.113.1", none, Command::kConnect, "example.com", "93.184.216.34", 80, false,
       "default"},  // unauthenticated: nothing allows
      // Rule 3: from= by CIDR (mapped client matched as IPv4), connect and udp only.
      {"10.200.0.1", none, Command::kConnect, none, "93.184.216.34", 80, true, "rules:3"},
      {"::ffff:10.200.0.1", none, Command::kUdp, none, "93.184.216.34", 53, true, "rules:3"},
      {"10.200.0.1", none, Command::kBind, none, "93.184.216.34", 80, false, "rules:4"},
      {"11.0.0.1", none, Command::kConnect, none, "93.184.216.34", 80, false, "default"},
      // Rule 4: bind denied for everyone not matched before.
      {"203.0.113.1", "carol", Command::kBind, none, "93.184.216.34", 0, false, "rules:4"},
      // Rule 5: exact host (not subdomains), an IPv6 prefix, a port range.
      {"203.0.113.1", "bob", Command::kConnect, "HOST.test", "198.51.100.1", 1500, true, "rules:5"},
      {"203.0.113.1", "bob", Command::kConnect, "www.host.test", "198.51.100.1", 1500, true,
       "rules:8"},
      {"203.0.113.1", "bob", Command::kConnect, none, "2001:db8::5", 1000, true, "rules:5"},
      {"203.0.113.1", "bob", Command::kConnect, none, "2001:db8::5", 2001, true, "rules:8"},
      // Rule 6: unauthenticated only, by client and target CIDR.
      {"192.0.2.9", none, Command::kUdp, none, "192.0.2.10", 9, true, "rules:6"},
      {"192.0.2.9", "dave", Command::kUdp, none, "192.0.2.10", 9, true, "rules:8"},
      {"192.0.2.9", none, Command::kUdp, none, "192.0.3.10", 9, false, "default"},
      // Rule 7: a name pattern decides with the address, in one order.
      {"203.0.113.1", "erin", Command::kConnect, "evil.test", "93.184.216.34", 80, false,
       "rules:7"},
      {"203.0.113.1", "erin", Command::kConnect, "Evil.Test..", "93.184.216.34", 80, false,
       "rules:7"},
      {"203.0.113.1", "erin", Command::kConnect, "www.evil.test", "93.184.216.34", 80, true,
       "rules:8"},
      // Rule 8: any authenticated user; without it, the implicit deny.
      {"203.0.113.1", "", Command::kConnect, none, "93.184.216.34", 80, true, "rules:8"},
      {"203.0.113.1", none, Command::kUdp, none, "93.184.216.34", 80, false, "default"},
  };
  for (const Case& c : cases) {
    Query q;
    q.client = Ip(c.client);
    q.user = c.user;
    q.command = c.command;
    q.name = c.name;
    if (c.address[0] != '\0') q.address = Ip(c.address);
    q.port = c.port;
    Decision d = set.Decide(q);
    EXPECT_EQ(d.allow, c.allow) << c.client << " " << c.user.value_or("-") << " "
                                << CommandName(c.command) << " " << c.name.value_or("") << " "
                                << c.address << ":" << c.port;
    EXPECT_EQ(d.source(), c.rule) << c.client << " " << c.user.value_or("-") << " "
                                  << CommandName(c.command) << " " << c.name.value_or("") << " "
                                  << c.address << ":" << c.port;
  }
  // The decision carries the allowing rule's options.
  Query q{Ip("10.0.0.1"), std::nullopt, Command::kConnect, std::nullopt, Ip("93.184.216.34"), 80};
  Decision d = set.Decide(q);
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->egress_v4, Ip("198.51.100.7"));
}

TEST(RuleSetTest, FirstMatchWins) {
  struct Case {
    const char* rules;
    bool allow;
    const char* rule;
  };
  const Case cases[] = {
      {"allow\ndeny", true, "rules:1"},
      {"deny\nallow", false, "rules:1"},
      {"allow port=81\ndeny port=80\nallow", false, "rules:2"},
      {"allow to=a.test\nallow to=10.0.0.0/8", true, "rules:1"},  // the name decides first
      {"deny to=10.0.0.0/8\nallow to=a.test", false, "rules:1"},  // the address decides first
      {"allow to=b.test\ndeny to=.test\nallow", false, "rules:2"},
      {"allow cmd=udp\nallow cmd=bind", false, "default"},
  };
  Query q{Ip("127.0.0.1"), "u", Command::kConnect, "a.test", Ip("10.0.0.1"), 80};
  for (const Case& c : cases) {
    RuleSet set = MustParse(c.rules);
    Decision d = set.Decide(q);
    EXPECT_EQ(d.allow, c.allow) << c.rules;
    EXPECT_EQ(d.source(), c.rule) << c.rules;
  }
}

// cmd=resolve (F0) and cmd=resolve_ptr (F1): their own bits; a rule without cmd= covers them.
TEST(RuleSetTest, ResolveCommands) {
  struct Case {
    const char* rules;
    Command command;
    bool allow;
    const char* rule;
  };
  const Case cases[] = {
      {"allow cmd=resolve", Command::kResolve, true, "rules:1"},
      {"allow cmd=resolve", Command::kResolvePtr, false, "default"},
      {"allow cmd=resolve", Command::kConnect, false, "default"},
      {"allow cmd=resolve_ptr", Command::kResolvePtr, true, "rules:1"},
      {"allow cmd=resolve_ptr", Command::kResolve, false, "default"},
      {"allow cmd=connect", Command::kResolve, false, "default"},
      {"allow cmd=connect,resolve,resolve_ptr", Command::kResolvePtr, true, "rules:1"},
      {"allow", Command::kResolve, true, "rules:1"},  // no cmd=: every command
      {"allow", Command::kResolvePtr, true, "rules:1"},
      {"deny cmd=resolve\nallow", Command::kResolve, false, "rules:1"},
      {"deny cmd=resolve\nallow", Command::kResolvePtr, true, "rules:2"},
      {"deny to=.internal.test\nallow", Command::kResolve, false, "rules:1"},  // by the name
      {"deny to=10.0.0.0/8\nallow", Command::kResolvePtr, false, "rules:1"},   // by the address
  };
  for (const Case& c : cases) {
    RuleSet set = MustParse(c.rules);
    Query q{Ip("127.0.0.1"), std::nullopt, c.command, std::nullopt, Ip("10.0.0.1"), 0};
    if (c.command == Command::kResolve) q.name = "db.internal.test";
    Decision d = set.Decide(q);
    EXPECT_EQ(d.allow, c.allow) << c.rules << " " << CommandName(c.command);
    EXPECT_EQ(d.source(), c.rule) << c.rules << " " << CommandName(c.command);
  }
  EXPECT_STREQ(CommandName(Command::kResolve), "resolve");
  EXPECT_STREQ(CommandName(Command::kResolvePtr), "resolve_ptr");
  // Before the lookup: a name a resolve rule could allow passes, one no rule allows does not.
  RuleSet set = MustParse("allow cmd=resolve to=.test\nallow cmd=connect");
  Query q{Ip("127.0.0.1"), std::nullopt, Command::kResolve, "a.test", std::nullopt, 0};
  EXPECT_TRUE(set.CouldAllow(q).allow);
  q.name = "a.example";
  EXPECT_FALSE(set.CouldAllow(q).allow);
}

// Before resolving: refuse a name no rule could allow; let through one that some address may.
TEST(RuleSetTest, CouldAllowTable) {
  struct Case {
    const char* rules;
    const char* name;
    bool allow;
    const char* rule;
  };
  const Case cases[] = {
      {"allow to=.example.test", "www.example.test", true, "rules:1"},
      {"allow to=.example.test", "www.other.test", false, "default"},
      {"deny to=127.0.0.0/8\nallow to=.example.test", "a.example.test", true, "rules:2"},
      {"deny to=.example.test\nallow", "a.example.test", false, "rules:1"},
      {"deny port=80\nallow", "a.test", false, "rules:1"},
      {"deny port=81\nallow", "a.test", true, "rules:2"},
      {"allow to=10.0.0.0/8\ndeny", "a.test", true, "rules:1"},  // may resolve into 10/8
      {"deny to=10.0.0.0/8", "a.test", false, "default"},
      {"deny to=10.0.0.0/8\ndeny", "a.test", false, "rules:2"},
      {"allow user=bob", "a.test", false, "default"},
      {"allow cmd=udp\nallow cmd=connect to=A.TEST", "a.test.", true, "rules:2"},
      {"", "a.test", false, "default"},
  };
  Query q{Ip("127.0.0.1"), "alice", Command::kConnect, "", std::nullopt, 80};
  for (const Case& c : cases) {
    RuleSet set = MustParse(c.rules);
    q.name = c.name;
    Decision d = set.CouldAllow(q);
    EXPECT_EQ(d.allow, c.allow) << c.rules << " / " << c.name;
    EXPECT_EQ(d.source(), c.rule) << c.rules << " / " << c.name;
    // Whatever CouldAllow refuses, Decide refuses for every address.
    if (!c.allow) {
      for (const char* a : {"127.0.0.1", "10.0.0.1", "93.184.216.34", "::1"}) {
        Query full = q;
        full.address = Ip(a);
        EXPECT_FALSE(set.Decide(full).allow) << c.rules << " / " << c.name << " / " << a;
      }
    }
  }
}

TEST(RuleSetTest, DecideAnyTargetTable) {
  struct Case {
    const char* rules;
    std::optional<absl::string_view> user;
    Command command;
    bool allow;
    const char* rule;
  };
  const std::optional<absl::string_view> none;
  const Command udp = Command::kUdp;
  const Case cases[] = {
      {"allow cmd=udp", none, udp, true, "rules:1"},
      {"allow cmd=connect", none, udp, false, "default"},
      {"deny to=127.0.0.0/8\nallow cmd=udp", none, udp, true, "rules:2"},  // datagrams decide
      {"deny port=53\nallow cmd=udp", none, udp, true, "rules:2"},
      {"allow user=alice cmd=udp to=.example.test", "alice", udp, true, "rules:1"},
      {"allow user=alice cmd=udp to=.example.test", "bob", udp, false, "default"},
      {"allow user=alice cmd=udp port=53", none, udp, false, "default"},
      {"allow user=alice cmd=udp port=53", "alice", udp, true, "rules:1"},
      {"deny user=- cmd=udp\nallow", none, udp, false, "rules:1"},
      {"deny from=127.0.0.0/8\nallow", "alice", udp, false, "rules:1"},
      {"deny from=10.0.0.0/8\nallow", "alice", udp, true, "rules:2"},
      {"allow cmd=udp", none, Command::kBind, false, "default"},
      {"deny cmd=bind\nallow", none, Command::kBind, false, "rules:1"},
      {"deny cmd=bind\nallow", none, udp, true, "rules:2"},
      {"allow cmd=bind to=192.0.2.1", none, Command::kBind, true, "rules:1"},
  };
  for (const Case& c : cases) {
    RuleSet set = MustParse(c.rules);
    Decision d = set.DecideAnyTarget(Ip("127.0.0.1"), c.user, c.command);
    EXPECT_EQ(d.allow, c.allow) << c.rules << " / " << CommandName(c.command);
    EXPECT_EQ(d.source(), c.rule) << c.rules << " / " << CommandName(c.command);
  }
}

}  // namespace
}  // namespace socks5::policy
