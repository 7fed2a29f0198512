"""Entry-point plumbing: leaving the process group at exit, with gloo's threads joined."""
import gc
import glob
import textwrap

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from engine.runtime import destroy_process_group
from tests.subprocesses import launcher, run, script_env

GLOO_THREADS = ('gloo_tcp_loop', 'pt_gloo_runloop')


def _gloo_threads():
    """Names of this process's gloo threads (Linux: /proc/self/task/*/comm)."""
    names = []
    for path in glob.glob('/proc/self/task/*/comm'):
        try:
            with open(path) as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return [name for name in names if name.startswith(GLOO_THREADS)]


class _Owner:
    """Holds a DDP model in a reference cycle, as mmengine's Runner does."""

    def __init__(self):
        self.model = DistributedDataParallel(torch.nn.Linear(2, 2))
        self.me = self


def _join(tmp_path, name):
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / name}', rank=0,
                            world_size=1)
    _Owner().model(torch.ones(1, 2)).sum().backward()  # the owner is now garbage in a cycle
    assert dist.is_initialized() and _gloo_threads()


def test_destroy_process_group_frees_the_group_and_is_idempotent(tmp_path):
    # Negative control: torch's call alone leaves the group (and its threads) to the cycle.
    _join(tmp_path, 'store0')
    dist.destroy_process_group()
    assert _gloo_threads()
    gc.collect()
    assert not _gloo_threads()

    _join(tmp_path, 'store1')
    destroy_process_group()
    assert not dist.is_initialized()
    assert not _gloo_threads()  # joined now, not during interpreter shutdown
    destroy_process_group()   # a no-op (it also runs at exit)


# A gloo worker that needs the GIL while the group is destroyed: a future's Python callback
# still running (it sleeps with the GIL released, then needs it back). The DDP model in a
# reference cycle holds the group, as the Runner does.
_WORKER_NEEDS_THE_GIL = textwrap.dedent('''
    import sys, threading, time
    import torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from engine.runtime import destroy_process_group

    class Owner:
        def __init__(self):
            self.model = DistributedDataParallel(torch.nn.Linear(2, 2))
            self.me = self

    dist.init_process_group('gloo', init_method='file://' + sys.argv[1], rank=0, world_size=1)
    Owner()
    running = threading.Event()

    def slow_callback(future):
        running.set()
        time.sleep(1.0)
        return future.value()

    future = dist.all_reduce(torch.ones(3), async_op=True).get_future().then(slow_callback)
    running.wait()
    del future
    destroy_process_group()
    print('left the group')
''')


def test_destroy_process_group_does_not_deadlock_with_a_worker_that_needs_the_gil(tmp_path):
    script = tmp_path / 'worker_needs_the_gil.py'
    script.write_text(_WORKER_NEEDS_THE_GIL)
    # Destroyed by the garbage collection (the GIL held while gloo joins its workers), the
    # group deadlocks here: the child then runs into the timeout.
    done = run(launcher() + [str(script), str(tmp_path / 'store')], timeout=120,
               env=script_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'left the group'
