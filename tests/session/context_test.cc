#include "session/context.h"

#include <vector>

#include "gtest/gtest.h"
#include "net/address.h"
#include "net/parse.h"

namespace socks5::session {
namespace {

udp::Endpoint At(const char* ip, std::uint16_t port) {
  return udp::Endpoint{net::ToUdpIp(asio::ip::make_address(ip)), port};
}

TEST(MakeDestinationPolicyTest, KnowsDenyListListenersAndLocalAddresses) {
  std::vector<net::Cidr> deny = {*net::ParseCidr("10.0.0.0/8"), *net::ParseCidr("2001:db8::/32")};
  std::vector<asio::ip::tcp::endpoint> listeners = {{asio::ip::make_address("0.0.0.0"), 1080},
                                                    {asio::ip::make_address("192.0.2.7"), 1081}};
  std::vector<asio::ip::address> local = {asio::ip::make_address("198.51.100.4"),
                                          asio::ip::make_address("::ffff:203.0.113.9")};
  auto policy = MakeDestinationPolicy(deny, listeners, local);
  using udp::Verdict;
  EXPECT_EQ(policy->Decide(At("10.1.2.3", 80)), Verdict::kDenied);
  EXPECT_EQ(policy->Decide(At("::ffff:10.1.2.3", 80)), Verdict::kDenied);
  EXPECT_EQ(policy->Decide(At("2001:db8::1", 80)), Verdict::kDenied);
  EXPECT_EQ(policy->Decide(At("127.0.0.1", 1080)), Verdict::kOwnEndpoint);
  EXPECT_EQ(policy->Decide(At("127.0.0.1", 1081)), Verdict::kOwnEndpoint);
  EXPECT_EQ(policy->Decide(At("192.0.2.7", 1080)), Verdict::kOwnEndpoint);  // a listener's own
  EXPECT_EQ(policy->Decide(At("198.51.100.4", 1081)), Verdict::kOwnEndpoint);
  EXPECT_EQ(policy->Decide(At("203.0.113.9", 1080)), Verdict::kOwnEndpoint);  // unmapped
  EXPECT_EQ(policy->Decide(At("198.51.100.5", 1080)), Verdict::kAllow);
  EXPECT_EQ(policy->Decide(At("0.0.0.0", 80)), Verdict::kUnspecified);
  EXPECT_EQ(policy->Decide(At("::ffff:0.0.0.0", 80)), Verdict::kUnspecified);
  EXPECT_EQ(policy->Decide(At("::", 80)), Verdict::kUnspecified);
}

}  // namespace
}  // namespace socks5::session
