// libFuzzer target: udp::Reassembler driven by a sequence of datagrams and clock steps, checked
// step by step against a plain reference model of the rules in udp/reassembler.h (a list of held
// fragments, concatenated on completion). Checks: the same action for every datagram, a
// reassembled payload byte-equal to the model's concatenation and addressed to the queue's DST,
// the same held bytes, fragments and expiry, and the caps (held bytes and allocation <= max_bytes,
// fragments <= max_fragments) never exceeded.
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "protocol/address.h"
#include "protocol/udp_header.h"
#include "udp/reassembler.h"

namespace {

namespace p = socks5::protocol;
using socks5::udp::Reassembler;
using socks5::udp::ReassemblerOptions;
using socks5::udp::SteadyTime;
using Action = Reassembler::Result::Action;
using Bytes = std::vector<std::uint8_t>;

void Check(bool condition) {
  if (!condition) std::abort();
}

// The rules of udp/reassembler.h, written as directly as possible.
class Model {
 public:
  explicit Model(const ReassemblerOptions& o) : o_(o) {}

  struct Out {
    Action action = Action::kDropped;
    p::Address dst;
    Bytes payload;
  };

  Out Add(std::uint8_t frag, const p::Address& dst, const Bytes& payload, SteadyTime now) {
    OnTimer(now);
    if (frag == 0) {
      frags_.clear();
      return {Action::kPassThrough, {}, {}};
    }
    int position = frag & 0x7f;
    bool last = (frag & 0x80) != 0;
    if (position == 0) return {};
    if (frags_.empty() || dst != dst_ || position < frags_.back().first) {
      return Start(position, last, dst, payload, now);
    }
    if (position == frags_.back().first) {
      if (!last && payload == frags_.back().second) return {};  // duplicate: queue kept
      return Start(position, last, dst, payload, now);
    }
    if (frags_.size() + 1 > o_.max_fragments || HeldBytes() + payload.size() > o_.max_bytes) {
      frags_.clear();
      return {};
    }
    frags_.emplace_back(position, payload);
    return last ? Finish() : Out{Action::kHeld, {}, {}};
  }

  void OnTimer(SteadyTime now) {
    if (!frags_.empty() && now >= deadline_) frags_.clear();
  }
  std::optional<SteadyTime> Expiry() const {
    if (frags_.empty()) return std::nullopt;
    return deadline_;
  }
  std::size_t HeldBytes() const {
    std::size_t n = 0;
    for (const auto& f : frags_) n += f.second.size();
    return n;
  }
  std::size_t HeldFragments() const { return frags_.size(); }

 private:
  Out Start(int position, bool last, const p::Address& dst, const Bytes& payload, SteadyTime now) {
    frags_.clear();
    if (payload.size() > o_.max_bytes) return {};
    frags_.emplace_back(position, payload);
    dst_ = dst;
    deadline_ = now + o_.timeout;
    return last ? Finish() : Out{Action::kHeld, {}, {}};
  }
  Out Finish() {
    Out out;
    bool whole = true;
    for (std::size_t i = 0; i < frags_.size(); ++i) {
      whole = whole && frags_[i].first == static_cast<int>(i + 1);
    }
    if (whole) {
      out.action = Action::kReassembled;
      out.dst = dst_;
      for (const auto& f : frags_)
        out.payload.insert(out.payload.end(), f.second.begin(), f.second.end());
    }
    frags_.clear();
    return out;
  }

  ReassemblerOptions o_;
  std::vector<std::pair<int, Bytes>> frags_;
  p::Address dst_;
  SteadyTime deadline_{};
};

p::Address PickAddress(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      return p::Address{p::Ipv4{127, 0, 0, 1}, 53};
    case 1:
      return p::Address{p::Ipv4{127, 0, 0, 1}, 54};
    case 2:
      return p::Address{p::Ipv6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 53};
    default:
      return p::Address{std::string("example.com"), 53};
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  ReassemblerOptions options;
  options.timeout = std::chrono::milliseconds(in.ConsumeIntegralInRange<int>(5000, 20000));
  options.max_bytes = in.ConsumeIntegralInRange<std::size_t>(1, 512);
  options.max_fragments = in.ConsumeIntegralInRange<std::size_t>(1, 127);
  Check(socks5::udp::ValidateReassemblerOptions(options).ok());

  Reassembler reassembler(options);
  Model model(options);
  SteadyTime now = SteadyTime{} + std::chrono::hours(1);

  while (in.remaining_bytes() > 0) {
    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
      case 0:  // the clock moves, up to 25 s
        now += std::chrono::milliseconds(in.ConsumeIntegralInRange<int>(0, 25000));
        break;
      case 1:  // the caller's timer fires (maybe late, maybe stale)
        reassembler.OnTimer(now);
        model.OnTimer(now);
        break;
      default: {  // a datagram, encoded on the wire and parsed back as the relay does
        std::uint8_t frag = in.ConsumeIntegral<std::uint8_t>();
        p::Address dst = PickAddress(in);
        Bytes payload =
            in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 200));
        Bytes wire(p::kMaxUdpHeaderSize);
        std::size_t header = p::EncodeUdpHeader(p::UdpHeader{frag, dst}, wire);
        Check(header > 0);
        wire.resize(header);
        wire.insert(wire.end(), payload.begin(), payload.end());
        std::optional<p::UdpDatagram> parsed = p::ParseUdpDatagram(wire);
        Check(parsed.has_value() && parsed->header.address == dst && parsed->header.frag == frag);

        Reassembler::Result got = reassembler.Add(*parsed, now);
        Model::Out want = model.Add(frag, dst, payload, now);
        Check(got.action == want.action);
        if (got.action == Action::kReassembled) {
          Check(got.datagram.dst == want.dst);
          Check(got.datagram.payload == want.payload);
          Check(got.datagram.payload.size() <= options.max_bytes);
        }
        break;
      }
    }
    Check(reassembler.held_bytes() == model.HeldBytes());
    Check(reassembler.held_fragments() == model.HeldFragments());
    Check(reassembler.Expiry() == model.Expiry());
    Check(reassembler.held_bytes() <= options.max_bytes);
    Check(reassembler.held_capacity() <= options.max_bytes);
    Check(reassembler.held_fragments() <= options.max_fragments);
  }
  return 0;
}
