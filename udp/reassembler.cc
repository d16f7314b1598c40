#include "udp/reassembler.h"

#include <algorithm>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace socks5::udp {
namespace {

constexpr std::uint8_t kLastFragment = 0x80;
constexpr std::uint8_t kPositionMask = 0x7f;
constexpr std::size_t kMaxPositions = 127;

}  // namespace

absl::Status ValidateReassemblerOptions(const ReassemblerOptions& options) {
  if (options.timeout < ReassemblerOptions::kMinTimeout) {
    return absl::InvalidArgumentError(absl::StrCat(
        "UDP reassembly timeout ", absl::FormatDuration(absl::FromChrono(options.timeout)),
        " is below the RFC 1928 minimum of 5s"));
  }
  if (options.max_bytes < 1) {
    return absl::InvalidArgumentError("UDP reassembly byte cap must be at least 1");
  }
  if (options.max_fragments < 1 || options.max_fragments > kMaxPositions) {
    return absl::InvalidArgumentError(
        absl::StrCat("UDP reassembly fragment cap ", options.max_fragments, " is not in 1..127"));
  }
  return absl::OkStatus();
}

Reassembler::Reassembler(ReassemblerOptions options) : options_(options) {
  options_.timeout = std::max<std::chrono::steady_clock::duration>(options_.timeout,
                                                                   ReassemblerOptions::kMinTimeout);
  options_.max_bytes = std::max<std::size_t>(options_.max_bytes, 1);
  options_.max_fragments = std::clamp<std::size_t>(options_.max_fragments, 1, kMaxPositions);
}

Reassembler::Result Reassembler::Add(const protocol::UdpDatagram& datagram, SteadyTime now) {
  // The caller's timer may not have fired yet: an expired queue must not take more fragments.
  OnTimer(now);

  const std::uint8_t frag = datagram.header.frag;
  if (frag == 0) {
    Abandon(stats_.abandoned_by_standalone);  // 0 is below any position held (s.7)
    ++stats_.standalone;
    return Result{Result::Action::kPassThrough, {}};
  }
  const int position = frag & kPositionMask;
  const bool last = (frag & kLastFragment) != 0;
  if (position == 0) {
    ++stats_.dropped_bad_frag;
    return Result{};
  }
  if (fragments_ == 0) return Start(datagram, position, last, now);

  if (datagram.header.address != dst_) {
    Abandon(stats_.abandoned_dst_changed);
    return Start(datagram, position, last, now);
  }
  if (position < highest_) {
    Abandon(stats_.abandoned_out_of_order);
    return Start(datagram, position, last, now);
  }
  if (position == highest_) {
    // The highest fragment held is never a last one (that would have completed the queue), so a
    // last fragment here is not a copy of it.
    std::span<const std::uint8_t> held(buffer_.data() + last_offset_,
                                       buffer_.size() - last_offset_);
    if (!last && std::ranges::equal(held, datagram.payload)) {
      ++stats_.dropped_duplicate;
      return Result{};
    }
    Abandon(stats_.abandoned_repeat);
    return Start(datagram, position, last, now);
  }
  return Append(datagram, position, last);
}

std::optional<SteadyTime> Reassembler::Expiry() const {
  if (fragments_ == 0) return std::nullopt;
  return deadline_;
}

void Reassembler::OnTimer(SteadyTime now) {
  if (fragments_ > 0 && now >= deadline_) Abandon(stats_.abandoned_timeout);
}

void Reassembler::Abandon(std::uint64_t& counter) {
  if (fragments_ == 0) return;
  ++counter;
  Clear();
}

void Reassembler::Clear() {
  fragments_ = 0;
  highest_ = 0;
  contiguous_ = false;
  last_offset_ = 0;
  dst_ = protocol::Address{};
  buffer_ = std::vector<std::uint8_t>();  // give the memory back: most associations never fragment
}

Reassembler::Result Reassembler::Start(const protocol::UdpDatagram& datagram, int position,
                                       bool last, SteadyTime now) {
  if (datagram.payload.size() > options_.max_bytes) {
    ++stats_.abandoned_too_big;  // a queue of this one fragment
    return Result{};
  }
  dst_ = datagram.header.address;
  highest_ = position;
  contiguous_ = position == 1;
  deadline_ = now + options_.timeout;
  last_offset_ = 0;
  Reserve(datagram.payload.size());
  buffer_.insert(buffer_.end(), datagram.payload.begin(), datagram.payload.end());
  fragments_ = 1;
  ++stats_.fragments_held;
  if (last) return Finish();
  return Result{Result::Action::kHeld, {}};
}

Reassembler::Result Reassembler::Append(const protocol::UdpDatagram& datagram, int position,
                                        bool last) {
  if (fragments_ + 1 > options_.max_fragments) {
    Abandon(stats_.abandoned_too_many);
    return Result{};
  }
  if (datagram.payload.size() > options_.max_bytes - buffer_.size()) {
    Abandon(stats_.abandoned_too_big);
    return Result{};
  }
  contiguous_ = contiguous_ && position == highest_ + 1;
  highest_ = position;
  last_offset_ = buffer_.size();
  Reserve(datagram.payload.size());
  buffer_.insert(buffer_.end(), datagram.payload.begin(), datagram.payload.end());
  ++fragments_;
  ++stats_.fragments_held;
  if (last) return Finish();
  return Result{Result::Action::kHeld, {}};
}

Reassembler::Result Reassembler::Finish() {
  Result result;
  if (contiguous_) {
    ++stats_.reassembled;
    result.action = Result::Action::kReassembled;
    result.datagram.dst = std::move(dst_);
    result.datagram.payload = std::move(buffer_);
  } else {
    ++stats_.dropped_incomplete;
  }
  Clear();  // the queue ended normally: no abandon to count
  return result;
}

void Reassembler::Reserve(std::size_t extra) {
  // The callers checked size() + extra <= max_bytes. Grow geometrically but never allocate past
  // the cap, so the memory held stays within max_bytes.
  const std::size_t needed = buffer_.size() + extra;
  if (needed <= buffer_.capacity()) return;
  buffer_.reserve(std::min(options_.max_bytes, std::max(needed, 2 * buffer_.capacity())));
}

}  // namespace socks5::udp
