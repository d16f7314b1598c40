// LoadPolicyFiles, the one loading path of start-up, SIGHUP and --check_config: what it returns
// for good files and for each way a file can be wrong (all or nothing, FILE:LINE in the error).
#include "server/policy_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace socks5::server {
namespace {

using ::testing::HasSubstr;

class PolicyFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/policy_files_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    for (const std::string& path : written_) ::unlink(path.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& contents) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    ::chmod(path.c_str(), 0600);
    written_.push_back(path);
    return path;
  }

  std::string dir_;
  std::vector<std::string> written_;
};

TEST_F(PolicyFilesTest, NoFilesMeansNoUsersAndNoRules) {
  Config config;
  auto loaded = LoadPolicyFiles(config);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->policy.users, nullptr);  // authentication stays off
  EXPECT_EQ(loaded->policy.rules, nullptr);
  EXPECT_EQ(loaded->Summary(), "users=0 rules=0");
}

TEST_F(PolicyFilesTest, LoadsTheUsersFile) {
  Config config;
  config.users_file = Write("users", "alice:secret\nbob:hunter2\n");
  auto loaded = LoadPolicyFiles(config);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_NE(loaded->policy.users, nullptr);
  EXPECT_TRUE(loaded->policy.users->Check("bob", "hunter2"));
  EXPECT_FALSE(loaded->policy.users->Check("bob", "secret"));
  EXPECT_EQ(loaded->users, 2u);
  EXPECT_EQ(loaded->Summary(), "users=2 rules=0");
}

TEST_F(PolicyFilesTest, ErrorsNameTheFileAndLine) {
  struct Case {
    std::string contents;
    std::string expected;  // after the path
  };
  const Case cases[] = {
      {"alice:secret\nno-colon-here\n", ":2: expected user:password"},
      {"alice:secret\nalice:again\n", ":2: user 'alice' appears twice"},
      {"alice:\n", ":1: the password"},
      {"# emptied by an editor\n", ": no users in the file"},
      {"", ": no users in the file"},  // a truncated file never turns authentication off
  };
  for (const Case& c : cases) {
    Config config;
    config.users_file = Write("users", c.contents);
    auto loaded = LoadPolicyFiles(config);
    ASSERT_FALSE(loaded.ok()) << c.contents;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(config.users_file + c.expected))
        << c.contents;
    // Never a password in the error.
    EXPECT_THAT(std::string(loaded.status().message()), ::testing::Not(HasSubstr("secret")));
  }
}

TEST_F(PolicyFilesTest, AMissingUsersFileIsAnError) {
  // Deleted between two reloads: the reload fails (and the old users stay), it never means
  // "no authentication".
  Config config;
  config.users_file = dir_ + "/deleted";
  auto loaded = LoadPolicyFiles(config);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(config.users_file));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("cannot read"));
}

TEST_F(PolicyFilesTest, LoadsTheRulesFile) {
  Config config;
  config.rules_file = Write("rules", "# team\ndeny to=169.254.0.0/16\nallow user=*\n");
  auto loaded = LoadPolicyFiles(config);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_NE(loaded->policy.rules, nullptr);
  EXPECT_EQ(loaded->policy.rules->size(), 2u);
  EXPECT_EQ(loaded->policy.rules->rules()[1].source, config.rules_file + ":3");
  EXPECT_EQ(loaded->policy.users, nullptr);
  EXPECT_EQ(loaded->Summary(), "users=0 rules=2");
}

TEST_F(PolicyFilesTest, RulesErrorsNameTheFileAndLine) {
  struct Case {
    std::string contents;
    std::string expected;  // after the path
  };
  const Case cases[] = {
      {"allow user=*\nallow colour=blue\n", ":2: unknown key"},
      {"deny cmd=bind\nallow cmd=teleport\n", ":2: unknown command in cmd="},
      {"# only comments\n\n", ": no rules in the file"},
      {"", ": no rules in the file"},  // truncated: not "refuse everyone"
  };
  for (const Case& c : cases) {
    Config config;
    config.rules_file = Write("rules", c.contents);
    auto loaded = LoadPolicyFiles(config);
    ASSERT_FALSE(loaded.ok()) << c.contents;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(config.rules_file + c.expected))
        << c.contents;
  }
  Config missing;
  missing.rules_file = dir_ + "/deleted";
  auto loaded = LoadPolicyFiles(missing);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("cannot read"));
}

TEST_F(PolicyFilesTest, AllOrNothing) {
  // Good users with bad rules (and the reverse): an error, no users or rules to half-apply.
  Config config;
  config.users_file = Write("users", "alice:secret\n");
  config.rules_file = Write("rules", "allow user=*\nbogus\n");
  auto loaded = LoadPolicyFiles(config);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(config.rules_file + ":2: "));

  config.users_file = Write("users", "alice\n");
  config.rules_file = Write("rules", "allow user=*\n");
  loaded = LoadPolicyFiles(config);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(config.users_file + ":1: "));

  config.users_file = Write("users", "alice:secret\n");
  loaded = LoadPolicyFiles(config);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->Summary(), "users=1 rules=1");
}

}  // namespace
}  // namespace socks5::server
