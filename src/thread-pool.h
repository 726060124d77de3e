// A small pool of worker threads for the kernels. The calling thread always takes a share of the
// work. Idle workers sleep on a condition variable; after a job a worker polls for the next one
// first: ~30 us, or up to ~300 us while a Pass is open (the operators of one forward pass follow
// each other closely). Nothing spins between calls.
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

  // Open around a forward pass: a series of parallel_for calls with short serial work between
  // them. While one is open, a worker polls up to ~300 us for its next job, and the caller as
  // long for the workers' last tasks, instead of falling asleep after ~30 us: on a virtual
  // machine a sleeping core took long to wake (ViT-B/32 int8 image, 2 threads, in bench/node:
  // 50.6-58.1 ms without, 45.5-47.4 with). Not where the pool has more threads than the machine
  // has cores: there a polling thread holds a core that another one needs (4 threads on 2 cores:
  // 56.8-60.1 ms without, 91.0-95.3 with a ~3 ms poll). A null pool is allowed; passes may nest,
  // and each closes before its pool is destroyed.
  class Pass {
   public:
    explicit Pass(ThreadPool* pool) : pool_(pool) {
      if (pool_) pool_->passes_.fetch_add(1, std::memory_order_relaxed);
    }
    ~Pass() {
      if (pool_) pool_->passes_.fetch_sub(1, std::memory_order_relaxed);
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

   private:
    ThreadPool* pool_;
  };

 private:
  void worker_loop();
  void stop_workers();  // wakes every worker to exit and joins it
  // Whether a thread that has polled `iteration` times for something to happen polls on.
  bool keep_polling(int iteration) const;
  // Claims and runs tasks of job `generation` until none is left.
  void run_tasks(uint32_t generation, const std::function<void(size_t)>& task, size_t count);

  int threads_;      // asked for, the caller included
  bool polls_long_;  // in a Pass: when every thread can have a core of its own
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
  std::atomic<int> passes_{0};  // open Pass objects
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
