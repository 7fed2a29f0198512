"""The dependency rule of docs/layout.md, read from the import statements of every module:
core <- ops <- loaders / models / evaluation / visualization <- engine <- tools.shared <-
entry points, tools and the machines' kit (environment), and the toy world generator apart
from all of them; no tool or kit script imports another script."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('core', 'models', 'loaders', 'evaluation', 'visualization', 'engine', 'toy_nuscenes',
            'tools', 'environment')
# The rooms each room may import (itself included). The compiled extension models._C is
# part of the ops.
MAY_IMPORT = {
    'core': {'core'},
    'ops': {'core', 'ops'},
    'loaders': {'core', 'ops', 'loaders'},
    'models': {'core', 'ops', 'models'},
    'evaluation': {'core', 'ops', 'evaluation'},
    'visualization': {'core', 'ops', 'visualization'},
    'engine': {'core', 'ops', 'loaders', 'models', 'evaluation', 'visualization', 'engine'},
    'toy_nuscenes': {'toy_nuscenes'},
    # What scripts share (synthetic inputs, the op benchmark cases) lives in tools.shared; a
    # script's own code is its own.
    'shared': {'core', 'ops', 'loaders', 'models', 'evaluation', 'visualization', 'engine',
               'shared'},
    'tools': {'core', 'ops', 'loaders', 'models', 'evaluation', 'visualization', 'engine',
              'toy_nuscenes', 'shared'},
    'environment': {'core', 'ops', 'loaders', 'models', 'evaluation', 'visualization', 'engine',
                    'shared'},
}


def room_of(module):
    """The room of a dotted module name of this project, else None (a third-party module)."""
    parts = module.split('.')
    if parts[0] == 'models' and len(parts) > 1 and parts[1] in ('ops', '_C'):
        return 'ops'
    if parts[0] == 'tools' and len(parts) > 1 and parts[1] == 'shared':
        return 'shared'
    return parts[0] if parts[0] in PACKAGES else None


def imported_modules(path, module):
    """Dotted names a file imports, relative imports resolved (``from a import b`` gives
    ``a.b``)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    is_package = os.path.basename(path) == '__init__.py'
    package = module.split('.') if is_package else module.split('.')[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = '.'.join(base + ([node.module] if node.module else []))
            # a name may be a submodule (``from models import _C``): keep it
            yield from (f'{target}.{alias.name}' for alias in node.names)


def violations(root):
    """``'module imports name'`` for every import breaking the rule under ``root``."""
    found = []
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(root, package)):
            for name in sorted(files):
                if not name.endswith('.py'):
                    continue
                path = os.path.join(folder, name)
                module = os.path.relpath(path, root)[:-3].replace(os.sep, '.')
                module = module.removesuffix('.__init__')
                room = room_of(module)
                for target in imported_modules(path, module):
                    other = room_of(target)
                    if other is not None and other not in MAY_IMPORT[room]:
                        found.append(f'{module} imports {target}')
    return found


def test_every_module_keeps_the_dependency_rule():
    assert violations(ROOT) == []


@pytest.mark.parametrize('source, expected', [
    ('from models.ops import ray_cast\n', []),
    ('from .ray_metrics import THRESHOLDS\nimport numpy\n', []),
    ('from models.heads import MaskOccHead\n', ['evaluation.bad imports models.heads.MaskOccHead']),
    ('from engine.config import check_checkpoint\n',
     ['evaluation.bad imports engine.config.check_checkpoint']),
])
def test_the_rule_catches_an_upward_import(tmp_path, source, expected):
    (tmp_path / 'evaluation').mkdir()
    (tmp_path / 'evaluation' / 'bad.py').write_text(source)
    assert violations(str(tmp_path)) == expected


def test_the_renderers_stand_beside_the_evaluation(tmp_path):
    (tmp_path / 'visualization').mkdir()
    (tmp_path / 'visualization' / 'bad.py').write_text(
        'from core.occ3d import GRID_SHAPE\nfrom models.ops import ray_cast\n'
        'from evaluation.ray_metrics import main_rayiou\n')
    assert violations(str(tmp_path)) == [
        'visualization.bad imports evaluation.ray_metrics.main_rayiou']


def test_a_tool_importing_another_tool_breaks_the_rule(tmp_path):
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'tools' / 'bad.py').write_text('from tools import benchmark_ops\n')
    assert violations(str(tmp_path)) == ['tools.bad imports tools.benchmark_ops']


def test_scripts_share_through_tools_shared_only(tmp_path):
    (tmp_path / 'tools' / 'shared').mkdir(parents=True)
    (tmp_path / 'tools' / 'good.py').write_text(
        'from tools.shared.synthetic_batch import packed_sample\n')
    (tmp_path / 'tools' / 'shared' / 'bad.py').write_text('from tools import timing\n')
    (tmp_path / 'environment').mkdir()
    (tmp_path / 'environment' / 'bad.py').write_text(
        'from tools.shared import op_benchmark\nfrom tools import timing\n'
        'from environment import check_requirements\n')
    assert violations(str(tmp_path)) == [
        'tools.shared.bad imports tools.timing', 'environment.bad imports tools.timing',
        'environment.bad imports environment.check_requirements']


def test_relative_imports_resolve_from_the_package():
    path = os.path.join(ROOT, 'models', 'view_transforms', 'temporal_stereo.py')
    modules = set(imported_modules(path, 'models.view_transforms.temporal_stereo'))
    assert 'models.layers.depth_weighted_sampling.project_points' in modules
