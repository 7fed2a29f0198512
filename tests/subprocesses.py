"""How the tests start the project's scripts in child processes, alone or under torchrun."""
import os
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
