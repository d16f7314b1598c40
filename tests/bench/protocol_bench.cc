// Parser throughput: the handshake messages every session parses, and the UDP header every
// relayed datagram parses (the hot one: once per datagram each way).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "protocol/messages.h"
#include "protocol/udp_header.h"

namespace socks5::protocol {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes Encoded(const Request& request) {
  Bytes out(kMaxRequestSize);
  out.resize(EncodeRequest(request, out));
  return out;
}

Bytes EncodedUdp(const UdpHeader& header, std::size_t payload) {
  Bytes out(kMaxUdpHeaderSize);
  out.resize(EncodeUdpHeader(header, out));
  out.resize(out.size() + payload, 0xAB);
  return out;
}

void BM_ParseGreeting(benchmark::State& state) {
  const Bytes in = {0x05, 0x02, 0x00, 0x02};
  for (auto _ : state) {
    auto result = ParseGreeting(in);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_ParseGreeting);

void BM_ParseUserPass(benchmark::State& state) {
  Bytes in(kMaxUserPassSize);
  in.resize(EncodeUserPass({"alice", "correct horse battery staple"}, in));
  for (auto _ : state) {
    auto result = ParseUserPass(in);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_ParseUserPass);

void BM_ParseRequestIpv4(benchmark::State& state) {
  const Bytes in = Encoded({Command::kConnect, {Ipv4{192, 0, 2, 1}, 443}});
  for (auto _ : state) {
    auto result = ParseRequest(in);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_ParseRequestIpv4);

void BM_ParseRequestIpv6(benchmark::State& state) {
  const Bytes in = Encoded({Command::kConnect, {Ipv6{0x20, 0x01, 0x0d, 0xb8, 15, 1}, 443}});
  for (auto _ : state) {
    auto result = ParseRequest(in);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_ParseRequestIpv6);

// Domain length 11 (typical) and 255 (the longest): the string copy is the cost.
void BM_ParseRequestDomain(benchmark::State& state) {
  const std::string name = state.range(0) == 11 ? "example.com" : std::string(255, 'a');
  const Bytes in = Encoded({Command::kConnect, {name, 443}});
  for (auto _ : state) {
    auto result = ParseRequest(in);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_ParseRequestDomain)->Arg(11)->Arg(255);

// The handshake re-parses its whole buffer after each read: a request that arrives one byte at
// a time costs one parse per prefix. This is that worst case.
void BM_ParseRequestBytewise(benchmark::State& state) {
  const Bytes in = Encoded({Command::kConnect, {std::string("example.com"), 443}});
  for (auto _ : state) {
    for (std::size_t n = 1; n <= in.size(); ++n) {
      auto result = ParseRequest(std::span<const std::uint8_t>(in.data(), n));
      benchmark::DoNotOptimize(result);
    }
  }
}
BENCHMARK(BM_ParseRequestBytewise);

void BM_EncodeReply(benchmark::State& state) {
  const Address bound{Ipv4{127, 0, 0, 1}, 40000};
  std::uint8_t out[kMaxReplySize];
  for (auto _ : state) {
    std::size_t n = EncodeReply(Reply::kSucceeded, bound, out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_EncodeReply);

// Range: payload bytes. The parser does not copy the payload, so the cost should not grow.
void BM_ParseUdpDatagramIpv4(benchmark::State& state) {
  const Bytes in =
      EncodedUdp({0, {Ipv4{192, 0, 2, 1}, 53}}, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto result = ParseUdpDatagram(in);
    benchmark::DoNotOptimize(result);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}
BENCHMARK(BM_ParseUdpDatagramIpv4)->Arg(64)->Arg(1400);

void BM_ParseUdpDatagramDomain(benchmark::State& state) {
  const Bytes in = EncodedUdp({0, {std::string("dns.example.net"), 53}}, 64);
  for (auto _ : state) {
    auto result = ParseUdpDatagram(in);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_ParseUdpDatagramDomain);

void BM_EncodeUdpHeaderIpv6(benchmark::State& state) {
  const UdpHeader header{0, {Ipv6{0x20, 0x01, 0x0d, 0xb8, 15, 1}, 5353}};
  std::uint8_t out[kMaxUdpHeaderSize];
  for (auto _ : state) {
    std::size_t n = EncodeUdpHeader(header, out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_EncodeUdpHeaderIpv6);

}  // namespace
}  // namespace socks5::protocol
