#include "thread-pool.h"

#include <algorithm>

namespace clip {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) {
    workers_.emplace_back([this, i] { worker_loop(static_cast<size_t>(i)); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::parallel_for(size_t count, const std::function<void(size_t)>& task) {
  std::unique_lock<std::mutex> lock(mutex_);
  task_ = &task;
  task_count_ = count;
  next_index_ = 0;
  busy_workers_ = workers_.size();
  ++generation_;
  wake_.notify_all();
  // The caller works too, claiming indices under the lock like the workers.
  while (next_index_ < task_count_) {
    size_t index = next_index_++;
    lock.unlock();
    task(index);
    lock.lock();
  }
  done_.wait(lock, [this] { return busy_workers_ == 0; });
  task_ = nullptr;
}

void ThreadPool::worker_loop(size_t) {
  unsigned seen_generation = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
    if (stopping_) return;
    seen_generation = generation_;
    while (next_index_ < task_count_) {
      size_t index = next_index_++;
      lock.unlock();
      (*task_)(index);
      lock.lock();
    }
    if (--busy_workers_ == 0) done_.notify_one();
  }
}

}  // namespace clip
