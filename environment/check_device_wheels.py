"""Checks that the wheels carried to the GPU machine are complete: every requirement of every
carried distribution, as that machine evaluates it (CPython 3.12 on Linux x86_64), is met by
another carried distribution or by a package of the machine's image.

Usage: python environment/check_device_wheels.py [--folder .whl]
                                                  [--base requirements/device_base.txt]

There the wheels install with ``--no-deps`` and there is no registry, so a dependency nobody
carried would only show as an ImportError in the middle of the device run; here it shows
before. Carried are wheels (``*.whl``, their ``METADATA``) and the mmcv source archive
(``mmcv-*.tar.gz``, its ``requirements/runtime.txt``: environment/device_check.sh compiles it
there). Exit status 1 when something is missing, with one line per missing requirement.
"""
import argparse
import os
import re
import sys
import tarfile
import zipfile

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a bare venv: pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

# The GPU machine's interpreter and platform, as environment markers see them.
DEVICE_ENVIRONMENT = dict(
    python_version='3.12', python_full_version='3.12.0', implementation_name='cpython',
    platform_python_implementation='CPython', sys_platform='linux', platform_system='Linux',
    platform_machine='x86_64', os_name='posix', extra='')
# Distributions the image holds under another name that provides the same import.
EQUIVALENT = {'opencv-python': 'opencv-python-headless'}
# Declared but never imported on GD-OCC's paths: development tools of lyft-dataset-sdk and
# nuscenes-devkit, mmdet3d's optional viewer (checked 2026-12-03: importing the project,
# building the paper model and importing mmdet3d.datasets / mmdet3d.evaluation, nuscenes and
# lyft_dataset_sdk loads none of them).
NOT_IMPORTED = {'black', 'flake8', 'plotly', 'open3d', 'parameterized'}


def base_names(path):
    """Canonical names of the packages of a requirements file (the machine's image)."""
    with open(path) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return {canonicalize_name(Requirement(line).name) for line in lines if line}


def distribution_of(filename):
    """(canonical name, version) from a wheel's or source archive's file name."""
    if filename.endswith('.whl'):
        name, version = filename.split('-')[:2]
    else:
        name, version = re.match(r'(.+)-([^-]+)\.tar\.gz$', filename).groups()
    return canonicalize_name(name), version


def requirements_of(path):
    """The ``Requirement`` objects a carried wheel or mmcv source archive declares."""
    if path.endswith('.whl'):
        with zipfile.ZipFile(path) as wheel:
            metadata = next(n for n in wheel.namelist()
                            if n.endswith('.dist-info/METADATA') and n.count('/') == 1)
            text = wheel.read(metadata).decode()
        lines = [line[len('Requires-Dist:'):] for line in text.splitlines()
                 if line.startswith('Requires-Dist:')]
    else:
        with tarfile.open(path) as archive:
            member = next(m for m in archive.getmembers()
                          if m.name.endswith('/requirements/runtime.txt')
                          and m.name.count('/') == 2)
            text = archive.extractfile(member).read().decode()
        lines = [line.split('#', 1)[0] for line in text.splitlines()]
    return [Requirement(line.strip()) for line in lines if line.strip()]


def missing(folder, base):
    """``'<carried> needs <requirement>'`` for every requirement met neither by the carried
    distributions of ``folder`` (at their versions) nor by a name of ``base``."""
    files = sorted(f for f in os.listdir(folder) if f.endswith(('.whl', '.tar.gz')))
    carried = dict(distribution_of(f) for f in files)
    found = []
    for filename in files:
        for req in requirements_of(os.path.join(folder, filename)):
            if req.marker is not None and not req.marker.evaluate(DEVICE_ENVIRONMENT):
                continue
            name = canonicalize_name(req.name)
            if name in base or EQUIVALENT.get(name) in base or name in NOT_IMPORTED:
                continue
            if name in carried and req.specifier.contains(carried[name], prereleases=True):
                continue
            have = f' (carried: {carried[name]})' if name in carried else ''
            found.append(f'{filename} needs {req}{have}')
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--folder', default='.whl', help='the carried wheels')
    parser.add_argument('--base', default=os.path.join('requirements', 'device_base.txt'),
                        help="the packages of the GPU machine's image")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.folder):
        sys.exit(f'check_device_wheels: no folder {args.folder} (run make device-wheels)')
    problems = missing(args.folder, base_names(args.base))
    for line in problems:
        print(f'  missing: {line}')
    count = len([f for f in os.listdir(args.folder) if f.endswith(('.whl', '.tar.gz'))])
    print(f'[device-wheels] {count} distributions in {args.folder}/: '
          + (f'{len(problems)} requirements unmet' if problems else 'every requirement met'))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
