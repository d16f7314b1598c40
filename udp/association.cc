#include "udp/association.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "protocol/udp_header.h"

namespace socks5::udp {

const char* DropName(Drop drop) {
  switch (drop) {
    case Drop::kForeignIp:
      return "foreign";
    case Drop::kWrongPort:
      return "wrong_port";
    case Drop::kMalformed:
      return "malformed";
    case Drop::kFragment:
      return "fragment";
    case Drop::kDenied:
      return "denied";
    case Drop::kUnresolved:
      return "unresolved";
    case Drop::kQueueFull:
      return "queue_full";
    case Drop::kUnsolicited:
      return "unsolicited";
    case Drop::kTooBig:
      return "too_big";
    case Drop::kSendError:
      return "send_error";
    case Drop::kBudget:
      return "budget";
    case Drop::kDnsBusy:
      return "dns_busy";
  }
  return "?";
}

Association::Association(const IpAddress& control_peer, const protocol::Address& requested,
                         AssociationOptions options)
    : control_peer_(control_peer),
      options_(std::move(options)),
      client_(control_peer, requested),
      remotes_(options_.reply_policy),
      reassembler_(options_.reassembly),
      names_(options_.names),
      charge_(options_.memory_budget) {}

bool Association::Refused(const Endpoint& target, const std::string* name) const {
  if (options_.destinations ? options_.destinations->Decide(target) != Verdict::kAllow
                            : IsUnspecifiedRange(target.ip)) {
    return true;
  }
  return options_.rules_allow && !options_.rules_allow(target, name);
}

std::size_t Association::held_bytes() const {
  return reassembler_.held_capacity() + names_.queued_bytes() + reassembled_.capacity();
}

Association::Step Association::FromClient(const Endpoint& source,
                                          std::span<const std::uint8_t> datagram, SteadyTime now) {
  // The previous reassembled payload has been sent: do not keep up to 64 KiB for the
  // association's lifetime.
  if (reassembled_.capacity() != 0) {
    std::vector<std::uint8_t>().swap(reassembled_);
    Recharge();
  }
  std::optional<protocol::UdpDatagram> parsed = protocol::ParseUdpDatagram(datagram);
  if (!parsed) {
    // Garbage from elsewhere is foreign first; garbage never locks the client's port.
    CountDrop(source.ip == control_peer_ ? Drop::kMalformed : Drop::kForeignIp);
    return {};
  }
  switch (client_.Admit(source)) {
    case Admission::kAccept:
      break;
    case Admission::kDropForeignIp:
      CountDrop(Drop::kForeignIp);
      return {};
    case Admission::kDropWrongPort:
      CountDrop(Drop::kWrongPort);
      return {};
  }
  if (parsed->header.frag != 0) {
    // A fragment may grow the queue's buffer by its size or, growing geometrically, by what the
    // buffer already holds; never past the reassembler's cap.
    const std::size_t growth =
        std::min(reassembler_.options().max_bytes,
                 std::max(parsed->payload.size(), reassembler_.held_capacity()));
    if (!Reserve(growth)) {
      CountDrop(Drop::kBudget);
      return {};
    }
  }
  Reassembler::Result result = reassembler_.Add(*parsed, now);
  Step step;
  switch (result.action) {
    case Reassembler::Result::Action::kPassThrough:
      step = Route(parsed->header.address, parsed->payload, now);
      break;
    case Reassembler::Result::Action::kHeld:
      break;
    case Reassembler::Result::Action::kDropped:
      CountDrop(Drop::kFragment);
      break;
    case Reassembler::Result::Action::kReassembled:
      reassembled_ = std::move(result.datagram.payload);
      step = Route(result.datagram.dst, reassembled_, now);
      break;
  }
  Recharge();
  return step;
}

Association::Step Association::Route(const protocol::Address& dst,
                                     std::span<const std::uint8_t> payload, SteadyTime now) {
  Step step;
  if (std::optional<Endpoint> target = Endpoint::FromAddress(dst)) {
    if (Refused(*target, nullptr)) {
      CountDrop(Drop::kDenied);
      return step;
    }
    step.kind = Step::Kind::kSend;
    step.target = *target;
    step.payload = payload;
    return step;
  }
  const std::string& name = std::get<std::string>(dst.host);
  // The payload may be queued behind a lookup (a copy); a cached answer holds nothing.
  if (names_.WouldQueue(name, now) && !Reserve(payload.size())) {
    CountDrop(Drop::kBudget);
    return step;
  }
  NameCache::Route route = names_.Lookup(name, dst.port, payload, now);
  switch (route.outcome) {
    case NameCache::Outcome::kCached:
      if (Refused(Endpoint{route.ip, dst.port}, &name)) {
        CountDrop(Drop::kDenied);
        break;
      }
      step.kind = Step::Kind::kSend;
      step.target = Endpoint{route.ip, dst.port};
      step.payload = payload;
      break;
    case NameCache::Outcome::kStartLookup:
      step.kind = Step::Kind::kResolve;
      step.name = name;
      break;
    case NameCache::Outcome::kQueued:
      break;
    case NameCache::Outcome::kDropFull:
      CountDrop(Drop::kQueueFull);
      break;
    case NameCache::Outcome::kDropNotFound:
      CountDrop(Drop::kUnresolved);
      break;
  }
  return step;
}

std::vector<Association::Outbound> Association::Resolved(const std::string& name,
                                                         const std::vector<IpAddress>& addresses,
                                                         SteadyTime now, bool busy) {
  std::vector<Outbound> out;
  if (busy) {
    for (std::size_t i = names_.Forget(name); i > 0; --i) CountDrop(Drop::kDnsBusy);
    Recharge();
    return out;
  }
  // The first address is cached: put the allowed ones first (a name resolving to a mix is sent
  // only to an allowed address). When none is allowed the first is cached, and refused below and
  // on every later datagram. Ordered for the port of the first datagram waiting (the rules may
  // name ports); each datagram's own port is decided when it is sent.
  std::vector<IpAddress> ordered = addresses;
  const std::uint16_t port = names_.FirstWaitingPort(name).value_or(0);
  std::stable_partition(ordered.begin(), ordered.end(), [this, port, &name](const IpAddress& ip) {
    return !Refused(Endpoint{ip, port}, &name);
  });
  NameCache::Completion completion = names_.Complete(name, ordered, now);
  for (NameCache::Queued& queued : completion.datagrams) {
    if (!completion.ip) {
      CountDrop(Drop::kUnresolved);
    } else if (Refused(Endpoint{*completion.ip, queued.port}, &name)) {
      CountDrop(Drop::kDenied);
    } else {
      out.push_back(Outbound{Endpoint{*completion.ip, queued.port}, std::move(queued.payload)});
    }
  }
  Recharge();
  return out;
}

void Association::Sent(const Endpoint& target, std::size_t bytes) {
  ++counters_.dgrams_up;
  counters_.bytes_up += bytes;
  remotes_.NoteSent(target);
}

std::optional<Endpoint> Association::FromRemote(const Endpoint& source) {
  std::optional<Endpoint> client = client_.client();
  if (!client || !remotes_.Admit(source)) {
    CountDrop(Drop::kUnsolicited);
    return std::nullopt;
  }
  return client;
}

void Association::Delivered(std::size_t bytes) {
  ++counters_.dgrams_down;
  counters_.bytes_down += bytes;
}

std::string Association::LogFields() const {
  protocol::LogRecord record;
  AppendLogFields(record);
  return record.Text();
}

void Association::AppendLogFields(protocol::LogRecord& out) const {
  out.Add("dgrams_up", std::uint64_t{counters_.dgrams_up});
  out.Add("dgrams_down", std::uint64_t{counters_.dgrams_down});
  for (std::size_t i = 0; i < kDropKinds; ++i) {
    out.Add(absl::StrCat("drop_", DropName(static_cast<Drop>(i))),
            std::uint64_t{counters_.drops[i]});
  }
  const ReassemblerStats& s = reassembler_.stats();
  std::uint64_t abandoned = s.abandoned_by_standalone + s.abandoned_out_of_order +
                            s.abandoned_repeat + s.abandoned_dst_changed + s.abandoned_timeout +
                            s.abandoned_too_big + s.abandoned_too_many;
  out.Add("frags", std::uint64_t{s.fragments_held});
  out.Add("reassembled", std::uint64_t{s.reassembled});
  out.Add("frag_abandoned", abandoned);
  out.Add("frag_timeout", std::uint64_t{s.abandoned_timeout});
  // The request named an endpoint the datagrams did not come from (F14): say so.
  if (client_.hint_missed()) out.Add("dst_hint", "unused");
}

}  // namespace socks5::udp
