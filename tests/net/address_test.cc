#include "net/address.h"

#include "gtest/gtest.h"

namespace socks5::net {
namespace {

TEST(AddressConversionTest, RoundTripAndUnmapping) {
  protocol::Address v4 = FromAsio(asio::ip::make_address("192.0.2.7"), 8080);
  EXPECT_EQ(v4.ToString(), "192.0.2.7:8080");
  EXPECT_EQ(ToAsioAddress(v4).to_string(), "192.0.2.7");
  protocol::Address mapped = FromAsio(asio::ip::make_address("::ffff:192.0.2.7"), 1);
  EXPECT_EQ(mapped.type(), protocol::AddressType::kIPv4);
  protocol::Address v6 = FromAsio(asio::ip::make_address("2001:db8::1"), 53);
  EXPECT_EQ(v6.type(), protocol::AddressType::kIPv6);
  EXPECT_EQ(ToAsioAddress(v6).to_string(), "2001:db8::1");
}

TEST(EndpointTextTest, Ipv6InBrackets) {
  EXPECT_EQ(EndpointText(asio::ip::tcp::endpoint(asio::ip::make_address("::1"), 1080)),
            "[::1]:1080");
  EXPECT_EQ(EndpointText(asio::ip::make_address("127.0.0.1"), 80), "127.0.0.1:80");
  EXPECT_EQ(EndpointText(asio::ip::make_address("::ffff:127.0.0.1"), 80), "127.0.0.1:80");
}

TEST(UdpAddressConversionTest, RoundTripAndUnmapping) {
  udp::Endpoint v6 = ToUdpEndpoint(asio::ip::udp::endpoint(asio::ip::make_address("::1"), 53));
  EXPECT_EQ(v6.ToString(), "[::1]:53");
  EXPECT_EQ(ToAsio(v6), asio::ip::udp::endpoint(asio::ip::make_address("::1"), 53));
  udp::IpAddress mapped = ToUdpIp(asio::ip::make_address("::ffff:10.0.0.1"));
  EXPECT_TRUE(mapped.is_v4());
  EXPECT_EQ(ToProtocol(udp::Endpoint{mapped, 7}).ToString(), "10.0.0.1:7");
}

}  // namespace
}  // namespace socks5::net
