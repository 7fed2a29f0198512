"""environment/lock_requirements.py and the constraints file make install resolves with."""
import os
import sys

import pytest

from environment import check_requirements, lock_requirements

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONSTRAINTS = os.path.join(ROOT, 'requirements', 'constraints.txt')


def _pins(path):
    with open(path) as f:
        return dict(line.strip().split('==') for line in f
                    if line.strip() and not line.startswith('#'))


def test_lock_pins_the_stack_but_not_torch_or_its_own_dependencies():
    pins = dict(line.split('==') for line in lock_requirements.lock_lines())
    assert pins['mmcv'] == '2.1.0' and pins['mmdet3d'] == '1.4.0'
    assert pins['mmengine'] == '0.10.7' and pins['numpy'].startswith('1.')
    assert 'numba' in pins and 'pillow' in pins
    # setuptools stays out: torch's wheel and mmcv's source build ask for incompatible ranges
    for name in ('torch', 'pip', 'setuptools', 'gdocc'):
        assert name not in pins
    assert not [name for name in pins if name.startswith(('nvidia-', 'triton'))]
    assert 'sympy' not in pins  # only torch needs it


def test_the_committed_constraints_pin_every_requirement():
    pins = _pins(CONSTRAINTS)
    for path in ('requirements.txt', 'requirements/mmcv.txt', 'requirements/mmdet3d.txt'):
        with open(os.path.join(ROOT, path)) as f:
            for line in f:
                name = line.split('#', 1)[0].strip()
                if name:
                    name = name.split('=')[0].split('<')[0].split('>')[0].strip().lower()
                    assert name.replace('_', '-') in pins, f'{name} of {path} is not pinned'


@pytest.mark.skipif(os.path.realpath(sys.prefix) != os.path.join(ROOT, '.venv'),
                    reason='only the make-installed .venv must match the lock')
def test_the_make_installed_venv_matches_the_lock():
    unmet = list(check_requirements.unmet([], [CONSTRAINTS]))
    assert not unmet, f'{unmet[:5]}: run make install'


def test_check_requirements_flags_a_drifted_pin(tmp_path):
    drifted = tmp_path / 'constraints.txt'
    drifted.write_text('pytest==0.0.1\nnot-installed-anywhere==1.0\n')
    unmet = list(check_requirements.unmet([], [str(drifted)]))
    assert len(unmet) == 1 and unmet[0].startswith('pytest==0.0.1 (found ')
