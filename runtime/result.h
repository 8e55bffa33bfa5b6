// Result<T>: an expected outcome as a value. Failures callers must handle (bad files, unsupported
// ops, shape mismatches) come back as an Error with a message that names what and where;
// exceptions are kept for faults nobody can handle locally (out of memory).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace cleave {

struct Error {
  std::string message;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}
  Result(Error error) : state_(std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

// Propagate an error from an expression returning Result<...>.
#define CLEAVE_TRY(expr)                                   \
  do {                                                     \
    auto&& cleave_try_result_ = (expr);                    \
    if (!cleave_try_result_) return cleave_try_result_.error(); \
  } while (0)

}  // namespace cleave
