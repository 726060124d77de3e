// Hooks the package uses for the worker threads of the threaded build (no-ops without threads):
// an idle pool must not keep Node running, and dispose() ends the workers.
Module['unrefThreads'] = function() {
  if (typeof PThread == 'undefined') return;
  PThread.unusedWorkers.concat(PThread.runningWorkers).forEach(function(worker) {
    if (worker.unref) worker.unref();
  });
};
Module['endThreads'] = function() {
  if (typeof PThread != 'undefined') PThread.terminateAllThreads();
};
