// A small pool of worker threads for the kernels. The calling thread always takes a share of the
// work, and idle workers sleep on a condition variable: nothing spins between calls.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace clip {

class ThreadPool {
 public:
  // threads = total threads including the caller; 0 = hardware concurrency.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs task(i) for i in [0, count), spread over the pool; returns when all are done.
  void parallel_for(size_t count, const std::function<void(size_t)>& task);

 private:
  void worker_loop(size_t worker_index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(size_t)>* task_ = nullptr;
  size_t task_count_ = 0;
  size_t next_index_ = 0;
  size_t busy_workers_ = 0;
  unsigned generation_ = 0;
  bool stopping_ = false;
};

// Runs on the pool when there is one, inline otherwise.
inline void parallel_for(ThreadPool* pool, size_t count, const std::function<void(size_t)>& task) {
  if (pool && pool->size() > 1 && count > 1) {
    pool->parallel_for(count, task);
  } else {
    for (size_t i = 0; i < count; ++i) task(i);
  }
}

}  // namespace clip
