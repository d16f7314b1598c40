// An in-process DNS server for tests: UDP and TCP on one loopback port (chosen by the kernel),
// driven by the test's io_context. Answers A and AAAA from a table with chosen TTLs, NXDOMAIN for
// names not in the table, SERVFAIL, a truncated UDP answer or nothing at all where told to, and
// counts the questions it gets. Only what c-ares sends is understood: one question, no
// compression in queries.
#ifndef SOCKS5_TESTS_DNS_FAKE_DNS_SERVER_H_
#define SOCKS5_TESTS_DNS_FAKE_DNS_SERVER_H_

#include <array>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "asio.hpp"

namespace socks5::dns::testing {

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kTypePtr = 12;
inline constexpr std::uint8_t kRcodeNoError = 0;
inline constexpr std::uint8_t kRcodeServFail = 2;
inline constexpr std::uint8_t kRcodeNxDomain = 3;

struct DnsQuestion {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::string name;  // lower case, no final dot
  std::uint16_t type = 0;
  std::uint16_t qclass = 0;
};

struct DnsRecord {
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> data;  // RDATA: 4 or 16 address bytes, or a PTR's encoded name
};

// A query's question, or nullopt for anything but a well-formed one-question query.
std::optional<DnsQuestion> ParseDnsQuery(std::span<const std::uint8_t> message);

// A response echoing `question`, with `answers` named by a pointer to the question's name;
// `truncated` sets TC (RFC 1035 s4.1.1), telling the client to ask again over TCP.
std::vector<std::uint8_t> EncodeDnsResponse(const DnsQuestion& question, std::uint8_t rcode,
                                            const std::vector<DnsRecord>& answers,
                                            bool truncated = false);

class FakeDnsServer {
 public:
  // Binds UDP `bind_address`:0, then TCP on the same port, and serves on `io` until destroyed.
  explicit FakeDnsServer(asio::io_context& io, const std::string& bind_address = "127.0.0.1");
  ~FakeDnsServer();
  FakeDnsServer(const FakeDnsServer&) = delete;
  FakeDnsServer& operator=(const FakeDnsServer&) = delete;

  // For ResolverOptions::servers: "127.0.0.1:PORT" or "[::1]:PORT".
  std::string server() const;

  // `name` exists and has `ip` (an A or AAAA record by its family) with `ttl` seconds. A name
  // added only with IPv4 addresses answers AAAA with no records (NODATA), and vice versa.
  void AddAddress(const std::string& name, const std::string& ip, std::uint32_t ttl);
  // `address`'s reverse name (in-addr.arpa / ip6.arpa) has a PTR record for `target`.
  void AddPtr(const std::string& address, const std::string& target, std::uint32_t ttl = 60);
  // The reverse name of `address`, as c-ares asks it ("7.2.0.192.in-addr.arpa").
  static std::string ReverseName(const std::string& address);
  // `name` exists with no addresses at all.
  void AddName(const std::string& name);
  // Queries for `name` get SERVFAIL.
  void ServFail(const std::string& name);
  // Queries for `name` get no response.
  void Ignore(const std::string& name);
  // UDP queries for `name` get an empty answer with TC set (even if ignored); TCP ones the real
  // answer (or none if ignored).
  void Truncate(const std::string& name);
  // The first `count` UDP queries of each type for `name` get no response (a lost datagram);
  // later ones, c-ares's retries, are answered as usual.
  void DropFirst(const std::string& name, int count);
  // No query gets a response.
  void set_silent(bool silent) { silent_ = silent; }

  // Questions received, over UDP and TCP together.
  int queries(const std::string& name, std::uint16_t type) const;
  int total_queries() const { return total_queries_; }
  int tcp_queries() const { return tcp_queries_; }
  // The IDs of the questions received, in order.
  const std::vector<std::uint16_t>& query_ids() const { return query_ids_; }
  // The distinct UDP source ports queries came from.
  const std::set<std::uint16_t>& udp_source_ports() const { return udp_source_ports_; }

 private:
  struct TcpClient {
    explicit TcpClient(asio::ip::tcp::socket socket) : socket(std::move(socket)) {}
    asio::ip::tcp::socket socket;
    std::array<std::uint8_t, 2> length{};
    std::vector<std::uint8_t> message;
    std::vector<std::uint8_t> response;
  };

  void Receive();
  void Accept();
  void ReadTcpQuery(const std::shared_ptr<TcpClient>& client);
  // The response to send, or nullopt for none.
  std::optional<std::vector<std::uint8_t>> Answer(std::span<const std::uint8_t> query, bool tcp);
  bool Dropped(const DnsQuestion& question);

  asio::ip::udp::socket socket_;
  asio::ip::tcp::acceptor acceptor_;
  std::list<std::weak_ptr<TcpClient>> tcp_clients_;  // closed when the server is destroyed
  std::array<std::uint8_t, 1500> buffer_{};
  asio::ip::udp::endpoint peer_;
  std::map<std::string, std::vector<DnsRecord>> records_;  // names that exist
  std::set<std::string> servfail_;
  std::set<std::string> ignored_;
  std::set<std::string> truncated_;
  std::map<std::string, int> drop_first_;
  std::map<std::pair<std::string, std::uint16_t>, int> dropped_;
  bool silent_ = false;
  std::set<std::uint16_t> udp_source_ports_;
  std::vector<std::uint16_t> query_ids_;
  std::map<std::pair<std::string, std::uint16_t>, int> queries_;
  int total_queries_ = 0;
  int tcp_queries_ = 0;
};

}  // namespace socks5::dns::testing

#endif  // SOCKS5_TESTS_DNS_FAKE_DNS_SERVER_H_
