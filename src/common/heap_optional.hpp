// An optional whose value lives on the heap, so it costs one pointer while
// empty. For state that exists only during one exchange, held by objects that
// stay around by the hundred thousand (an idle IKE SA carries three of them).
#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace mobiked {

template <typename T>
class HeapOptional {
public:
    HeapOptional() = default;
    HeapOptional(HeapOptional&&) noexcept = default;
    HeapOptional& operator=(HeapOptional&&) noexcept = default;
    HeapOptional& operator=(T&& value) {
        if (value_) *value_ = std::move(value);
        else value_ = std::make_unique<T>(std::move(value));
        return *this;
    }
    HeapOptional& operator=(std::optional<T>&& value) {
        if (value) return *this = std::move(*value);
        reset();
        return *this;
    }

    explicit operator bool() const { return value_ != nullptr; }
    bool has_value() const { return value_ != nullptr; }
    T& operator*() { return *value_; }
    const T& operator*() const { return *value_; }
    T* operator->() { return value_.get(); }
    const T* operator->() const { return value_.get(); }
    void reset() { value_.reset(); }

private:
    std::unique_ptr<T> value_;
};

}  // namespace mobiked
