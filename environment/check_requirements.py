"""Exits 0 when every requirement in the given files is installed at a matching version.

Usage: python environment/check_requirements.py [--constraints FILE] requirements.txt [more.txt ...]
Lets ``make`` skip pip entirely on a machine that is already set up. With ``--constraints``,
every package of FILE (``name==version`` lines, ``requirements/constraints.txt``) that is
installed must also have exactly that version, so a venv that drifted is re-synced; packages
of FILE that are not installed are not required.
"""
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    from packaging.requirements import Requirement
except ImportError:  # a bare venv: pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement


def _requirements(path):
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                yield Requirement(line)


def unmet(paths, constraints=()):
    """Descriptions of the requirements of ``paths`` (and installed packages of the
    ``constraints`` files) that the environment does not satisfy."""
    for path in paths:
        for req in _requirements(path):
            try:
                installed = version(req.name)
            except PackageNotFoundError:
                yield f'{req} (missing)'
                continue
            if not req.specifier.contains(installed, prereleases=True):
                yield f'{req} (found {installed})'
    for path in constraints:
        for req in _requirements(path):
            try:
                installed = version(req.name)
            except PackageNotFoundError:
                continue
            if not req.specifier.contains(installed, prereleases=True):
                yield f'{req} (found {installed}; pinned in {path})'


if __name__ == '__main__':
    args = sys.argv[1:]
    constraints = []
    while '--constraints' in args:
        at = args.index('--constraints')
        constraints.append(args[at + 1])
        del args[at:at + 2]
    missing = list(unmet(args, constraints))
    for item in missing:
        print(f'[setup] needs {item}')
    sys.exit(1 if missing else 0)
