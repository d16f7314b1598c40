#include "udp/policy.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace socks5::udp {

const char* AdmissionName(Admission a) {
  switch (a) {
    case Admission::kAccept:
      return "accept";
    case Admission::kDropForeignIp:
      return "foreign_ip";
    case Admission::kDropWrongPort:
      return "wrong_port";
  }
  return "?";
}

ClientAdmission::ClientAdmission(const IpAddress& control_peer, const protocol::Address& requested)
    : client_ip_(control_peer) {
  if (requested.port == 0) return;
  std::optional<IpAddress> named = IpAddress::FromAddress(requested);
  if (!named || named->is_unspecified() || *named == control_peer) named_port_ = requested.port;
}

Admission ClientAdmission::Admit(const Endpoint& source) {
  if (source.ip != client_ip_) return Admission::kDropForeignIp;  // absolute (s.7)
  if (port_ && (fixed_ || source.port == *port_)) {
    return source.port == *port_ ? Admission::kAccept : Admission::kDropWrongPort;
  }
  if (named_port_ && source.port == *named_port_) {
    // The endpoint the request named: it wins over a port locked before it sent, for good.
    port_ = source.port;
    fixed_ = true;
    return Admission::kAccept;
  }
  if (port_) return Admission::kDropWrongPort;  // locked onto another port already
  // The first datagram from the client's IP: its port, until the named endpoint (if any) sends.
  port_ = source.port;
  fixed_ = !named_port_;
  return Admission::kAccept;
}

std::optional<Endpoint> ClientAdmission::client() const {
  if (port_) return Endpoint{client_ip_, *port_};
  if (named_port_) return Endpoint{client_ip_, *named_port_};
  return std::nullopt;
}

absl::StatusOr<ReplyPolicy> ParseReplyPolicy(absl::string_view text) {
  if (text == "restricted") return ReplyPolicy::kRestricted;
  if (text == "full_cone") return ReplyPolicy::kFullCone;
  return absl::InvalidArgumentError(
      absl::StrCat("UDP reply policy \"", text, "\" is not one of: restricted, full_cone"));
}

const char* ReplyPolicyName(ReplyPolicy policy) {
  return policy == ReplyPolicy::kRestricted ? "restricted" : "full_cone";
}

RemoteAdmission::RemoteAdmission(ReplyPolicy policy, std::size_t capacity)
    : policy_(policy), capacity_(std::max<std::size_t>(capacity, 1)) {}

void RemoteAdmission::NoteSent(const Endpoint& destination) {
  if (policy_ == ReplyPolicy::kFullCone) return;  // nothing to remember
  if (auto it = index_.find(destination); it != index_.end()) {
    recent_.splice(recent_.begin(), recent_, it->second);
    return;
  }
  if (index_.size() == capacity_) {
    index_.erase(recent_.back());
    recent_.pop_back();
  }
  recent_.push_front(destination);
  index_.emplace(destination, recent_.begin());
}

bool RemoteAdmission::Admit(const Endpoint& source) const {
  return policy_ == ReplyPolicy::kFullCone || index_.contains(source);
}

}  // namespace socks5::udp
