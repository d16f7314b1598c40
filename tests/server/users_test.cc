#include "server/users.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace socks5::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(UsersTest, ParsesLinesCommentsAndColonsInPasswords) {
  auto users = Users::Parse("# comment\n\nalice:secret\r\nbob:pa:ss:word\n");
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_EQ(users->size(), 2u);
  EXPECT_TRUE(users->Check("alice", "secret"));
  EXPECT_TRUE(users->Check("bob", "pa:ss:word"));
  EXPECT_FALSE(users->Check("alice", "secret\r"));
  EXPECT_FALSE(users->Check("alice", "Secret"));
  EXPECT_FALSE(users->Check("alice", "secre"));
  EXPECT_FALSE(users->Check("alice", "secrets"));
  EXPECT_FALSE(users->Check("carol", "secret"));
  EXPECT_FALSE(users->Check("", ""));
}

TEST(UsersTest, LongestNamesAndPasswords) {
  std::string user(255, 'u');
  std::string password(255, 'p');
  auto users = Users::Parse(user + ":" + password + "\n");
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_TRUE(users->Check(user, password));
  EXPECT_FALSE(users->Check(user, std::string(254, 'p')));
  EXPECT_FALSE(Users::Parse(std::string(256, 'u') + ":x\n").ok());
  EXPECT_FALSE(Users::Parse("u:" + std::string(256, 'p') + "\n").ok());
}

TEST(UsersTest, ErrorsNameTheLineButNeverThePassword) {
  struct Case {
    const char* contents;
    const char* message;
  } cases[] = {
      {"alice:one\nbroken-line-hunter2\n", "users:2: expected user:password"},
      {":hunter2\n", "users:1: the user name"},
      {"alice:\n", "users:1: the password"},
      {"alice:hunter2\nalice:hunter2\n", "users:2: user 'alice' appears twice"},
      {"alice:hunter2\n carol:hunter2\n", "users:2: a space or tab"},
      {"alice:hunter2\ncarol :hunter2\n", "users:2: a space or tab"},
      {"alice:hunter2\n\tcarol:hunter2\n", "users:2: a space or tab"},
      {"alice:hunter2\ncarol\t:hunter2\r\n", "users:2: a space or tab"},
      {"\xEF\xBB\xBF carol:hunter2\n", "users:1: a space or tab"},
      {"# only a comment\n", "users: no users"},
      {"\xEF\xBB\xBF", "users: no users"},
  };
  for (const Case& c : cases) {
    auto users = Users::Parse(c.contents, "users");
    ASSERT_FALSE(users.ok()) << c.contents;
    EXPECT_THAT(std::string(users.status().message()), HasSubstr(c.message));
    EXPECT_THAT(std::string(users.status().message()), Not(HasSubstr("hunter2")));
  }
}

TEST(UsersTest, Utf8ByteOrderMarkIsSkippedOnlyAtTheStart) {
  auto users = Users::Parse(
      "\xEF\xBB\xBF"
      "alice:secret\nbob:pw\n");
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_TRUE(users->Check("alice", "secret"));
  EXPECT_TRUE(users->Contains("alice"));
  EXPECT_FALSE(
      users->Contains("\xEF\xBB\xBF"
                      "alice"));
  // Elsewhere the bytes are part of a name like any other.
  users = Users::Parse(
      "alice:secret\n\xEF\xBB\xBF"
      "bob:pw\n");
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_TRUE(
      users->Check("\xEF\xBB\xBF"
                   "bob",
                   "pw"));
}

TEST(UsersTest, BlanksInsideANameOrAroundAPasswordAreKept) {
  auto users = Users::Parse("alice smith: secret \n");
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_TRUE(users->Check("alice smith", " secret "));
  EXPECT_FALSE(users->Check("alice smith", "secret"));
}

TEST(UsersTest, ContainsSaysWhetherANameIsAUser) {
  auto users = Users::Parse("alice:secret\n");
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_TRUE(users->Contains("alice"));
  EXPECT_FALSE(users->Contains("secret"));
  EXPECT_FALSE(users->Contains("alic"));
  EXPECT_FALSE(users->Contains(""));
}

TEST(UsersTest, ReadableByOthersTable) {
  struct Case {
    unsigned mode;
    const char* text;
  } cases[] = {
      {0100600, ""},
      {0100400, ""},
      {0100700, ""},
      {0100640, "group-readable"},
      {0100620, ""},  // writable by the group, not readable: not this warning
      {0100604, "world-readable"},
      {0100644, "group- and world-readable"},
      {0100444, "group- and world-readable"},
      {0100077, "group- and world-readable"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ReadableByOthers(c.mode), c.text) << std::oct << c.mode;
  }
}

TEST(UsersTest, LoadReportsMissingFile) {
  auto users = Users::Load("/nonexistent/users");
  ASSERT_FALSE(users.ok());
  EXPECT_THAT(std::string(users.status().message()), HasSubstr("/nonexistent/users"));
}

TEST(ConstantTimeEqualsTest, Table) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  // Zero padding must not make a shorter string equal to one ending in NULs.
  EXPECT_FALSE(ConstantTimeEquals(std::string("ab\0", 3), "ab"));
}

// Hashes of "hunter2" at low cost (crypt_gensalt_rn counts 1, 4, 1000), so the tests run fast.
constexpr char kYescrypt[] =
    "$y$j75$gI/Jig35DZwBYLVqIz9Vn.$gdxAJxROJHmcu7/TAz2/kBIBTCFqAMV8VpZVdoZUPF3";
constexpr char kBcrypt[] = "$2b$04$oCvGYicTKVSyY5Bd1Xcz1.JJYqRYw6Ec5/h5WsK/evF9FPVfGp7vq";
constexpr char kBcrypt2y[] = "$2y$04$lgfdZeQouFWg4NMfmoOlUeMa0EXCZwHSzPhCkj/dHTnthGN5d/GY.";
constexpr char kSha512[] =
    "$6$rounds=1000$M9/6WTMK94TdckwB$IC4Jo6GK8DNexZBut3aH.rhrkYAIwRrU0W96Af3w1WMgqT8.ZhhDFNvwqUvy0f"
    "Ua2th0t8TwxcVkcgGcoDLzn0";
constexpr char kSha512Default[] =
    "$6$bf9.DPgtumYylHBF$"
    "8US1wNTzEWDwxTmUDqoJfLzP9HV56k4tFIEO9jpGfR7hINzgxab6WJ8l4Xj5GWy8tEO7F3mmjD8"
    "SyzhG2HAeK/";

TEST(ClassifySecretTest, Table) {
  struct Case {
    std::string secret;
    bool ok;
    SecretKind kind;
    std::string cost_or_error;
  } cases[] = {
      {"hunter2", true, SecretKind::kPlain, ""},
      {"hun$ter2", true, SecretKind::kPlain, ""},  // only a leading '$' makes a hash
      {"ab", true, SecretKind::kPlain, ""},  // a DES "salt" to crypt_checksalt: plaintext here
      {kYescrypt, true, SecretKind::kYescrypt, "$y$j75$"},
      {kBcrypt, true, SecretKind::kBcrypt, "$2b$04$"},
      {kBcrypt2y, true, SecretKind::kBcrypt, "$2y$04$"},
      {kSha512, true, SecretKind::kSha512crypt, "$6$rounds=1000$"},
      {kSha512Default, true, SecretKind::kSha512crypt, "$6$"},
      {"$ecret", false, SecretKind::kPlain, "--hash_password"},
      {"$", false, SecretKind::kPlain, "not a crypt(3) hash"},
      {"$1$VJUnEaG5$er9ZHwDvKZxbj4rWK/mXe1", false, SecretKind::kPlain, "legacy"},
      {"$5$TBE8sClReSQsoOKi$UMul41MLpZjGCyY6AqjGfRVmY6.FA6BCE91gUPdvL94", false, SecretKind::kPlain,
       "legacy"},
      {"$gy$j9T$wg9br5rKz9SkIH2dt1tvU.$.eVwh476hWup7hziKSV/rjdFqrgCEIDTYUu6fSS20wC", false,
       SecretKind::kPlain, "does not accept"},
      // Settings without their hash, truncated or altered hashes: what crypt_checksalt allows.
      {"$y$", false, SecretKind::kPlain, "malformed yescrypt"},
      {"$y$j9T$", false, SecretKind::kPlain, "malformed yescrypt"},
      {"$y$j75$gI/Jig35DZwBYLVqIz9Vn.$", false, SecretKind::kPlain, "malformed yescrypt"},
      {std::string(kYescrypt).substr(0, 72), false, SecretKind::kPlain, "malformed yescrypt"},
      {std::string(kYescrypt) + "x", false, SecretKind::kPlain, "malformed yescrypt"},
      // crypt_checksalt itself refuses a byte outside crypt(3)'s alphabet.
      {"$y$j75$gI/Jig35DZwBYLVqIz9Vn.$gdxAJxROJHmcu7/TAz2/kBIBTCFqAMV8VpZVdoZUPF!", false,
       SecretKind::kPlain, "not a crypt(3) hash"},
      {"$2b$04$abc", false, SecretKind::kPlain, "malformed bcrypt"},
      {"$2b$99$oCvGYicTKVSyY5Bd1Xcz1.JJYqRYw6Ec5/h5WsK/evF9FPVfGp7vq", false, SecretKind::kPlain,
       "malformed bcrypt"},
      {"$2b$03$oCvGYicTKVSyY5Bd1Xcz1.JJYqRYw6Ec5/h5WsK/evF9FPVfGp7vq", false, SecretKind::kPlain,
       "malformed bcrypt"},
      {"$6$x", false, SecretKind::kPlain, "malformed sha512crypt"},
      {"$6$abc$tooshort", false, SecretKind::kPlain, "malformed sha512crypt"},
      {std::string("$6$rounds=01000$") + std::string(kSha512).substr(15), false, SecretKind::kPlain,
       "malformed sha512crypt"},
      {std::string("$6$rounds=$") + std::string(kSha512).substr(15), false, SecretKind::kPlain,
       "malformed sha512crypt"},
      {std::string("$y$j75\0$", 8), false, SecretKind::kPlain, "NUL"},
  };
  for (const Case& c : cases) {
    std::string cost;
    auto kind = ClassifySecret(c.secret, &cost);
    ASSERT_EQ(kind.ok(), c.ok) << c.secret << ": " << kind.status();
    if (c.ok) {
      EXPECT_EQ(*kind, c.kind) << c.secret;
      EXPECT_EQ(cost, c.cost_or_error) << c.secret;
    } else {
      EXPECT_THAT(std::string(kind.status().message()), HasSubstr(c.cost_or_error)) << c.secret;
    }
  }
}

TEST(UsersTest, MixedFileOfEveryKind) {
  auto users = Users::Parse(
      absl::StrCat("yes:", kYescrypt, "\nbf:", kBcrypt, "\nsha:", kSha512, "\nplain:hunter2\n"));
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_EQ(users->size(), 4u);
  EXPECT_EQ(users->hashed(), 3u);
  EXPECT_TRUE(users->slow());
  struct Case {
    const char* user;
    std::string password;
    bool ok;
  } cases[] = {
      {"yes", "hunter2", true},
      {"bf", "hunter2", true},
      {"sha", "hunter2", true},
      {"plain", "hunter2", true},
      {"yes", "hunter3", false},
      {"bf", "Hunter2", false},
      {"sha", "hunter", false},
      {"plain", "hunter22", false},
      {"yes", std::string("hunter2\0x", 9), false},  // crypt(3) would stop at the NUL
      {"bf", std::string("hunter2\0", 8), false},
      {"sha", "", false},
      {"nobody", "hunter2", false},  // an unknown user with a real user's password
      {"yes", kYescrypt, false},     // the hash itself is not the password
  };
  for (const Case& c : cases) EXPECT_EQ(users->Check(c.user, c.password), c.ok) << c.user;
}

TEST(UsersTest, PlaintextOnlyFileIsFast) {
  auto users = Users::Parse("alice:secret\n");
  ASSERT_TRUE(users.ok());
  EXPECT_FALSE(users->slow());
  EXPECT_EQ(users->hashed(), 0u);
}

TEST(UsersTest, MalformedHashesNameTheLine) {
  struct Case {
    std::string contents;
    const char* message;
  } cases[] = {
      {absl::StrCat("alice:secret\nbob:$y$j75$gI/Jig35DZwBYLVqIz9Vn.$gdxAJ\n"),
       "users:2: a malformed yescrypt hash"},
      {absl::StrCat("# hashed\nalice:", kBcrypt, "\n\ncarol:$2b$04$short\n"),
       "users:4: a malformed bcrypt hash"},
      {"alice:$6$rounds=5000$abc$def\n", "users:1: a malformed sha512crypt hash"},
      {"alice:$hunter2\n", "users:1: starts with '$'"},
      {"alice:secret\r\nbob:$1$VJUnEaG5$er9ZHwDvKZxbj4rWK/mXe1\r\n", "users:2: a legacy"},
  };
  for (const Case& c : cases) {
    auto users = Users::Parse(c.contents, "users");
    ASSERT_FALSE(users.ok()) << c.contents;
    const std::string message(users.status().message());
    EXPECT_THAT(message, HasSubstr(c.message));
    // Never the secret: not even a fragment of a hash or the plaintext.
    for (const char* secret : {"gI/Jig35", "hunter2", "VJUnEaG5", "short", "def"}) {
      EXPECT_THAT(message, Not(HasSubstr(secret))) << message;
    }
  }
}

// An unknown user, and a plaintext user of a file with hashes, cost one hash verification like a
// hashed user does: without it, an unknown name would answer thousands of times faster.
TEST(UsersTest, EveryCheckOfAFileWithHashesCostsAHash) {
  // bcrypt cost 10 (kBcrypt's text with another cost: well-formed, verifies nothing): ~60 ms, far
  // above the scheduling noise of a loaded machine.
  const std::string bcrypt10 = "$2b$10$oCvGYicTKVSyY5Bd1Xcz1.JJYqRYw6Ec5/h5WsK/evF9FPVfGp7vq";
  auto users = Users::Parse(absl::StrCat("alice:", bcrypt10, "\nplain:secret\n"));
  ASSERT_TRUE(users.ok()) << users.status();
  auto fastest = [&](const char* user, const char* password) {
    absl::Duration best = absl::InfiniteDuration();
    for (int i = 0; i < 3; ++i) {
      absl::Time start = absl::Now();
      EXPECT_FALSE(users->Check(user, password));
      best = std::min(best, absl::Now() - start);
    }
    return best;
  };
  const absl::Duration known = fastest("alice", "wrong");
  const absl::Duration unknown = fastest("mallory", "wrong");
  const absl::Duration plain = fastest("plain", "wrong");
  EXPECT_GT(unknown, known / 3) << known << " " << unknown;
  EXPECT_GT(plain, known / 3) << known << " " << plain;
  EXPECT_LT(unknown, known * 3) << known << " " << unknown;
}

TEST(UsersTest, DummyIsTheMostCommonCost) {
  // Two sha512crypt at one cost, one yescrypt: an unknown user pays a sha512crypt verification.
  // Observable only by time, so check the equivalent: the file is slow, every user verifies.
  auto users = Users::Parse(
      absl::StrCat("a:", kSha512, "\nb:", kYescrypt, "\nc:", kSha512Default, "\nd:", kSha512, "\n"),
      "users");
  // d repeats a's hash: allowed (two users, one password), and both verify.
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_TRUE(users->Check("a", "hunter2"));
  EXPECT_TRUE(users->Check("d", "hunter2"));
  EXPECT_FALSE(users->Check("e", "hunter2"));
}

TEST(HashPasswordTest, YescryptThatVerifies) {
  auto first = HashPassword("correct horse");
  auto second = HashPassword("correct horse");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(*first, *second);  // a fresh random salt each time
  auto kind = ClassifySecret(*first);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, SecretKind::kYescrypt);
  EXPECT_TRUE(VerifyHash("correct horse", *first));
  EXPECT_FALSE(VerifyHash("correct horsE", *first));
  auto users = Users::Parse(absl::StrCat("alice:", *first, "\n"));
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_TRUE(users->Check("alice", "correct horse"));
}

TEST(HashPasswordTest, RefusesWhatRfc1929CannotSend) {
  EXPECT_FALSE(HashPassword("").ok());
  EXPECT_FALSE(HashPassword(std::string(256, 'p')).ok());
  EXPECT_TRUE(HashPassword(std::string(255, 'p')).ok());
  EXPECT_FALSE(HashPassword(std::string("a\0b", 3)).ok());
}

}  // namespace
}  // namespace socks5::server
