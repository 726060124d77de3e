// A small pool of worker threads for the kernels. The calling thread always takes a share of the
// work. Idle workers sleep on a condition variable; after a job a worker polls ~30 us for the next
// one first (operators within one forward pass follow each other closely), so nothing spins
// between calls.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace clip {

class ThreadPool {
 public:
  // threads = total threads including the caller; 0 = hardware concurrency. With start = false
  // the workers wait for start(), and until then every job runs on the calling thread.
  explicit ThreadPool(int threads = 0, bool start = true);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Starts the workers of a pool made with start = false; does nothing once they run. Not to be
  // called while a parallel_for runs.
  void start();
  // The threads running jobs: the caller and the started workers.
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs task(i) for i in [0, count), spread over the pool; returns when all are done. Indices
  // are handed out one at a time, so uneven tasks balance. If tasks throw, the first exception
  // is rethrown here once all tasks have finished. Calls from different threads take turns; a
  // call made from inside a task runs inline on that thread.
  void parallel_for(size_t count, const std::function<void(size_t)>& task);

 private:
  void worker_loop();
  void stop_workers();  // wakes every worker to exit and joins it
  // Claims and runs tasks of job `generation` until none is left.
  void run_tasks(uint32_t generation, const std::function<void(size_t)>& task, size_t count);

  int threads_;  // asked for, the caller included
  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one parallel_for at a time
  std::mutex mutex_;
  std::condition_variable wake_;  // workers: a new job or stop
  std::condition_variable done_;  // caller: the last task finished
  const std::function<void(size_t)>* task_ = nullptr;
  size_t task_count_ = 0;
  uint32_t generation_ = 0;
  bool stopping_ = false;
  // (generation << 32) | next index: a worker that wakes late for an old job cannot claim
  // an index of the new one.
  std::atomic<uint64_t> next_{0};
  std::atomic<size_t> finished_{0};
  std::exception_ptr error_;
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
