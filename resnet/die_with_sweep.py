"""Imported first by a sweep's forkserver, before resnet.child and its seconds of torch imports: the
forkserver then dies with the sweep however the sweep dies (kill -9 included), at once rather than once
its imports are done, and its runs, through their own parent-death signal, checkpoint and stop.

resnet.launch preloads this only when the sweep's main thread starts the forkserver: Linux sends the
signal when the *thread* that started it ends, and a sweep run from another thread (an embedding
program, the tests) may end before others that share the forkserver.
"""

import os
import signal

from resnet.launch import die_with_parent

die_with_parent(signal.SIGTERM)
if os.getppid() == 1:  # the sweep died before we could ask
    os._exit(1)
