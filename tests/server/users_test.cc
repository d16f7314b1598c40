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
      {"alice:one\nbroken-line-hunter2\n", "line 2"},
      {":hunter2\n", "user name"},
      {"alice:\n", "password"},
      {"alice:hunter2\nalice:hunter2\n", "appears twice"},
      {"# only a comment\n", "no users"},
  };
  for (const Case& c : cases) {
    auto users = Users::Parse(c.contents);
    ASSERT_FALSE(users.ok()) << c.contents;
    EXPECT_THAT(std::string(users.status().message()), HasSubstr(c.message));
    EXPECT_THAT(std::string(users.status().message()), Not(HasSubstr("hunter2")));
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
