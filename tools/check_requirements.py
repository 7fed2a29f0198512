"""Exits 0 when every requirement in the given files is installed at a matching version.

Usage: python tools/check_requirements.py requirements.txt [more.txt ...]
Lets ``make`` skip pip entirely on a machine that is already set up.
"""
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    from packaging.requirements import Requirement
except ImportError:  # a bare venv: pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement


def unmet(paths):
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.split('#', 1)[0].strip()
                if not line:
                    continue
                req = Requirement(line)
                try:
                    installed = version(req.name)
                except PackageNotFoundError:
                    yield f'{req} (missing)'
                    continue
                if not req.specifier.contains(installed, prereleases=True):
                    yield f'{req} (found {installed})'


if __name__ == '__main__':
    missing = list(unmet(sys.argv[1:]))
    for item in missing:
        print(f'[setup] needs {item}')
    sys.exit(1 if missing else 0)
