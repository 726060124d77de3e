#include "thread-pool.h"

#include <algorithm>
#include <system_error>

#include "common.h"

namespace clip {

ThreadPool::ThreadPool(int threads, bool start)
    : threads_(threads > 0 ? threads
                           : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
      polls_long_(static_cast<unsigned>(threads_) <= std::thread::hardware_concurrency()) {
  if (start) this->start();
}

void ThreadPool::start() {
  if (!workers_.empty()) return;
  try {
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
  } catch (const std::system_error& error) {
    // The workers started so far wait on wake_: stop them before the members go away.
    const size_t started = workers_.size();
    stop_workers();
    fail("thread pool: could not start thread ", started + 2, " of ", threads_, " (", error.what(),
         ")");
  }
}

ThreadPool::~ThreadPool() {
  stop_workers();
}

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
}

namespace {
// How long a thread polls before it blocks: a worker for the next job after finishing one, the
// caller for the workers' last tasks. The operators of one forward pass start microseconds
// apart, so a poll saves a futex sleep and wake-up per operator (~84 per text embedding); between
// calls it runs out and every worker sleeps. About 30 us of atomic loads, and ~300 us within a
// Pass: serial work between two operators (quantizing activations, a layer norm) can outlast
// 30 us. (Polls of ~1 and ~3 ms were no faster: int8 image at 2 threads, 45-49 ms for all three.)
constexpr int kPollIterations = 20000;
constexpr int kPassPollIterations = 200000;

// Set while this thread runs a pool task: a nested parallel_for then runs inline instead of
// waiting for workers that are busy with the outer call.
thread_local bool t_in_task = false;
}  // namespace

void ThreadPool::parallel_for(size_t count, const std::function<void(size_t)>& task) {
  if (count == 0) return;
  if (t_in_task) {
    for (size_t i = 0; i < count; ++i) task(i);
    return;
  }
  if (count > 0xffffffffu) fail("ThreadPool::parallel_for: ", count, " tasks, over the 2^32 limit");
  std::lock_guard<std::mutex> call(call_mutex_);
  uint32_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = ++generation_;
    task_ = &task;
    task_count_ = count;
    error_ = nullptr;
    finished_.store(0, std::memory_order_relaxed);
    next_.store(uint64_t{generation} << 32, std::memory_order_release);
  }
  wake_.notify_all();
  run_tasks(generation, task, count);
  for (int i = 0; keep_polling(i) && finished_.load(std::memory_order_acquire) != count; ++i) {
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) == count; });
  task_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

bool ThreadPool::keep_polling(int iteration) const {
  return iteration < kPollIterations || (iteration < kPassPollIterations && polls_long_ &&
                                         passes_.load(std::memory_order_relaxed) > 0);
}

void ThreadPool::run_tasks(uint32_t generation, const std::function<void(size_t)>& task,
                           size_t count) {
  uint64_t claim = next_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(claim >> 32) != generation || (claim & 0xffffffffu) >= count) return;
    if (!next_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel)) continue;
    try {
      t_in_task = true;
      task(static_cast<size_t>(claim & 0xffffffffu));
      t_in_task = false;
    } catch (...) {
      t_in_task = false;
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == count) {
      std::lock_guard<std::mutex> lock(mutex_);  // so the caller cannot miss the notification
      done_.notify_one();
    }
    claim = next_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;  // the last job this worker took, or found finished
  for (;;) {
    for (int i = 0; keep_polling(i) &&
                    static_cast<uint32_t>(next_.load(std::memory_order_acquire) >> 32) == seen;
         ++i) {
    }
    const std::function<void(size_t)>* task;
    size_t count;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // One wait, then back to polling: a worker woken after its job was done (the caller ran
      // every task while this core woke up) polls for the next job rather than sleeping again at
      // once, which made each of a short forward pass's jobs wait on a wake-up that came too
      // late for it in turn.
      if (!stopping_ && generation_ == seen) wake_.wait(lock);
      if (stopping_) return;
      if (generation_ == seen) continue;  // woken for nothing
      seen = generation_;
      if (!task_) continue;  // that job is done
      task = task_;
      count = task_count_;
    }
    run_tasks(seen, *task, count);
  }
}

}  // namespace clip
