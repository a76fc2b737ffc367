// Errors that carry context upward: every fallible runtime function returns a Result.
// Only main() turns an Error into an exit code (see ErrorKind).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace llmrt {

// The exit code each kind of failure ends with (PRODUCT.md, "Exit codes").
enum class ErrorKind : int {
  kRuntime = 1,  // something failed while running
  kInput = 2,    // usage, config or plugin error: nothing was started
  kHang = 3,     // a rank hung or died; every rank stopped on the watchdog
  kInterrupted = 130,  // SIGINT/SIGTERM stopped training with nothing kept (128 + SIGINT, as shells say)
};

class Error {
 public:
  Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  ErrorKind kind() const { return kind_; }
  int exit_code() const { return static_cast<int>(kind_); }
  const std::string& message() const { return message_; }

  // Prefixes the message with where it happened: "loading plugin x.so: <message>".
  Error with_context(std::string_view context) const {
    return Error(kind_, fmt::format("{}: {}", context, message_));
  }

 private:
  ErrorKind kind_;
  std::string message_;
};

template <typename... Args>
Error input_error(fmt::format_string<Args...> format, Args&&... args) {
  return Error(ErrorKind::kInput, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
Error runtime_error(fmt::format_string<Args...> format, Args&&... args) {
  return Error(ErrorKind::kRuntime, fmt::format(format, std::forward<Args>(args)...));
}

// A value or the Error that prevented it.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(state_); }
  const T& value() const& { assert(ok()); return std::get<0>(state_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Success or the Error that prevented it.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}
  static Status success() { return Status(); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(failed_); return error_; }

 private:
  Error error_{ErrorKind::kRuntime, ""};
  bool failed_ = false;
};

}  // namespace llmrt

#define LLMRT_CONCAT_INNER_(a, b) a##b
#define LLMRT_CONCAT_(a, b) LLMRT_CONCAT_INNER_(a, b)

// Returns the error of a failed Status or Result from the enclosing function.
#define LLMRT_RETURN_IF_ERROR(expr)                                    \
  do {                                                                 \
    auto llmrt_status_ = (expr);                                       \
    if (!llmrt_status_.ok()) return llmrt_status_.error();             \
  } while (0)

// The same, with context prefixed to the message: LLMRT_RETURN_IF_ERROR_CTX(read(x), "reading {}", path).
#define LLMRT_RETURN_IF_ERROR_CTX(expr, ...)                                                    \
  do {                                                                                          \
    auto llmrt_status_ = (expr);                                                                \
    if (!llmrt_status_.ok()) return llmrt_status_.error().with_context(fmt::format(__VA_ARGS__)); \
  } while (0)

// Declares `lhs` from a Result's value, or returns its error:
//   LLMRT_ASSIGN_OR_RETURN(auto spec, read_spec(path, overrides));
#define LLMRT_ASSIGN_OR_RETURN(lhs, expr) \
  LLMRT_ASSIGN_OR_RETURN_IMPL_(LLMRT_CONCAT_(llmrt_result_, __LINE__), lhs, expr)
#define LLMRT_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                 \
  if (!result.ok()) return result.error();              \
  lhs = std::move(result).value()

// The same, with context prefixed to the message.
#define LLMRT_ASSIGN_OR_RETURN_CTX(lhs, expr, ...) \
  LLMRT_ASSIGN_OR_RETURN_CTX_IMPL_(LLMRT_CONCAT_(llmrt_result_, __LINE__), lhs, expr, __VA_ARGS__)
#define LLMRT_ASSIGN_OR_RETURN_CTX_IMPL_(result, lhs, expr, ...)                        \
  auto result = (expr);                                                                \
  if (!result.ok()) return result.error().with_context(fmt::format(__VA_ARGS__));      \
  lhs = std::move(result).value()
