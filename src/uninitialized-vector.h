// A std::vector whose elements start uninitialized, for buffers that are filled right after they
// are allocated (weights being converted or packed at load): zeroing them first would be one more
// pass over hundreds of megabytes, and the largest single cost of loading a model.
#pragma once

#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace clip {

template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}

  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;  // default-initialized: no zeroing for scalars
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <typename T>
using UninitializedVector = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace clip
