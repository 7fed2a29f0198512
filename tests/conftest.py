"""Shared fixtures: a tiny toy nuScenes world (generated once per session) and its infos."""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_GENERATOR = os.path.join(ROOT, 'tools', 'make_toy_nuscenes.py')
# Two scenes (one train, one val) of three keyframes with one camera sweep between
# keyframes, 160 x 90 images: about 10 s to generate on two cores.
TOY_OPTIONS = dict(scenes=2, frames_per_scene=3, sweeps=1, image_size=(160, 90), val_scenes=1)



def pytest_configure(config):
    config.addinivalue_line('markers', 'toy_world: needs tools/make_toy_nuscenes.py')


def pytest_collection_modifyitems(config, items):
    """Skips the ``toy_world`` tests, with the reason, when the generator is absent."""
    if os.path.isfile(TOY_GENERATOR):
        return
    skip = pytest.mark.skip(reason='tools/make_toy_nuscenes.py is absent (the toy world '
                                   'generator comes from main)')
    for item in items:
        if 'toy_world' in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope='session')
def toy_options():
    """The generator options of :func:`toy_world` (dict)."""
    return dict(TOY_OPTIONS)


def _load_tool(name):
    """Imports ``tools/<name>.py`` as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f'gdocc_tools_{name}',
                                                  os.path.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def tools():
    """``tools.create_data``, ``tools.ray_metrics`` and ``tools.blind_baseline`` as modules."""
    class Tools:
        create_data = _load_tool('create_data')
        ray_metrics = _load_tool('ray_metrics')
        blind_baseline = _load_tool('blind_baseline')
    return Tools


@pytest.fixture(scope='session')
def toy_world(tmp_path_factory):
    """Path of a freshly generated tiny toy world (nuScenes layout, no infos)."""
    if not os.path.isfile(TOY_GENERATOR):
        pytest.skip('tools/make_toy_nuscenes.py is absent')
    out = tmp_path_factory.mktemp('toy') / 'world'
    # The generator's command line is its stable interface (the flags).
    width, height = TOY_OPTIONS['image_size']
    subprocess.run([sys.executable, TOY_GENERATOR, '--out', str(out), '--no-progress',
                    '--scenes', str(TOY_OPTIONS['scenes']),
                    '--frames-per-scene', str(TOY_OPTIONS['frames_per_scene']),
                    '--sweeps', str(TOY_OPTIONS['sweeps']),
                    '--image-size', str(width), str(height),
                    '--val-scenes', str(TOY_OPTIONS['val_scenes'])],
                   check=True, stdout=subprocess.DEVNULL)
    return str(out)


@pytest.fixture(scope='session')
def toy_root(toy_world, tools):
    """The toy world with ``nuscenes_infos_{train,val}_sweep.pkl`` written into it."""
    tools.create_data.create_infos(toy_world, progress=False)
    return toy_world
