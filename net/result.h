// Result<T>: a value or the std::error_code that explains why there is none. The one shape for
// "value or error" in the I/O layers (C++20 has no std::expected; the errors here are Asio's and
// the resolver's error_codes, so absl::StatusOr would lose their category). Pure start-up parsing
// returns absl::StatusOr, whose messages go to the operator.
#ifndef SOCKS5_NET_RESULT_H_
#define SOCKS5_NET_RESULT_H_

#include <cassert>
#include <optional>
#include <system_error>
#include <utility>

namespace socks5::net {

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  // `error` must be set.
  Result(std::error_code error) : error_(error) {  // NOLINT(google-explicit-constructor)
    assert(error_);
  }

  bool ok() const { return value_.has_value(); }
  const std::error_code& error() const { return error_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::error_code error_;
  std::optional<T> value_;
};

}  // namespace socks5::net

#endif  // SOCKS5_NET_RESULT_H_
