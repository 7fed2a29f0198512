"""How the tests start the project's scripts in child processes, alone or under torchrun."""
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script_env(**extra):
    """dict: ``os.environ`` for a child process, plus ``extra``: one OpenMP thread per process
    (two processes on two cores) and the repository and ``tests/fixtures`` importable (the
    test-only hooks and models that configs name in ``custom_imports``)."""
    path = os.pathsep.join([ROOT, os.path.join(ROOT, 'tests', 'fixtures'),
                            os.environ.get('PYTHONPATH', '')])
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=path, **extra)


def launcher(nproc=1):
    """list of str: the command that runs a Python script in ``nproc`` processes (torchrun
    on a free local port when ``nproc`` > 1)."""
    if nproc == 1:
        return [sys.executable]
    return [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
            str(nproc)]


def run(command, timeout, **kwargs):
    """subprocess.CompletedProcess: ``command`` run to its end, its output captured as text.

    The child leads a process group of its own, all of which is killed on timeout:
    ``subprocess.run`` kills only the child, and a torchrun worker left behind (reparented,
    still holding the output pipes) would then hang the test instead of failing it.
    """
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, **kwargs) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise
    return subprocess.CompletedProcess(command, child.returncode, out, err)
