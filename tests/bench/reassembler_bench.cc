// Reassembler cost: the pass-through path every unfragmented datagram takes, and whole
// fragmented datagrams (range: fragments per datagram) reassembled from 1,200-byte fragments.
#include <chrono>
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "protocol/udp_header.h"
#include "udp/reassembler.h"

namespace socks5::udp {
namespace {

using protocol::Ipv4;
using protocol::UdpDatagram;

UdpDatagram Fragment(std::uint8_t frag, const std::vector<std::uint8_t>& payload) {
  UdpDatagram d;
  d.header.frag = frag;
  d.header.address = {Ipv4{192, 0, 2, 7}, 4433};
  d.payload = payload;
  return d;
}

void BM_PassThrough(benchmark::State& state) {
  Reassembler reassembler;
  const std::vector<std::uint8_t> payload(512, 0x5A);
  const UdpDatagram datagram = Fragment(0, payload);
  const SteadyTime now{};
  for (auto _ : state) {
    auto result = reassembler.Add(datagram, now);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_PassThrough);

void BM_Reassemble(benchmark::State& state) {
  const int fragments = static_cast<int>(state.range(0));
  Reassembler reassembler;
  const std::vector<std::uint8_t> payload(1200, 0x5A);
  std::vector<UdpDatagram> sequence;
  for (int i = 1; i <= fragments; ++i) {
    std::uint8_t frag = static_cast<std::uint8_t>(i) | (i == fragments ? 0x80 : 0x00);
    sequence.push_back(Fragment(frag, payload));
  }
  SteadyTime now{};
  for (auto _ : state) {
    for (const UdpDatagram& fragment : sequence) {
      auto result = reassembler.Add(fragment, now);
      benchmark::DoNotOptimize(result);
    }
    now += std::chrono::microseconds(1);
  }
  if (reassembler.stats().reassembled != static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("a datagram was not reassembled");
  }
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * fragments * payload.size()));
}
BENCHMARK(BM_Reassemble)->Arg(2)->Arg(8)->Arg(48);

// A queue abandoned by an out-of-order fragment (F7) and restarted: the drop path's cost.
void BM_AbandonOutOfOrder(benchmark::State& state) {
  Reassembler reassembler;
  const std::vector<std::uint8_t> payload(1200, 0x5A);
  const UdpDatagram second = Fragment(2, payload);
  const UdpDatagram first = Fragment(1, payload);
  const SteadyTime now{};
  for (auto _ : state) {
    auto a = reassembler.Add(second, now);
    auto b = reassembler.Add(first, now);  // lower than the highest held: abandons, restarts
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
  }
}
BENCHMARK(BM_AbandonOutOfOrder);

}  // namespace
}  // namespace socks5::udp
