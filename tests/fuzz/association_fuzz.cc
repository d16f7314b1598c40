// libFuzzer target: udp::Association's decisions (client admission, header parsing, reassembly,
// deny list, domain routing and its queue caps, the reply policy) on a sequence of client
// datagrams, lookup completions, sends, remote datagrams and clock steps, checked against a small
// model: which datagrams are admitted and which drop counter each refusal lands in, that no send
// goes to a refused destination (udp/destination.h: unspecified, the proxy's own endpoint, the
// deny list) and a name resolving to a mix goes to an allowed address, that lookup completions
// never release more than the queue caps, that a refused ("busy") lookup is not remembered, that
// the memory budget's charge always equals what the association holds and stays within the
// limit, and which remotes may answer. A second mode checks RemoteAdmission's bounded memory
// against an LRU model with a small capacity.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "protocol/address.h"
#include "protocol/udp_header.h"
#include "udp/association.h"
#include "udp/budget.h"
#include "udp/destination.h"
#include "udp/endpoint.h"
#include "udp/policy.h"

namespace {

namespace p = socks5::protocol;
namespace u = socks5::udp;
using Bytes = std::vector<std::uint8_t>;

void Check(bool condition) {
  if (!condition) std::abort();
}

const u::IpAddress kPeer(p::Ipv4{127, 0, 0, 1});

bool Denied(const u::IpAddress& ip) { return ip.v4() && (*ip.v4())[0] == 10; }
constexpr std::uint16_t kListenPort = 1003;  // the proxy's own port in the model
bool Loopback(const u::IpAddress& ip) {
  return ip.v4() ? (*ip.v4())[0] == 127
                 : *ip.v6() == p::Ipv6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
}
bool Unspecified(const u::IpAddress& ip) {
  return ip.v4() ? (*ip.v4())[0] == 0 : *ip.v6() == p::Ipv6{};
}
// The model of DestinationPolicy::Decide != kAllow.
bool Refused(const u::Endpoint& e) {
  return Unspecified(e.ip) || (e.port == kListenPort && Loopback(e.ip)) || Denied(e.ip);
}

u::IpAddress PickIp(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 6)) {
    case 5:
      return u::IpAddress(p::Ipv4{0, 0, 0, 0});
    case 6:
      return u::IpAddress(p::Ipv6{});
    case 0:
      return kPeer;
    case 1:
      return u::IpAddress(p::Ipv4{127, 0, 0, 2});
    case 2:
      return u::IpAddress(p::Ipv4{10, 0, 0, 1});  // denied
    case 3:  // the peer, IPv4-mapped: must compare equal to kPeer
      return u::IpAddress(p::Ipv6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1});
    default:
      return u::IpAddress(p::Ipv6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  }
}

u::Endpoint PickEndpoint(FuzzedDataProvider& in) {
  u::IpAddress ip = PickIp(in);
  return u::Endpoint{ip, in.ConsumeIntegralInRange<std::uint16_t>(1000, 1003)};
}

const char* const kNames[] = {"a.test", "A.TEST", "b.test", "c.test", "d.test"};

// Ports shared by destinations and remote sources, so that replies can come from a target sent
// to; 0 only matters in the request (the client's port is not known yet).
const std::uint16_t kPorts[] = {0, 1000, 1001, 1002, 1003};

p::Address PickDestination(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) {
    return p::Address{std::string(kNames[in.ConsumeIntegralInRange<int>(0, 4)]), 1000};
  }
  u::IpAddress ip = PickIp(in);
  p::Address a;
  if (ip.v4()) {
    a.host = *ip.v4();
  } else {
    a.host = *ip.v6();
  }
  a.port = kPorts[in.ConsumeIntegralInRange<int>(0, 4)];
  return a;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

void FuzzAssociation(FuzzedDataProvider& in) {
  u::AssociationOptions options;
  options.reply_policy = in.ConsumeBool() ? u::ReplyPolicy::kRestricted : u::ReplyPolicy::kFullCone;
  options.reassembly.max_bytes = in.ConsumeIntegralInRange<std::size_t>(1, 300);
  options.reassembly.max_fragments = in.ConsumeIntegralInRange<std::size_t>(1, 8);
  options.names.max_names = in.ConsumeIntegralInRange<std::size_t>(1, 4);
  options.names.max_queued = in.ConsumeIntegralInRange<std::size_t>(1, 6);
  options.names.max_queued_bytes = in.ConsumeIntegralInRange<std::size_t>(0, 400);
  auto destinations = std::make_shared<u::DestinationPolicy>();
  destinations->denied.push_back(u::IpPrefix{u::IpAddress(p::Ipv4{10, 0, 0, 0}), 8});
  destinations->listen_ports.insert(kListenPort);
  if (in.ConsumeBool()) options.destinations = destinations;
  const bool full_policy = options.destinations != nullptr;
  u::MemoryBudget budget(in.ConsumeIntegralInRange<std::size_t>(0, 1000));
  if (in.ConsumeBool()) options.memory_budget = &budget;
  auto refused = [full_policy](const u::Endpoint& e) {
    return full_policy ? Refused(e) : Unspecified(e.ip);
  };
  const p::Address requested = PickDestination(in);
  const std::size_t max_bytes = options.reassembly.max_bytes;
  const std::size_t max_queued = options.names.max_queued;
  const std::size_t max_queued_bytes = options.names.max_queued_bytes;
  const u::ReplyPolicy policy = options.reply_policy;
  u::Association association(kPeer, requested, options);

  // Model of the client's port (F2, F14): the request's port is a hint when it names the client's
  // own IP, an unspecified one or a name; the first datagram from the client's IP locks its port
  // (for good without a hint); the hinted port sending takes over and locks for good.
  std::optional<std::uint16_t> hint;
  if (requested.port != 0) {
    std::optional<u::IpAddress> named = u::IpAddress::FromAddress(requested);
    if (!named || named->is_unspecified() || *named == kPeer) hint = requested.port;
  }
  std::optional<std::uint16_t> locked;
  bool fixed = false;
  auto client_port = [&]() { return locked ? locked : hint; };
  std::set<std::string> lookups;  // names the association asked the caller to resolve
  std::vector<u::Endpoint> sent;  // endpoints the caller sent to, for the reply policy
  std::chrono::steady_clock::time_point now{};

  auto send = [&](const u::Endpoint& target, std::size_t bytes) {
    Check(!refused(target));
    association.Sent(target, bytes);
    if (std::find(sent.begin(), sent.end(), target) == sent.end()) sent.push_back(target);
  };

  while (in.remaining_bytes() > 0) {
    u::AssociationCounters before = association.counters();
    switch (in.ConsumeIntegralInRange<int>(0, 9)) {
      case 0:
        now += std::chrono::milliseconds(in.ConsumeIntegralInRange<int>(0, 40000));
        association.OnReassemblyTimer(now);
        break;
      case 1: {  // a lookup finishes
        if (lookups.empty()) break;
        auto it = lookups.begin();
        std::advance(it, in.ConsumeIntegralInRange<std::size_t>(0, lookups.size() - 1));
        std::string name = *it;
        lookups.erase(it);
        std::vector<u::IpAddress> answers;
        int n = in.ConsumeIntegralInRange<int>(0, 3);
        for (int i = 0; i < n; ++i) answers.push_back(PickIp(in));
        const bool busy = in.ConsumeIntegralInRange<int>(0, 3) == 0;
        std::vector<u::Association::Outbound> out = association.Resolved(name, answers, now, busy);
        Check(out.size() <= max_queued);
        // The address cached: the first one allowed by the port-free rules, else the first.
        std::optional<u::IpAddress> chosen;
        for (const auto& ip : answers) {
          if (!refused(u::Endpoint{ip, 0})) {
            chosen = ip;
            break;
          }
        }
        if (!chosen && !answers.empty()) chosen = answers.front();
        std::size_t bytes = 0;
        for (const auto& o : out) {
          bytes += o.payload.size();
          Check(!busy && chosen && o.target.ip == *chosen);
          send(o.target, o.payload.size());
        }
        Check(bytes <= max_queued_bytes);
        if (busy || answers.empty()) Check(out.empty());
        if (!busy) {
          Check(association.counters().drop(u::Drop::kDnsBusy) == before.drop(u::Drop::kDnsBusy));
        }
        break;
      }
      case 2: {  // a remote answers
        u::Endpoint source = PickEndpoint(in);
        std::optional<u::Endpoint> to = association.FromRemote(source);
        const std::optional<std::uint16_t> port = client_port();
        bool admitted =
            port.has_value() && (policy == u::ReplyPolicy::kFullCone ||
                                 std::find(sent.begin(), sent.end(), source) != sent.end());
        Check(to.has_value() == admitted);
        if (to) {
          Check(*to == (u::Endpoint{kPeer, *port}));
          association.Delivered(in.ConsumeIntegralInRange<std::size_t>(0, 100));
        } else {
          Check(association.counters().drop(u::Drop::kUnsolicited) ==
                before.drop(u::Drop::kUnsolicited) + 1);
        }
        break;
      }
      default: {  // a client datagram: raw bytes, or a well-formed header (mostly FRAG 0)
        u::Endpoint source = PickEndpoint(in);
        Bytes wire;
        if (in.ConsumeIntegralInRange<int>(0, 4) == 0) {
          wire = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 40));
        } else {
          std::uint8_t frag = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint8_t>();
          wire.resize(p::kMaxUdpHeaderSize);
          wire.resize(p::EncodeUdpHeader(p::UdpHeader{frag, PickDestination(in)}, wire));
          Bytes payload =
              in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 120));
          wire.insert(wire.end(), payload.begin(), payload.end());
        }
        std::optional<p::UdpDatagram> parsed = p::ParseUdpDatagram(wire);
        u::Association::Step step = association.FromClient(source, wire, now);
        const u::AssociationCounters& after = association.counters();
        auto grew = [&](u::Drop d) { return after.drop(d) == before.drop(d) + 1; };

        // Admission, as the model predicts.
        bool admitted = false;
        if (!parsed) {
          Check(grew(source.ip == kPeer ? u::Drop::kMalformed : u::Drop::kForeignIp));
        } else if (source.ip != kPeer) {
          Check(grew(u::Drop::kForeignIp));
        } else if (locked && (fixed || source.port == *locked)) {
          if (source.port == *locked) {
            admitted = true;
          } else {
            Check(grew(u::Drop::kWrongPort));
          }
        } else if (hint && source.port == *hint) {  // the hinted endpoint takes over
          admitted = true;
          locked = source.port;
          fixed = true;
        } else if (locked) {
          Check(grew(u::Drop::kWrongPort));
        } else {
          admitted = true;
          locked = source.port;
          fixed = !hint;
        }
        if (!admitted) Check(step.kind == u::Association::Step::Kind::kNone);
        const std::optional<std::uint16_t> port = client_port();
        Check(association.client() ==
              (port ? std::optional<u::Endpoint>(u::Endpoint{kPeer, *port}) : std::nullopt));

        if (step.kind == u::Association::Step::Kind::kSend) {
          Check(step.payload.size() <= std::max(wire.size(), max_bytes));
          if (parsed->header.frag == 0) {
            Check(step.payload.size() == parsed->payload.size() &&
                  std::equal(step.payload.begin(), step.payload.end(), parsed->payload.begin()));
          }
          send(step.target, step.payload.size());
        } else if (step.kind == u::Association::Step::Kind::kResolve) {
          Check(!step.name.empty());
          Check(lookups.insert(Lower(step.name)).second);  // one lookup per name in flight
        }
        break;
      }
    }
    // Every refusal is counted once, in one counter.
    std::uint64_t total_before = 0, total_after = 0;
    for (std::size_t i = 0; i < u::kDropKinds; ++i) {
      total_before += before.drops[i];
      total_after += association.counters().drops[i];
    }
    Check(total_after <= total_before + max_queued + 1);
    Check(association.counters().dgrams_up >= before.dgrams_up);
    // The charge follows what is held, exactly, and never passes the budget.
    Check(association.charged_bytes() == association.held_bytes());
    if (options.memory_budget) {
      Check(budget.used() == association.held_bytes());
      Check(budget.used() <= budget.limit());
    } else {
      Check(budget.used() == 0);
    }
  }
}

// RemoteAdmission under kRestricted with a small capacity, against an LRU list.
void FuzzRemoteAdmission(FuzzedDataProvider& in) {
  std::size_t capacity = in.ConsumeIntegralInRange<std::size_t>(1, 5);
  u::RemoteAdmission remotes(u::ReplyPolicy::kRestricted, capacity);
  std::list<u::Endpoint> lru;  // most recent first
  while (in.remaining_bytes() > 0) {
    u::Endpoint e = PickEndpoint(in);
    if (in.ConsumeBool()) {
      remotes.NoteSent(e);
      lru.remove(e);
      lru.push_front(e);
      if (lru.size() > capacity) lru.pop_back();
    } else {
      Check(remotes.Admit(e) == (std::find(lru.begin(), lru.end(), e) != lru.end()));
    }
    Check(remotes.size() == lru.size() && remotes.size() <= capacity);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    FuzzRemoteAdmission(in);
  } else {
    FuzzAssociation(in);
  }
  return 0;
}
