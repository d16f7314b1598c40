#include "session/auth_cache.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace socks5::session {
namespace {

std::string Hex(const Sha256Digest& digest) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

TEST(Sha256Test, FipsVectors) {
  EXPECT_EQ(Hex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the padding spills into a second block.
  EXPECT_EQ(Hex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Hex(Sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(HmacSha256Test, Rfc4231Vectors) {
  struct Case {
    std::string key;
    std::string data;
    const char* mac;
  } cases[] = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      // A key longer than the block is hashed first.
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
  };
  for (const Case& c : cases) EXPECT_EQ(Hex(HmacSha256(c.key, c.data)), c.mac) << c.data;
}

TEST(AuthCacheTest, KeysNeverHoldThePassword) {
  AuthCache cache(4, absl::Minutes(5), "fixed key");
  const std::string key = cache.KeyFor(7, "alice", "hunter2-long-secret");
  EXPECT_EQ(key.size(), 40u);
  EXPECT_EQ(key.find("hunter2"), std::string::npos);
  EXPECT_EQ(key, cache.KeyFor(7, "alice", "hunter2-long-secret"));
  // Every part of the key matters, and the split between user and password too.
  EXPECT_NE(key, cache.KeyFor(8, "alice", "hunter2-long-secret"));
  EXPECT_NE(key, cache.KeyFor(7, "alic", "ehunter2-long-secret"));
  EXPECT_NE(key, cache.KeyFor(7, "alice", "hunter2-long-secreT"));
  AuthCache other(4, absl::Minutes(5), "another key");
  EXPECT_NE(key, other.KeyFor(7, "alice", "hunter2-long-secret"));
  // The server's caches draw their own random keys.
  AuthCache random1(4, absl::Minutes(5));
  AuthCache random2(4, absl::Minutes(5));
  EXPECT_NE(random1.KeyFor(7, "alice", "pw"), random2.KeyFor(7, "alice", "pw"));
}

TEST(AuthCacheTest, Table) {
  // Each step: an operation at a time (seconds) and what Contains answers.
  enum Op { kInsert, kContains };
  struct Step {
    Op op;
    const char* user;
    int at;
    bool expect = false;
  };
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  struct Scenario {
    const char* name;
    std::size_t capacity;
    std::vector<Step> steps;
  } scenarios[] = {
      {"hit then expiry after the ttl (60s), not extended by hits",
       4,
       {{kContains, "a", 0, false},
        {kInsert, "a", 0},
        {kContains, "a", 1, true},
        {kContains, "a", 59, true},
        {kContains, "a", 60, false},
        {kContains, "a", 61, false}}},
      {"a second success restarts the ttl",
       4,
       {{kInsert, "a", 0},
        {kInsert, "a", 50},
        {kContains, "a", 100, true},
        {kContains, "a", 110, false}}},
      {"full: the least recently used goes",
       2,
       {{kInsert, "a", 0},
        {kInsert, "b", 1},
        {kContains, "a", 2, true},  // a is now the most recent
        {kInsert, "c", 3},          // evicts b
        {kContains, "b", 4, false},
        {kContains, "a", 4, true},
        {kContains, "c", 4, true}}},
      {"capacity 0 caches nothing", 0, {{kInsert, "a", 0}, {kContains, "a", 0, false}}},
  };
  for (const Scenario& s : scenarios) {
    AuthCache cache(s.capacity, absl::Seconds(60), "k");
    for (const Step& step : s.steps) {
      const std::string key = cache.KeyFor(1, step.user, "pw");
      const absl::Time now = t0 + absl::Seconds(step.at);
      if (step.op == kInsert) {
        cache.Insert(key, now);
      } else {
        EXPECT_EQ(cache.Contains(key, now), step.expect)
            << s.name << ": " << step.user << " at " << step.at;
      }
      EXPECT_LE(cache.size(), s.capacity) << s.name;
    }
  }
}

}  // namespace
}  // namespace socks5::session
