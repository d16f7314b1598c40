#include "tests/dns/fake_dns_server.h"

#include <system_error>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace socks5::dns::testing {
namespace {

// RFC 1035 s4.1.1 header: ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT, 16 bits each.
constexpr std::size_t kHeaderSize = 12;
constexpr std::uint16_t kFlagResponse = 0x8000;
constexpr std::uint16_t kFlagTruncated = 0x0200;
constexpr std::uint16_t kFlagRecursionDesired = 0x0100;
constexpr std::uint16_t kFlagRecursionAvailable = 0x0080;
constexpr std::uint16_t kClassIn = 1;

std::uint16_t ReadU16(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}

void AppendU16(std::vector<std::uint8_t>& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void AppendU32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  AppendU16(out, static_cast<std::uint16_t>(value >> 16));
  AppendU16(out, static_cast<std::uint16_t>(value));
}

}  // namespace

std::optional<DnsQuestion> ParseDnsQuery(std::span<const std::uint8_t> message) {
  if (message.size() < kHeaderSize) return std::nullopt;
  DnsQuestion question;
  question.id = ReadU16(message, 0);
  question.flags = ReadU16(message, 2);
  if ((question.flags & kFlagResponse) != 0 || ReadU16(message, 4) != 1) return std::nullopt;
  // QNAME (s4.1.2): length-prefixed labels ending with a zero length.
  std::size_t at = kHeaderSize;
  while (true) {
    if (at >= message.size()) return std::nullopt;
    std::size_t length = message[at++];
    if (length == 0) break;
    if (length > 63 || at + length > message.size()) return std::nullopt;  // or a pointer
    if (!question.name.empty()) question.name += '.';
    for (std::size_t i = 0; i < length; ++i) {
      question.name += absl::ascii_tolower(static_cast<char>(message[at + i]));
    }
    at += length;
  }
  if (at + 4 > message.size()) return std::nullopt;
  question.type = ReadU16(message, at);
  question.qclass = ReadU16(message, at + 2);
  return question;
}

std::vector<std::uint8_t> EncodeDnsResponse(const DnsQuestion& question, std::uint8_t rcode,
                                            const std::vector<DnsRecord>& answers, bool truncated) {
  std::vector<std::uint8_t> out;
  AppendU16(out, question.id);
  AppendU16(out, static_cast<std::uint16_t>(kFlagResponse | kFlagRecursionAvailable |
                                            (question.flags & kFlagRecursionDesired) |
                                            (truncated ? kFlagTruncated : 0) | rcode));
  AppendU16(out, 1);  // QDCOUNT
  AppendU16(out, static_cast<std::uint16_t>(answers.size()));
  AppendU16(out, 0);  // NSCOUNT
  AppendU16(out, 0);  // ARCOUNT
  for (absl::string_view label : absl::StrSplit(question.name, '.', absl::SkipEmpty())) {
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
  AppendU16(out, question.type);
  AppendU16(out, question.qclass);
  for (const DnsRecord& record : answers) {
    AppendU16(out, 0xC000 | kHeaderSize);  // s4.1.4: a pointer to the question's name
    AppendU16(out, record.type);
    AppendU16(out, kClassIn);
    AppendU32(out, record.ttl);
    AppendU16(out, static_cast<std::uint16_t>(record.data.size()));
    out.insert(out.end(), record.data.begin(), record.data.end());
  }
  return out;
}

namespace {

// UDP on port 0 first, then TCP on the port the kernel gave; tries again in the rare case that
// port is taken for TCP.
std::pair<asio::ip::udp::socket, asio::ip::tcp::acceptor> BindBoth(asio::io_context& io,
                                                                   const std::string& address) {
  asio::ip::address ip = asio::ip::make_address(address);
  for (int attempt = 0;; ++attempt) {
    asio::ip::udp::socket udp(io, asio::ip::udp::endpoint(ip, 0));
    asio::ip::tcp::acceptor tcp(io);
    asio::ip::tcp::endpoint endpoint(ip, udp.local_endpoint().port());
    tcp.open(endpoint.protocol());
    std::error_code ec;
    tcp.bind(endpoint, ec);
    if (!ec) tcp.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) return {std::move(udp), std::move(tcp)};
    if (attempt == 20) throw std::system_error(ec, "binding the fake DNS server's TCP port");
  }
}

}  // namespace

FakeDnsServer::FakeDnsServer(asio::io_context& io, const std::string& bind_address)
    : socket_(io), acceptor_(io) {
  std::tie(socket_, acceptor_) = BindBoth(io, bind_address);
  // Room for bursts of questions (the kernel caps it at net.core.rmem_max).
  std::error_code ignored;
  socket_.set_option(asio::socket_base::receive_buffer_size(1 << 20), ignored);
  Receive();
  Accept();
}

FakeDnsServer::~FakeDnsServer() {
  // Pending handlers then see operation_aborted and leave `this` alone.
  for (const std::weak_ptr<TcpClient>& weak : tcp_clients_) {
    if (std::shared_ptr<TcpClient> client = weak.lock()) {
      std::error_code ignored;
      client->socket.close(ignored);
    }
  }
}

std::string FakeDnsServer::server() const {
  asio::ip::udp::endpoint local = socket_.local_endpoint();
  std::string host = local.address().to_string();
  if (local.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(local.port());
}

void FakeDnsServer::AddAddress(const std::string& name, const std::string& ip, std::uint32_t ttl) {
  asio::ip::address address = asio::ip::make_address(ip);
  DnsRecord record;
  record.ttl = ttl;
  if (address.is_v4()) {
    record.type = kTypeA;
    auto bytes = address.to_v4().to_bytes();
    record.data.assign(bytes.begin(), bytes.end());
  } else {
    record.type = kTypeAaaa;
    auto bytes = address.to_v6().to_bytes();
    record.data.assign(bytes.begin(), bytes.end());
  }
  records_[absl::AsciiStrToLower(name)].push_back(std::move(record));
}

std::string FakeDnsServer::ReverseName(const std::string& address) {
  asio::ip::address ip = asio::ip::make_address(address);
  std::string name;
  if (ip.is_v4()) {
    auto bytes = ip.to_v4().to_bytes();
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) name += std::to_string(*it) + ".";
    return name + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  auto bytes = ip.to_v6().to_bytes();
  for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
    name += kHex[*it & 0xf];
    name += '.';
    name += kHex[*it >> 4];
    name += '.';
  }
  return name + "ip6.arpa";
}

void FakeDnsServer::AddPtr(const std::string& address, const std::string& target,
                           std::uint32_t ttl) {
  DnsRecord record;
  record.type = kTypePtr;
  record.ttl = ttl;
  for (absl::string_view label : absl::StrSplit(target, '.', absl::SkipEmpty())) {
    record.data.push_back(static_cast<std::uint8_t>(label.size()));
    record.data.insert(record.data.end(), label.begin(), label.end());
  }
  record.data.push_back(0);
  records_[ReverseName(address)].push_back(std::move(record));
}

void FakeDnsServer::AddName(const std::string& name) { records_[absl::AsciiStrToLower(name)]; }

void FakeDnsServer::ServFail(const std::string& name) {
  servfail_.insert(absl::AsciiStrToLower(name));
}

void FakeDnsServer::Ignore(const std::string& name) {
  ignored_.insert(absl::AsciiStrToLower(name));
}

void FakeDnsServer::Truncate(const std::string& name) {
  truncated_.insert(absl::AsciiStrToLower(name));
}

void FakeDnsServer::DropFirst(const std::string& name, int count) {
  drop_first_[absl::AsciiStrToLower(name)] = count;
}

bool FakeDnsServer::Dropped(const DnsQuestion& question) {
  auto it = drop_first_.find(question.name);
  if (it == drop_first_.end()) return false;
  int& dropped = dropped_[{question.name, question.type}];
  if (dropped >= it->second) return false;
  ++dropped;
  return true;
}

int FakeDnsServer::queries(const std::string& name, std::uint16_t type) const {
  auto it = queries_.find({absl::AsciiStrToLower(name), type});
  return it == queries_.end() ? 0 : it->second;
}

void FakeDnsServer::Receive() {
  socket_.async_receive_from(
      asio::buffer(buffer_), peer_, [this](std::error_code ec, std::size_t size) {
        if (ec == asio::error::operation_aborted) return;  // destroyed
        if (!ec) {
          udp_source_ports_.insert(peer_.port());
          if (auto response = Answer(std::span(buffer_.data(), size), /*tcp=*/false)) {
            std::error_code ignored;
            socket_.send_to(asio::buffer(*response), peer_, 0, ignored);
          }
        }
        Receive();
      });
}

void FakeDnsServer::Accept() {
  acceptor_.async_accept([this](std::error_code ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // destroyed
    if (!ec) {
      auto client = std::make_shared<TcpClient>(std::move(socket));
      tcp_clients_.push_back(client);
      ReadTcpQuery(client);
    }
    Accept();
  });
}

// RFC 1035 s4.2.2: over TCP each message is preceded by its 16-bit length.
void FakeDnsServer::ReadTcpQuery(const std::shared_ptr<TcpClient>& client) {
  TcpClient& c = *client;
  asio::async_read(
      c.socket, asio::buffer(c.length), [this, client](std::error_code ec, std::size_t) {
        if (ec) return;  // closed by the client, or by ~FakeDnsServer
        client->message.resize(client->length[0] << 8 | client->length[1]);
        asio::async_read(client->socket, asio::buffer(client->message),
                         [this, client](std::error_code ec, std::size_t) {
                           if (ec) return;
                           std::optional<std::vector<std::uint8_t>> response =
                               Answer(client->message, /*tcp=*/true);
                           if (!response.has_value()) return ReadTcpQuery(client);
                           client->response = {static_cast<std::uint8_t>(response->size() >> 8),
                                               static_cast<std::uint8_t>(response->size())};
                           client->response.insert(client->response.end(), response->begin(),
                                                   response->end());
                           asio::async_write(client->socket, asio::buffer(client->response),
                                             [this, client](std::error_code ec, std::size_t) {
                                               if (!ec) ReadTcpQuery(client);
                                             });
                         });
      });
}

std::optional<std::vector<std::uint8_t>> FakeDnsServer::Answer(std::span<const std::uint8_t> query,
                                                               bool tcp) {
  std::optional<DnsQuestion> question = ParseDnsQuery(query);
  if (!question.has_value()) return std::nullopt;
  ++total_queries_;
  query_ids_.push_back(question->id);
  if (tcp) ++tcp_queries_;
  ++queries_[{question->name, question->type}];
  if (silent_) return std::nullopt;
  if (!tcp && Dropped(*question)) return std::nullopt;
  if (!tcp && truncated_.contains(question->name)) {
    return EncodeDnsResponse(*question, kRcodeNoError, {}, /*truncated=*/true);
  }
  if (ignored_.contains(question->name)) return std::nullopt;

  std::uint8_t rcode = kRcodeNoError;
  std::vector<DnsRecord> answers;
  if (servfail_.contains(question->name)) {
    rcode = kRcodeServFail;
  } else if (auto it = records_.find(question->name); it == records_.end()) {
    rcode = kRcodeNxDomain;
  } else {
    for (const DnsRecord& record : it->second) {
      if (record.type == question->type) answers.push_back(record);
    }
  }
  return EncodeDnsResponse(*question, rcode, answers);
}

}  // namespace socks5::dns::testing
