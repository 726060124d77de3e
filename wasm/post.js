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
// The threaded build is linked with PTHREAD_POOL_DELAY_LOAD: the module is ready before its
// workers have loaded it, so a model's weights can stream meanwhile. This resolves once every
// worker has loaded (at once without threads), and rejects, naming the problem, if one fails to
// start; the package starts the model's threads after it. Emscripten handles each worker's
// messages in its onmessage, which is wrapped here until the worker says it has loaded. An error
// before then becomes the rejection instead of Emscripten's rethrow, which would end a Node
// process (a worker script that cannot be found, say).
var threadsLoaded = null;
Module['threadsLoaded'] = function() {
  if (typeof PThread == 'undefined') return Promise.resolve();
  threadsLoaded = threadsLoaded || Promise.all(
    PThread.unusedWorkers.concat(PThread.runningWorkers).map(function(worker) {
      if (worker.loaded) return undefined;
      return new Promise(function(resolve, reject) {
        var onmessage = worker.onmessage;
        var onerror = worker.onerror;
        var restore = function() {
          worker.onmessage = onmessage;
          worker.onerror = onerror;
        };
        worker.onmessage = function(event) {
          onmessage.call(worker, event);
          if (worker.loaded) {
            restore();
            resolve();
          }
        };
        worker.onerror = function(error) {
          restore();
          reject(new Error('clip-wasm: a worker thread failed to start: ' + (error && error.message || error)));
        };
      });
    }));
  return threadsLoaded;
};
