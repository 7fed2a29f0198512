"""The seed README's compile step, ``cd models/csrc && python setup.py build_ext --inplace``.

It builds the extension ``make build`` builds (``models._C`` from every ``models/csrc/*.cpp``,
plus the ``*.cu`` files where a CUDA toolkit and a CUDA torch are present): it runs the
top-level ``setup.py`` as a script of its own, from the repository root, with the same
command line, so ``--inplace`` puts ``models/_C*.so`` where ``import models._C`` finds it,
as ``pip install -e .`` does. ``MAX_JOBS``, ``GDOCC_FORCE_CUDA`` and ``GDOCC_NO_OPENMP`` work
as there.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if __name__ == '__main__':
    sys.exit(subprocess.call([sys.executable, 'setup.py', *sys.argv[1:]], cwd=ROOT))
