#include "protocol/messages.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

#include "protocol/wire.h"

namespace socks5::protocol {
namespace {

using Bytes = std::span<const std::uint8_t>;

template <typename T>
ParseResult<T> NeedMore() {
  return ParseResult<T>{};
}

template <typename T>
ParseResult<T> Invalid(std::optional<Reply> reply) {
  ParseResult<T> result;
  result.status = ParseStatus::kInvalid;
  result.reply = reply;
  return result;
}

template <typename T>
ParseResult<T> Complete(T value, std::size_t consumed) {
  ParseResult<T> result;
  result.status = ParseStatus::kComplete;
  result.value = std::move(value);
  result.consumed = consumed;
  return result;
}

std::string ToString(Bytes bytes) { return std::string(bytes.begin(), bytes.end()); }

bool IsKnownCommand(std::uint8_t cmd) {
  return cmd == static_cast<std::uint8_t>(Command::kConnect) ||
         cmd == static_cast<std::uint8_t>(Command::kBind) ||
         cmd == static_cast<std::uint8_t>(Command::kUdpAssociate) ||
         cmd == static_cast<std::uint8_t>(Command::kResolve) ||
         cmd == static_cast<std::uint8_t>(Command::kResolvePtr);
}

// Writes the whole message with `write`, or nothing useful: 0 when it did not fit.
template <typename WriteFn>
std::size_t Encode(std::span<std::uint8_t> out, WriteFn write) {
  Writer w(out);
  write(w);
  return w.ok() ? w.written() : 0;
}

bool IsEncodable(const Address& a) {
  const auto* domain = std::get_if<std::string>(&a.host);
  return domain == nullptr || (!domain->empty() && domain->size() <= 255);
}

Bytes AsBytes(const std::string& s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// ATYP DST.ADDR DST.PORT; the caller has checked IsEncodable().
void WriteAddress(const Address& a, Writer& w) {
  w.U8(static_cast<std::uint8_t>(a.type()));
  if (const auto* v4 = std::get_if<Ipv4>(&a.host)) {
    w.Bytes(*v4);
  } else if (const auto* v6 = std::get_if<Ipv6>(&a.host)) {
    w.Bytes(*v6);
  } else {
    const auto& domain = std::get<std::string>(a.host);
    w.U8(static_cast<std::uint8_t>(domain.size()));
    w.Bytes(AsBytes(domain));
  }
  w.U16(a.port);
}

}  // namespace

const char* CommandName(Command c) {
  switch (c) {
    case Command::kConnect:
      return "CONNECT";
    case Command::kBind:
      return "BIND";
    case Command::kUdpAssociate:
      return "UDP_ASSOCIATE";
    case Command::kResolve:
      return "RESOLVE";
    case Command::kResolvePtr:
      return "RESOLVE_PTR";
  }
  return "UNKNOWN";
}

// ---- Method negotiation ----

ParseResult<Greeting> ParseGreeting(std::span<const std::uint8_t> in) {
  Reader r(in);
  std::uint8_t version = 0;
  if (!r.U8(version)) return NeedMore<Greeting>();
  if (version != kSocksVersion) return Invalid<Greeting>(std::nullopt);
  std::uint8_t count = 0;
  if (!r.U8(count)) return NeedMore<Greeting>();
  Bytes methods;
  if (!r.Bytes(count, methods)) return NeedMore<Greeting>();
  return Complete(Greeting{std::vector<std::uint8_t>(methods.begin(), methods.end())},
                  r.consumed());
}

std::uint8_t ChooseMethod(const Greeting& greeting, AuthPolicy policy) {
  auto offered = [&](std::uint8_t method) {
    return std::find(greeting.methods.begin(), greeting.methods.end(), method) !=
           greeting.methods.end();
  };
  switch (policy) {
    case AuthPolicy::kUsersFile:
      return offered(kMethodUserPass) ? kMethodUserPass : kMethodNoAcceptable;
    case AuthPolicy::kNoUsers:
      if (offered(kMethodNoAuth)) return kMethodNoAuth;
      return offered(kMethodUserPass) ? kMethodUserPass : kMethodNoAcceptable;
    case AuthPolicy::kAnyCredentials:
      if (offered(kMethodUserPass)) return kMethodUserPass;
      return offered(kMethodNoAuth) ? kMethodNoAuth : kMethodNoAcceptable;
  }
  return kMethodNoAcceptable;
}

std::size_t EncodeGreeting(const Greeting& g, std::span<std::uint8_t> out) {
  if (g.methods.size() > 255) return 0;
  return Encode(out, [&](Writer& w) {
    w.U8(kSocksVersion);
    w.U8(static_cast<std::uint8_t>(g.methods.size()));
    w.Bytes(g.methods);
  });
}

std::size_t EncodeMethodSelection(std::uint8_t method, std::span<std::uint8_t> out) {
  return Encode(out, [&](Writer& w) {
    w.U8(kSocksVersion);
    w.U8(method);
  });
}

// ---- Username/password ----

ParseResult<UserPass> ParseUserPass(std::span<const std::uint8_t> in) {
  Reader r(in);
  std::uint8_t version = 0;
  if (!r.U8(version)) return NeedMore<UserPass>();
  if (version != kUserPassVersion) return Invalid<UserPass>(Reply::kGeneralFailure);
  std::uint8_t username_length = 0;
  if (!r.U8(username_length)) return NeedMore<UserPass>();
  if (username_length == 0) return Invalid<UserPass>(Reply::kGeneralFailure);
  Bytes username;
  if (!r.Bytes(username_length, username)) return NeedMore<UserPass>();
  std::uint8_t password_length = 0;
  if (!r.U8(password_length)) return NeedMore<UserPass>();
  if (password_length == 0) return Invalid<UserPass>(Reply::kGeneralFailure);
  Bytes password;
  if (!r.Bytes(password_length, password)) return NeedMore<UserPass>();
  return Complete(UserPass{ToString(username), ToString(password)}, r.consumed());
}

std::size_t EncodeUserPass(const UserPass& up, std::span<std::uint8_t> out) {
  if (up.username.empty() || up.username.size() > 255) return 0;
  if (up.password.empty() || up.password.size() > 255) return 0;
  return Encode(out, [&](Writer& w) {
    w.U8(kUserPassVersion);
    w.U8(static_cast<std::uint8_t>(up.username.size()));
    w.Bytes(AsBytes(up.username));
    w.U8(static_cast<std::uint8_t>(up.password.size()));
    w.Bytes(AsBytes(up.password));
  });
}

std::size_t EncodeAuthStatus(bool success, std::span<std::uint8_t> out) {
  return Encode(out, [&](Writer& w) {
    w.U8(kUserPassVersion);
    w.U8(success ? 0x00 : 0x01);
  });
}

// ---- Addresses ----

ParseResult<Address> ParseAddress(std::span<const std::uint8_t> in) {
  Reader r(in);
  std::uint8_t type = 0;
  if (!r.U8(type)) return NeedMore<Address>();
  Address address;
  switch (static_cast<AddressType>(type)) {
    case AddressType::kIPv4: {
      Bytes ip;
      if (!r.Bytes(4, ip)) return NeedMore<Address>();
      Ipv4 v4;
      std::copy(ip.begin(), ip.end(), v4.begin());
      address.host = v4;
      break;
    }
    case AddressType::kIPv6: {
      Bytes ip;
      if (!r.Bytes(16, ip)) return NeedMore<Address>();
      Ipv6 v6;
      std::copy(ip.begin(), ip.end(), v6.begin());
      address.host = v6;
      break;
    }
    case AddressType::kDomain: {
      std::uint8_t length = 0;
      if (!r.U8(length)) return NeedMore<Address>();
      if (length == 0) return Invalid<Address>(Reply::kGeneralFailure);
      Bytes name;
      if (!r.Bytes(length, name)) return NeedMore<Address>();
      // A NUL would cut the name short in any C API downstream (docs/conformance.md C10).
      if (std::find(name.begin(), name.end(), 0) != name.end()) {
        return Invalid<Address>(Reply::kGeneralFailure);
      }
      address.host = ToString(name);
      break;
    }
    default:
      return Invalid<Address>(Reply::kAddressTypeNotSupported);
  }
  if (!r.U16(address.port)) return NeedMore<Address>();
  return Complete(std::move(address), r.consumed());
}

std::size_t EncodeAddress(const Address& a, std::span<std::uint8_t> out) {
  if (!IsEncodable(a)) return 0;
  return Encode(out, [&](Writer& w) { WriteAddress(a, w); });
}

// ---- Requests ----

ParseResult<Request> ParseRequest(std::span<const std::uint8_t> in) {
  Reader r(in);
  std::uint8_t version = 0;
  if (!r.U8(version)) return NeedMore<Request>();
  if (version != kSocksVersion) return Invalid<Request>(std::nullopt);
  std::uint8_t command = 0;
  if (!r.U8(command)) return NeedMore<Request>();
  if (!IsKnownCommand(command)) return Invalid<Request>(Reply::kCommandNotSupported);
  std::uint8_t reserved = 0;  // not checked: docs/conformance.md C11
  if (!r.U8(reserved)) return NeedMore<Request>();

  auto address = ParseAddress(in.subspan(r.consumed()));
  if (address.status == ParseStatus::kNeedMore) return NeedMore<Request>();
  if (address.status == ParseStatus::kInvalid) return Invalid<Request>(address.reply);
  return Complete(Request{static_cast<Command>(command), std::move(address.value)},
                  r.consumed() + address.consumed);
}

std::size_t EncodeRequest(const Request& req, std::span<std::uint8_t> out) {
  if (!IsEncodable(req.destination)) return 0;
  return Encode(out, [&](Writer& w) {
    w.U8(kSocksVersion);
    w.U8(static_cast<std::uint8_t>(req.command));
    w.U8(0x00);  // RSV
    WriteAddress(req.destination, w);
  });
}

std::optional<Address> PtrQueryAddress(const Address& destination) {
  Address query;
  if (const auto* name = std::get_if<std::string>(&destination.host)) {
    // inet_pton wants a C string; a literal is at most 45 bytes (the parser refused NULs).
    if (name->size() > 45) return std::nullopt;
    Ipv4 v4{};
    Ipv6 v6{};
    if (inet_pton(AF_INET, name->c_str(), v4.data()) == 1) {
      query.host = v4;
    } else if (inet_pton(AF_INET6, name->c_str(), v6.data()) == 1) {
      query.host = v6;
    } else {
      return std::nullopt;
    }
  } else {
    query.host = destination.host;
  }
  if (const auto* v6 = std::get_if<Ipv6>(&query.host)) {
    static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(v6->data(), kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
      query.host = Ipv4{(*v6)[12], (*v6)[13], (*v6)[14], (*v6)[15]};
    }
  }
  query.port = destination.port;
  return query;
}

// ---- Replies ----

std::size_t EncodeReply(Reply rep, const Address& bound, std::span<std::uint8_t> out) {
  if (!IsEncodable(bound)) return 0;
  return Encode(out, [&](Writer& w) {
    w.U8(kSocksVersion);
    w.U8(static_cast<std::uint8_t>(rep));
    w.U8(0x00);  // RSV
    WriteAddress(bound, w);
  });
}

ParseResult<ReplyMessage> ParseReply(std::span<const std::uint8_t> in) {
  Reader r(in);
  std::uint8_t version = 0;
  if (!r.U8(version)) return NeedMore<ReplyMessage>();
  if (version != kSocksVersion) return Invalid<ReplyMessage>(std::nullopt);
  std::uint8_t reply = 0;
  if (!r.U8(reply)) return NeedMore<ReplyMessage>();
  if (reply > static_cast<std::uint8_t>(Reply::kAddressTypeNotSupported)) {
    return Invalid<ReplyMessage>(std::nullopt);
  }
  std::uint8_t reserved = 0;
  if (!r.U8(reserved)) return NeedMore<ReplyMessage>();

  auto address = ParseAddress(in.subspan(r.consumed()));
  if (address.status == ParseStatus::kNeedMore) return NeedMore<ReplyMessage>();
  if (address.status == ParseStatus::kInvalid) return Invalid<ReplyMessage>(std::nullopt);
  return Complete(ReplyMessage{static_cast<Reply>(reply), std::move(address.value)},
                  r.consumed() + address.consumed);
}

}  // namespace socks5::protocol
