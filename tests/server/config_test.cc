#include "server/config.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/parse.h"

namespace socks5::server {
namespace {

using net::ParseCidr;
using net::ParseHostPort;
using ::testing::HasSubstr;

TEST(ConfigTest, IsDenied) {
  Config config;
  config.deny_destinations.push_back(*ParseCidr("127.0.0.2/32"));
  EXPECT_TRUE(config.IsDenied(asio::ip::make_address("127.0.0.2")));
  EXPECT_FALSE(config.IsDenied(asio::ip::make_address("127.0.0.1")));
}

Config LoopbackConfig() {
  Config config;
  config.listen = {*ParseHostPort("127.0.0.1:1080")};
  return config;
}

TEST(ValidateConfigTest, DefaultsAreValid) { EXPECT_TRUE(ValidateConfig(LoopbackConfig()).ok()); }

TEST(ValidateConfigTest, RefusesOpenProxyOnPublicAddress) {
  Config config = LoopbackConfig();
  config.listen.push_back(*ParseHostPort("0.0.0.0:1080"));
  absl::Status status = ValidateConfig(config);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("--users_file"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("--allow_open_proxy"));

  config.allow_open_proxy = true;
  EXPECT_TRUE(ValidateConfig(config).ok());

  config.allow_open_proxy = false;
  config.users_file = "users";  // read later, by LoadPolicyFiles
  EXPECT_TRUE(ValidateConfig(config).ok());
}

TEST(ValidateConfigTest, LoopbackV6AndMappedAreNotOpen) {
  Config config;
  config.listen = {*ParseHostPort("[::1]:0"), *ParseHostPort("127.5.6.7:0")};
  EXPECT_TRUE(ValidateConfig(config).ok());
  config.listen = {*ParseHostPort("[::]:0")};
  EXPECT_FALSE(ValidateConfig(config).ok());
}

TEST(ValidateConfigTest, RejectsBadDurationsAndAdvertise) {
  Config config = LoopbackConfig();
  config.idle_timeout = absl::ZeroDuration();
  EXPECT_FALSE(ValidateConfig(config).ok());
  config = LoopbackConfig();
  config.udp_reassembly_timeout = absl::Seconds(4);
  EXPECT_THAT(std::string(ValidateConfig(config).message()), HasSubstr("at least 5s"));
  config = LoopbackConfig();
  config.advertise_address = asio::ip::make_address("0.0.0.0");
  EXPECT_FALSE(ValidateConfig(config).ok());
  config = LoopbackConfig();
  config.workers = 0;
  EXPECT_FALSE(ValidateConfig(config).ok());
}

// ---- metrics ----
TEST(ValidateConfigTest, MetricsListenFollowsTheListenRule) {
  Config config = LoopbackConfig();
  config.metrics_listen = *ParseHostPort("[::1]:0");
  EXPECT_TRUE(ValidateConfig(config).ok());
  config.metrics_listen = *ParseHostPort("0.0.0.0:9180");
  absl::Status status = ValidateConfig(config);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("--metrics_listen"));
  config.allow_open_proxy = true;
  EXPECT_TRUE(ValidateConfig(config).ok());
  config.allow_open_proxy = false;
  config.users_file = "users";
  EXPECT_TRUE(ValidateConfig(config).ok());
}

}  // namespace
}  // namespace socks5::server
