// Reassembly of fragmented UDP ASSOCIATE datagrams (RFC 1928 s.7; docs/conformance.md F6-F8).
// One Reassembler per association, holding at most one reassembly queue. Pure: no I/O, no clock;
// the caller passes `now` and arms its own timer for Expiry().
//
// FRAG is 0 for a standalone datagram, else the fragment's position 1..127; the high bit (0x80)
// marks the last fragment. Decisions, read from s.7 ("the reassembly queue must be reinitialized
// and the associated fragments abandoned whenever the REASSEMBLY TIMER expires, or a new datagram
// arrives carrying a FRAG field whose value is less than the highest FRAG value processed"):
//  - FRAG 0 passes through untouched. Its value 0 is less than any position, so it also abandons
//    a partial queue (abandoned_by_standalone).
//  - A position lower than the highest held abandons the queue, which restarts from this
//    fragment (F7; abandoned_out_of_order).
//  - The position equal to the highest held: an identical copy (same DST, same bytes) is a network
//    duplicate and is dropped, keeping the queue (dropped_duplicate). A different fragment at that
//    position can only be a new sequence (the client gave up on the old one), so the queue is
//    abandoned and restarts from it (abandoned_repeat); keeping it would splice two datagrams.
//  - A DST different from the queue's belongs to another datagram: the queue is abandoned and
//    restarts from it (abandoned_dst_changed).
//  - A datagram is delivered only when its fragments are positions 1..N without a gap; a
//    sequence with a lost fragment, or one that restarted from a position above 1, is dropped
//    when its last fragment arrives (dropped_incomplete). A spliced or holed datagram is never
//    sent.
//  - The timer runs from the queue's first fragment and is not pushed back by later ones, so a
//    queue lives at most `timeout` (F8; abandoned_timeout).
//  - Caps: the payload bytes held never exceed max_bytes, the fragments held never exceed
//    max_fragments; a fragment that would exceed either abandons the queue and is dropped with it
//    (abandoned_too_big, abandoned_too_many).
//  - FRAG 0x80 (last, position 0) names no position: dropped, the queue untouched
//    (dropped_bad_frag).
#ifndef SOCKS5_UDP_REASSEMBLER_H_
#define SOCKS5_UDP_REASSEMBLER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "protocol/address.h"
#include "protocol/udp_header.h"

namespace socks5::udp {

using SteadyTime = std::chrono::steady_clock::time_point;

struct ReassemblerOptions {
  // RFC 1928 s.7: "The reassembly timer MUST be no less than 5 seconds."
  static constexpr std::chrono::seconds kMinTimeout{5};

  std::chrono::steady_clock::duration timeout = kMinTimeout;
  // The largest UDP payload is 65,507 bytes over IPv4 and 65,527 over IPv6; 65,535 leaves headroom
  // and anything larger could not be sent anyway.
  std::size_t max_bytes = 65535;
  std::size_t max_fragments = 127;  // positions 1..127
};

// Start-up check of the options (flags): timeout >= 5 s, max_bytes >= 1, max_fragments 1..127.
absl::Status ValidateReassemblerOptions(const ReassemblerOptions& options);

// Every outcome, counted by kind. Fragments dropped together with an abandoned queue are not
// counted one by one: each abandon_* counts one queue.
struct ReassemblerStats {
  std::uint64_t standalone = 0;               // FRAG 0 datagrams passed through
  std::uint64_t fragments_held = 0;           // fragments queued
  std::uint64_t reassembled = 0;              // whole datagrams delivered
  std::uint64_t dropped_duplicate = 0;        // identical copy of the last fragment held
  std::uint64_t dropped_incomplete = 0;       // last fragment arrived, but positions not 1..N
  std::uint64_t dropped_bad_frag = 0;         // FRAG 0x80
  std::uint64_t abandoned_by_standalone = 0;  // FRAG 0 arrived during a queue
  std::uint64_t abandoned_out_of_order = 0;   // position lower than the highest held (F7)
  std::uint64_t abandoned_repeat = 0;         // a different fragment at the highest position
  std::uint64_t abandoned_dst_changed = 0;    // DST differs from the queue's
  std::uint64_t abandoned_timeout = 0;        // the reassembly timer expired (F8)
  std::uint64_t abandoned_too_big = 0;        // max_bytes would be exceeded
  std::uint64_t abandoned_too_many = 0;       // max_fragments would be exceeded

  friend bool operator==(const ReassemblerStats&, const ReassemblerStats&) = default;
};

class Reassembler {
 public:
  // A whole datagram to relay.
  struct Datagram {
    protocol::Address dst;
    std::vector<std::uint8_t> payload;
  };
  struct Result {
    enum class Action {
      kPassThrough,  // FRAG 0: relay the input datagram as it is (nothing copied)
      kHeld,         // queued; nothing to send yet
      kReassembled,  // relay `datagram`
      kDropped,      // nothing to send; the reason is counted in stats()
    };
    Action action = Action::kDropped;
    Datagram datagram;  // set for kReassembled only
  };

  // Options are clamped to their valid ranges (see ValidateReassemblerOptions).
  explicit Reassembler(ReassemblerOptions options = {});

  // Takes one parsed datagram from the client, received at `now`. The payload is copied when held.
  Result Add(const protocol::UdpDatagram& datagram, SteadyTime now);

  // When the caller's reassembly timer should fire: nullopt while no queue is held.
  std::optional<SteadyTime> Expiry() const;
  // The timer fired: abandons the queue if it has expired by `now` (a stale timer does nothing).
  void OnTimer(SteadyTime now);

  const ReassemblerStats& stats() const { return stats_; }
  const ReassemblerOptions& options() const { return options_; }
  std::size_t held_bytes() const { return buffer_.size(); }
  std::size_t held_fragments() const { return fragments_; }
  // Bytes allocated for held payload; never more than options().max_bytes.
  std::size_t held_capacity() const { return buffer_.capacity(); }

 private:
  // Drops the queue, if any, counting it in `counter`.
  void Abandon(std::uint64_t& counter);
  void Clear();
  // Starts a new queue with this fragment or, if it breaks a cap, drops it.
  Result Start(const protocol::UdpDatagram& datagram, int position, bool last, SteadyTime now);
  // Appends to the current queue; the caller checked position and DST.
  Result Append(const protocol::UdpDatagram& datagram, int position, bool last);
  Result Finish();
  // Grows buffer_ to fit `extra` more bytes, never beyond max_bytes of capacity.
  void Reserve(std::size_t extra);

  ReassemblerOptions options_;
  ReassemblerStats stats_;

  // The queue. Held when fragments_ > 0.
  std::size_t fragments_ = 0;
  protocol::Address dst_;
  int highest_ = 0;              // highest position held
  bool contiguous_ = false;      // the positions held are exactly 1..highest_
  std::size_t last_offset_ = 0;  // where the highest fragment's payload starts in buffer_
  SteadyTime deadline_{};
  std::vector<std::uint8_t> buffer_;  // the held payloads, concatenated in order
};

}  // namespace socks5::udp

#endif  // SOCKS5_UDP_REASSEMBLER_H_
