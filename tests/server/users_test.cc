#include "server/users.h"

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

}  // namespace
}  // namespace socks5::server
