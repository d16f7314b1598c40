// recvmmsg/sendmmsg batches (relay/udp_batch.h) on real loopback sockets.
#include "relay/udp_batch.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "net/address.h"

namespace socks5::relay {
namespace {

const asio::ip::address kLoopback = asio::ip::make_address("127.0.0.1");

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (asio::ip::udp::socket* s : {&a_, &b_}) {
      s->open(asio::ip::udp::v4());
      s->bind(asio::ip::udp::endpoint(kLoopback, 0));
      s->non_blocking(true);
    }
  }
  udp::Endpoint EndpointOf(asio::ip::udp::socket& s) {
    return net::ToUdpEndpoint(s.local_endpoint());
  }

  asio::io_context io_;
  asio::ip::udp::socket a_{io_};
  asio::ip::udp::socket b_{io_};
};

TEST_F(BatchTest, OneReceiveTakesUpToABatchInOrderWithTheSenders) {
  const std::size_t total = kUdpBatchSlots + 8;
  for (std::size_t i = 0; i < total; ++i)
    a_.send_to(asio::buffer(std::to_string(i)), b_.local_endpoint());
  DatagramBatch& batch = DatagramBatch::ForThisThread();
  std::error_code ec;
  ASSERT_EQ(batch.Receive(b_.native_handle(), 16, ec), kUdpBatchSlots);
  EXPECT_FALSE(ec);
  for (std::size_t i = 0; i < kUdpBatchSlots; ++i) {
    EXPECT_EQ(std::string(reinterpret_cast<char*>(batch.data(i)), batch.size(i)),
              std::to_string(i));
    EXPECT_EQ(batch.from(i), a_.local_endpoint());
    EXPECT_TRUE(batch.Holds(i, std::span<const std::uint8_t>(batch.data(i), batch.size(i))));
    EXPECT_TRUE(batch.Holds(i, std::span<const std::uint8_t>(batch.data(i) - 16, 16)));  // headroom
  }
  EXPECT_FALSE(batch.Holds(0, std::span<const std::uint8_t>(batch.data(1), 1)));
  ASSERT_EQ(batch.Receive(b_.native_handle(), 0, ec), 8u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(batch.data(7)), batch.size(7)),
            std::to_string(total - 1));
  EXPECT_EQ(batch.Receive(b_.native_handle(), 0, ec), 0u);  // empty: no error
  EXPECT_FALSE(ec);
}

TEST_F(BatchTest, QueueSendsInOrderAndATooBigDatagramFailsAlone) {
  SendQueue queue;
  const std::vector<std::string> payloads = {"one", "two", std::string(65508, 'x'), "four"};
  for (const std::string& p : payloads) {
    queue.Add(
        EndpointOf(b_),
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(p.data()), p.size()),
        p.size());
  }
  std::vector<std::pair<std::size_t, bool>> results;
  queue.Flush(a_.native_handle(),
              [&](const udp::Endpoint& target, std::size_t bytes, const std::error_code& ec) {
                EXPECT_EQ(target, EndpointOf(b_));
                results.emplace_back(bytes, !ec);
                if (ec) {
                  EXPECT_EQ(ec, std::errc::message_size);
                }
              });
  EXPECT_TRUE(queue.empty());
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0], std::make_pair(std::size_t{3}, true));
  EXPECT_EQ(results[1], std::make_pair(std::size_t{3}, true));
  EXPECT_EQ(results[2], std::make_pair(std::size_t{65508}, false));  // over IPv4's 65,507
  EXPECT_EQ(results[3], std::make_pair(std::size_t{4}, true));
  std::array<char, 64> buffer;
  std::vector<std::string> got;
  std::error_code ec;
  for (std::size_t n; (n = b_.receive(asio::buffer(buffer), 0, ec)), !ec;)
    got.emplace_back(buffer.data(), n);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "four"}));
}

TEST_F(BatchTest, FlushOnAClosedDescriptorFailsEveryDatagram) {
  SendQueue queue;
  const std::string p = "x";
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(p.data()), 1);
  queue.Add(EndpointOf(b_), bytes, 1);
  queue.Add(EndpointOf(b_), bytes, 1);
  int failed = 0;
  queue.Flush(-1, [&](const udp::Endpoint&, std::size_t, const std::error_code& ec) {
    failed += ec ? 1 : 0;
  });
  EXPECT_EQ(failed, 2);
}

}  // namespace
}  // namespace socks5::relay
