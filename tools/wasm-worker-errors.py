#!/usr/bin/env python3
"""Makes a pthread worker that fails to start say so, instead of leaving a load waiting forever.

Emscripten 3.1.6's worker script (clip-wasm-threads.worker.js) imports the module's glue with
import() and instantiates the module in a promise chain that has no rejection handler. When the
import fails (the glue's URL answers 404, the connection drops) or instantiation throws, the
rejection stays inside the worker: a browser fires no error event at the Worker object, the
worker never posts "loaded", and a load waiting for its threads never ends. (Node ends such a
worker with an error event by itself.)

This appends a handler that rethrows the error from a task of its own: an uncaught exception,
which the browser reports to the Worker's error event, where the package rejects the load with
the message (wasm/post.js, threadsLoaded). Emscripten has no option for it, hence the edit; the
tool fails unless it finds the chain exactly once, so an Emscripten that writes it differently
is noticed at build time.

usage: wasm-worker-errors.py WORKER.js   (rewrites it in place)
"""
import sys

CHAIN_END = ".then(function(instance){Module=instance})"
RETHROW = ".catch(function(error){setTimeout(function(){throw error})})"


def main(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if CHAIN_END + RETHROW in text:
        return  # already rewritten (a re-run on the same file)
    if text.count(CHAIN_END) != 1:
        sys.exit(f"wasm-worker-errors: {path}: expected the worker's load chain "
                 f"'{CHAIN_END}' exactly once, found it {text.count(CHAIN_END)} times")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(CHAIN_END, CHAIN_END + RETHROW))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    main(sys.argv[1])
