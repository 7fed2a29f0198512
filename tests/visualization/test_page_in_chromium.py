"""The page in a real browser (headless Chromium, software WebGL): it renders, shows the
colours of the classes present, hides a class from the legend, links the two cameras,
meshes visible faces only, moves through a scene, and logs no console error."""
import os

import numpy as np
import pytest

import viz_prediction
from core.occ3d import FREE_LABEL, GRID_SHAPE
from visualization import page
from visualization.headless_chromium import HeadlessChromium, find_chromium
from visualization.style import OCC3D_STYLE

from .test_page import fake_info

PALETTE = OCC3D_STYLE.palette

VIEWPORT = (1400, 1000)
RENDERS = 'Number(document.documentElement.dataset.renders || 0)'


@pytest.fixture(scope='module')
def browser():
    if find_chromium() is None:
        message = ('headless Chromium not installed (make install / environment/setup_env.sh '
                   'does it)')
        if os.environ.get('CI'):
            pytest.fail(message)
        pytest.skip(message)
    # generous: the checks are about what is drawn, and a loaded CPU draws WebGL slowly
    with HeadlessChromium(*VIEWPORT, timeout=600) as chromium:
        yield chromium


def load(browser, path, renders=1):
    browser.open(str(path))
    browser.wait_for(f'{RENDERS} >= {renders} || window.occViz.error !== null')
    assert browser.evaluate('window.occViz.error') is None
    return browser.evaluate('window.occViz')


def scene_boxes(browser):
    """Viewport boxes (left, top, right, bottom) of the plotly scenes, by id."""
    boxes = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#plot .gl-container > div')]"
        ".map((d) => { const r = d.getBoundingClientRect();"
        " return [d.id, [r.left, r.top, r.right, r.bottom].map(Math.round)]; }))")
    return {name: tuple(box) for name, box in boxes.items()}


def shaded_colours(rgb):
    """The colours a class's faces take in the page (one per face direction)."""
    return {tuple(int(round(c * s)) for c in rgb) for s in page.FACE_SHADES}


def pixels_of(image, colours):
    """How many pixels of ``image`` have one of ``colours`` (within 1 per channel)."""
    pixels = np.asarray(image).reshape(-1, 3).astype(np.int16)
    return int(sum((np.abs(pixels - np.array(c)).max(axis=1) <= 1).sum() for c in colours))


def click_legend(browser, name):
    renders = browser.evaluate(RENDERS)
    x, y = browser.evaluate(
        "(() => { const item = [...document.querySelectorAll('.legend .traces')]"
        f".find((g) => g.textContent === {name!r});"
        " const r = item.querySelector('.legendtoggle').getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    browser.click(x, y)
    browser.wait_for(f'{RENDERS} > {renders}')


@pytest.fixture(scope='module')
def toy_page(toy_root, tmp_path_factory):
    """The page of the first toy val keyframe, predicted = its ground truth with the cars
    moved 4 m forward (false positives, false negatives)."""
    import pickle

    tmp = tmp_path_factory.mktemp('toy_page')
    with open(os.path.join(toy_root, 'nuscenes_infos_val_sweep.pkl'), 'rb') as f:
        info = pickle.load(f)['data_list'][0]
    with np.load(os.path.join(toy_root, info['occ_path'])) as archive:
        gt = archive['semantics']
    pred = gt.copy()
    pred[gt == 4] = FREE_LABEL
    pred[10:][gt[:-10] == 4] = 4
    (tmp / 'preds').mkdir()
    np.savez_compressed(tmp / 'preds' / f'{info["token"]}.npz', pred=pred)
    viz_prediction.main(['--data-root', toy_root, '--pred-dir', str(tmp / 'preds'),
                         '--viz-dir', str(tmp / 'viz'), '--html', '--no-progress'])
    return tmp / 'viz' / f'{info["token"]}.html', pred, gt


def test_toy_page_renders_class_colours_and_a_class_switches_off(browser, toy_page):
    path, pred, gt = toy_page
    status = load(browser, path)
    assert status['faces']['left'] > 0 and status['faces']['right'] > 0
    shot = browser.screenshot()
    boxes = scene_boxes(browser)
    left, right = shot.crop(boxes['scene']), shot.crop(boxes['scene2'])
    for view in (left, right):  # not blank
        pixels = np.asarray(view).reshape(-1, 3)
        assert (pixels != 255).any(axis=1).mean() > 0.2
        assert len(np.unique(pixels, axis=0)) > 10
    counts = {label: pixels_of(left, shaded_colours(PALETTE[label]))
              for label in np.unique(pred) if label != FREE_LABEL}
    big = [label for label in counts if (pred == label).sum() >= 300]
    assert len(big) >= 4 and all(counts[label] > 0 for label in big), counts
    assert counts[4] > 0  # the cars
    for label in range(FREE_LABEL):  # absent classes do not appear
        if label not in counts and label != 0:  # black (others) is also the ego's outline
            assert pixels_of(left, {tuple(int(c) for c in PALETTE[label])}) == 0

    click_legend(browser, 'car')
    status = browser.evaluate('window.occViz')
    hidden = browser.screenshot()
    for box in boxes.values():
        assert pixels_of(hidden.crop(box), shaded_colours(PALETTE[4])) == 0
    assert pixels_of(hidden.crop(boxes['scene']), shaded_colours(PALETTE[11])) > 0
    click_legend(browser, 'car')
    assert pixels_of(browser.screenshot().crop(boxes['scene']),
                     shaded_colours(PALETTE[4])) == counts[4]
    assert browser.console_errors == []


def test_error_view_and_linked_cameras(browser, toy_page):
    path, pred, gt = toy_page
    load(browser, path)
    renders = browser.evaluate(RENDERS)
    browser.evaluate("document.querySelector('input[value=errors]').click()")
    browser.wait_for(f'{RENDERS} > {renders}')
    boxes = scene_boxes(browser)
    errors = browser.screenshot().crop(boxes['scene'])
    for name, rgb in page.ERROR_KINDS[:2]:  # the moved cars: both kinds
        assert pixels_of(errors, shaded_colours(rgb)) > 0, name
    assert pixels_of(errors, shaded_colours(PALETTE[11])) == 0  # no class colours there
    camera = browser.evaluate(
        "Plotly.relayout(document.getElementById('plot'),"
        " {'scene.camera': {eye: {x: 0.3, y: -0.9, z: 0.4}}})"
        ".then(() => document.getElementById('plot').layout.scene2.camera.eye)")
    assert camera == {'x': 0.3, 'y': -0.9, 'z': 0.4}
    assert browser.console_errors == []


def test_only_visible_faces_are_meshed(browser, tmp_path):
    """A 3 x 3 x 3 block draws its 54 outer faces; its centre voxel (another class) draws
    nothing until the block's class is hidden, and then its 6 faces."""
    grid = np.full(GRID_SHAPE, FREE_LABEL, np.uint8)
    grid[100:103, 100:103, 5:8] = 15
    grid[101, 101, 6] = 4
    info = fake_info(tmp_path)
    frame = page.frame_data(str(tmp_path), info, grid, grid, None, [info], image_width=80)
    page.write_page(str(tmp_path / 'block.html'), page.page_html('block', [frame]))
    status = load(browser, tmp_path / 'block.html')
    assert status['faces'] == {'left': 54, 'right': 54}
    click_legend(browser, 'manmade')
    assert browser.evaluate('window.occViz.faces') == {'left': 6, 'right': 6}
    assert browser.console_errors == []


def test_scene_page_slider_loads_each_keyframe(browser, toy_root, tmp_path):
    from tests.test_viz_prediction import _write_preds

    tokens = _write_preds(toy_root, tmp_path / 'preds')
    scene = viz_prediction.main(['--data-root', toy_root, '--pred-dir', str(tmp_path / 'preds'),
                                 '--viz-dir', str(tmp_path / 'viz'), '--html', '--scene',
                                 _val_scene(toy_root), '--no-progress'])[0]
    load(browser, scene)
    faces = [browser.evaluate('window.occViz.faces.left')]
    for index in range(1, len(tokens)):
        renders = browser.evaluate(RENDERS)
        browser.evaluate(f"(() => {{ const s = document.getElementById('frame');"
                         f" s.value = '{index}'; s.dispatchEvent(new Event('input')); }})()")
        browser.wait_for(f'{RENDERS} > {renders}')
        assert browser.evaluate("document.getElementById('frame-info').textContent") \
            .startswith(f'sample {tokens[index]}')
        faces.append(browser.evaluate('window.occViz.faces.left'))
    assert len(set(faces)) > 1  # the keyframes differ
    assert browser.console_errors == []


def _val_scene(toy_root):
    import pickle

    with open(os.path.join(toy_root, 'nuscenes_infos_val_sweep.pkl'), 'rb') as f:
        return pickle.load(f)['data_list'][0]['scene_name']


def test_the_driver_reports_console_errors(browser, tmp_path):
    """The negative control of ``console_errors == []`` above."""
    path = tmp_path / 'bad.html'
    path.write_text('<html><body><script>console.error("boom"); undefinedCall();'
                    '</script></body></html>')
    browser.open(str(path))
    browser.evaluate('1')  # reads the events that arrived meanwhile
    assert any('boom' in e for e in browser.console_errors)
    assert any('undefinedCall' in e for e in browser.console_errors)
    browser.console_errors.clear()
