#!/usr/bin/env python
"""Writes the constraints file ``make install`` resolves with, from an installed venv.

    .venv/bin/python environment/lock_requirements.py [--out requirements/constraints.txt]

One ``name==version`` line per distribution installed in the running interpreter's
environment, sorted by name, except

* torch and the packages only torch pulls in (``nvidia-*``, ``triton``, ``sympy``, ...): the
  torch is the user's (a CUDA build on GPU machines), so neither it nor its own dependencies
  are pinned;
* this project (``gdocc``) and the installers ``pip`` and ``setuptools``: torch's wheel
  asks for ``setuptools>=77`` while mmcv's source build needs ``<70`` (environment/setup_env.sh
  installs each in its step), so no single pin satisfies both resolutions.

``environment/setup_env.sh`` passes the file to every ``pip install`` (``-c``), so every machine
resolves the same versions, and ``environment/check_requirements.py --constraints`` re-syncs a
venv whose installed versions drifted from it.
"""
import argparse
import os
import re
import sys
from importlib.metadata import distributions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, 'requirements', 'constraints.txt')
REQUIREMENT_FILES = ('requirements.txt', os.path.join('requirements', 'mmcv.txt'),
                     os.path.join('requirements', 'mmdet3d.txt'))
NEVER_PINNED = {'pip', 'setuptools', 'gdocc'}
HEADER = """\
# The exact versions `make install` resolves (environment/setup_env.sh passes this file to every
# pip install with -c). Regenerate from a fresh, tested .venv:
#   .venv/bin/python environment/lock_requirements.py
# torch and the packages only torch needs are not pinned: the torch is the user's.
"""


def canonical(name):
    """PEP 503 normalised distribution name."""
    return re.sub(r'[-_.]+', '-', name).lower()


def _requirement_names(requires):
    names = []
    for req in requires or []:
        if 'extra ==' in req:
            continue
        match = re.match(r'\s*([A-Za-z0-9][A-Za-z0-9._-]*)', req)
        if match:
            names.append(canonical(match.group(1)))
    return names


def torch_only(installed):
    """Names (canonical) of torch and of the packages reachable only through torch."""
    deps = {name: _requirement_names(dist.requires) for name, dist in installed.items()}
    direct = set()
    for path in REQUIREMENT_FILES:
        with open(os.path.join(ROOT, path)) as f:
            direct.update(_requirement_names(line.split('#', 1)[0] for line in f))

    def closure(roots, stop=()):
        seen, todo = set(), list(roots)
        while todo:
            name = todo.pop()
            if name in seen or name not in installed or name in stop:
                continue
            seen.add(name)
            todo.extend(deps[name])
        return seen

    through_torch = closure(['torch'])
    others = closure(direct | {n for n in installed if n not in through_torch},
                     stop={'torch'})
    return through_torch - others


def lock_lines():
    """The ``name==version`` lines, sorted."""
    installed = {canonical(d.metadata['Name']): d for d in distributions()
                 if d.metadata['Name']}
    skip = torch_only(installed) | NEVER_PINNED
    return sorted(f'{name}=={dist.version}' for name, dist in installed.items()
                  if name not in skip)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=DEFAULT_OUT, help='constraints file to write')
    args = parser.parse_args(argv)
    lines = lock_lines()
    with open(args.out, 'w') as f:
        f.write(HEADER + '\n'.join(lines) + '\n')
    print(f'wrote {len(lines)} pins to {args.out} (python {sys.version.split()[0]})')


if __name__ == '__main__':
    main()
