"""viz_prediction.py: figures of saved predictions on the toy world, and its one-line errors."""
import os
import pickle
import re

import numpy as np
import pytest

import viz_prediction
from core.occ3d import FREE_LABEL, GRID_SHAPE
from tests.subprocesses import launcher, run, script_env

pytestmark = pytest.mark.toy_world

WIDTH = 480  # the smallest sensible size keeps the test quick


def _val_infos(toy_root):
    with open(os.path.join(toy_root, 'nuscenes_infos_val_sweep.pkl'), 'rb') as f:
        return pickle.load(f)['data_list']


def _write_preds(toy_root, out, all_free=False):
    os.makedirs(out, exist_ok=True)
    infos = _val_infos(toy_root)
    for info in infos:
        with np.load(os.path.join(toy_root, info['occ_path'])) as archive:
            gt = archive['semantics']
        pred = np.full(GRID_SHAPE, FREE_LABEL, np.uint8) if all_free else gt.astype(np.uint8)
        np.savez_compressed(os.path.join(out, info['token'] + '.npz'), pred=pred)
    return [info['token'] for info in infos]


def _run(toy_root, pred_dir, viz_dir, num, width=WIDTH, extra=()):
    return viz_prediction.main(['--data-root', toy_root, '--pred-dir', str(pred_dir),
                                '--viz-dir', str(viz_dir), '--num', str(num),
                                '--width', str(width), '--no-progress', *extra])


def _crop(image, box):
    return np.asarray(image.crop(box))


def test_layout_size_is_documented():
    for width in (360, 480, 1200, 1001):
        boxes = viz_prediction.layout(width)
        p, c = width // 2, width // 3
        height = 20 + 2 * (c * 9 // 16) + 20 + p * 3 // 4 + 20 + p + 3 * 20 + 8
        assert boxes['size'] == (width, height)
    assert viz_prediction.layout(1200)['size'] == (1200, 1628)
    assert '1200 x 1628' in viz_prediction.__doc__
    help_text = viz_prediction.build_parser().format_help()
    assert 'height = T + 2 * HC + T + H3 + T + P + L' in help_text


def test_gt_as_prediction_figures(toy_root, tmp_path):
    from PIL import Image

    tokens = _write_preds(toy_root, tmp_path / 'gt_pred')
    assert len(tokens) >= 2
    written = _run(toy_root, tmp_path / 'gt_pred', tmp_path / 'viz', num=2)
    assert written == [str(tmp_path / 'viz' / f'{t}.png') for t in tokens[:2]]
    assert sorted(os.listdir(tmp_path / 'viz')) == sorted(f'{t}.png' for t in tokens[:2])
    boxes = viz_prediction.layout(WIDTH)
    with Image.open(written[0]) as image:
        image = image.convert('RGB')
    assert image.size == boxes['size']
    assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 200  # not blank
    pred_3d, gt_3d = _crop(image, boxes['pred_3d']), _crop(image, boxes['gt_3d'])
    assert len(np.unique(gt_3d.reshape(-1, 3), axis=0)) > 20  # the scene is drawn
    np.testing.assert_array_equal(pred_3d, gt_3d)
    np.testing.assert_array_equal(_crop(image, boxes['pred_bev']), _crop(image, boxes['gt_bev']))
    # the camera tiles hold the images, not the background
    for box in boxes['cams'].values():
        assert len(np.unique(_crop(image, box).reshape(-1, 3), axis=0)) > 20

    # An all-free prediction: empty (white) prediction panels, the same GT panels.
    _write_preds(toy_root, tmp_path / 'free_pred', all_free=True)
    free = _run(toy_root, tmp_path / 'free_pred', tmp_path / 'viz_free', num=1)
    assert len(free) == 1 and os.path.basename(free[0]) == f'{tokens[0]}.png'
    with Image.open(free[0]) as other:
        other = other.convert('RGB')
    assert other.size == boxes['size']
    free_3d = _crop(other, boxes['pred_3d'])
    assert (free_3d != gt_3d).any()
    assert (free_3d[1:-1, 1:-1] == 255).all()  # inside the panel's 1 px frame
    np.testing.assert_array_equal(_crop(other, boxes['gt_3d']), gt_3d)
    assert not [n for n in os.listdir(tmp_path / 'viz_free') if '.tmp' in n]


def test_errors(toy_root, tmp_path):
    preds = tmp_path / 'preds'
    tokens = _write_preds(toy_root, preds)
    viz = tmp_path / 'viz'
    with pytest.raises(SystemExit, match='data root not found'):
        _run(str(tmp_path / 'nowhere'), preds, viz, 1)
    with pytest.raises(SystemExit, match='info file not found'):
        _run(toy_root, preds, viz, 1, extra=('--ann-file', 'missing.pkl'))
    with pytest.raises(SystemExit, match='prediction folder not found'):
        _run(toy_root, tmp_path / 'no_preds', viz, 1)
    unrelated = tmp_path / 'unrelated'
    unrelated.mkdir()
    np.savez(unrelated / 'not_a_token.npz', pred=np.zeros(GRID_SHAPE, np.uint8))
    with pytest.raises(SystemExit, match='no prediction'):
        _run(toy_root, unrelated, viz, 1)
    np.savez(preds / f'{tokens[0]}.npz', pred=np.zeros((2, 2), np.uint8))
    with pytest.raises(SystemExit, match=r'prediction: pred has shape \(2, 2\)'):
        _run(toy_root, preds, viz, 1)
    assert not viz.exists() or not os.listdir(viz)


def test_ranks_split_the_samples_and_each_figure_is_written_once(toy_root, tmp_path,
                                                                 monkeypatch):
    _write_preds(toy_root, tmp_path / 'preds')
    one = _run(toy_root, tmp_path / 'preds', tmp_path / 'one', num=3)
    assert len(one) == 3
    shares = []
    for rank in (0, 1):  # what torchrun --nproc_per_node 2 sets (no process group here)
        monkeypatch.setenv('RANK', str(rank))
        monkeypatch.setenv('WORLD_SIZE', '2')
        shares.append([os.path.basename(p) for p in
                       _run(toy_root, tmp_path / 'preds', tmp_path / 'two', num=3)])
    assert shares[0] == [os.path.basename(p) for p in one[0::2]]
    assert shares[1] == [os.path.basename(p) for p in one[1::2]]
    assert sorted(os.listdir(tmp_path / 'two')) == sorted(os.path.basename(p) for p in one)
    for path in one:
        with open(path, 'rb') as a, open(tmp_path / 'two' / os.path.basename(path), 'rb') as b:
            assert a.read() == b.read()


def test_ranks_split_the_model_samples(small_gdocc_config, gdocc_weights, toy_root, tmp_path,
                                       monkeypatch):
    def viz(out, rank, world_size):
        monkeypatch.setenv('RANK', str(rank))
        monkeypatch.setenv('WORLD_SIZE', str(world_size))
        return [os.path.basename(p) for p in viz_prediction.main([
            '--config', small_gdocc_config, '--weights', str(gdocc_weights), '--viz-dir',
            str(out), '--num', '3', '--width', str(WIDTH), '--no-progress',
            '--work-dir', str(tmp_path / f'work_{rank}_{world_size}')])]

    one = viz(tmp_path / 'one', 0, 1)
    assert len(one) == 3
    assert viz(tmp_path / 'two', 0, 2) == one[0::2]
    assert viz(tmp_path / 'two', 1, 2) == one[1::2]
    assert sorted(os.listdir(tmp_path / 'two')) == sorted(one)


@pytest.mark.torchrun
@pytest.mark.parametrize('kind, extra', [('figures', ()), ('pages', ('--html',))])
def test_torchrun_two_processes_write_the_outputs_of_one(toy_root, tmp_path, kind, extra):
    _write_preds(toy_root, tmp_path / 'preds')
    one = _run(toy_root, tmp_path / 'preds', tmp_path / 'one', num=3, extra=extra)
    result = run(
        [*launcher(2), viz_prediction.__file__, '--data-root', toy_root,
         '--pred-dir', str(tmp_path / 'preds'), '--viz-dir', str(tmp_path / 'two'),
         '--num-samples', '3', '--width', str(WIDTH), '--no-progress', *extra],
        timeout=300, env=script_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'rank 0: wrote 2 {kind}' in result.stdout
    assert f'rank 1: wrote 1 {kind}' in result.stdout
    assert sorted(os.listdir(tmp_path / 'two')) == sorted(os.path.basename(p) for p in one)
    for path in one:
        with open(path, 'rb') as a, open(tmp_path / 'two' / os.path.basename(path), 'rb') as b:
            assert a.read() == b.read()


def _page_data(path):
    from tests.visualization.test_page import page_data

    with open(path, encoding='utf-8') as f:
        return page_data(f.read())


def _val_scene(toy_root):
    return _val_infos(toy_root)[0]['scene_name']


def test_html_pages_of_saved_predictions_are_byte_identical(toy_root, tmp_path):
    tokens = _write_preds(toy_root, tmp_path / 'preds')
    written = _run(toy_root, tmp_path / 'preds', tmp_path / 'a', num=2, extra=('--html',))
    assert written == [str(tmp_path / 'a' / f'{t}.html') for t in tokens[:2]]
    assert sorted(os.listdir(tmp_path / 'a')) == sorted(f'{t}.html' for t in tokens[:2])
    again = _run(toy_root, tmp_path / 'preds', tmp_path / 'b', num=2, extra=('--html',))
    for first, second in zip(written, again):
        with open(first, 'rb') as a, open(second, 'rb') as b:
            assert a.read() == b.read()
    data = _page_data(written[0])
    (frame,) = data['frames']
    assert frame['token'] == tokens[0] and frame['scene'] == _val_scene(toy_root)
    # the ground truth as prediction scores perfectly
    assert frame['metrics'] == {'RayIoU': 1.0, 'RayIoU@1': 1.0, 'RayIoU@2': 1.0,
                                'RayIoU@4': 1.0, 'mIoU': 100.0}
    assert frame['pred'] == frame['gt'] and len(frame['cameras']) == 6
    assert len(frame['path']) == len(tokens)  # the scene's keyframes, all within 40 m here


def test_html_scene_page_and_sample_selection(toy_root, tmp_path):
    tokens = _write_preds(toy_root, tmp_path / 'preds')
    scene = _val_scene(toy_root)
    (path,) = _run(toy_root, tmp_path / 'preds', tmp_path / 'scene', num=1,
                   extra=('--html', '--scene', scene))
    assert path == str(tmp_path / 'scene' / f'{scene}.html')
    assert [f['token'] for f in _page_data(path)['frames']] == tokens  # time order, all
    picked = _run(toy_root, tmp_path / 'preds', tmp_path / 'picked', num=1,
                  extra=('--html', '--sample', tokens[2], tokens[0]))
    assert [os.path.basename(p) for p in picked] == [f'{tokens[2]}.html', f'{tokens[0]}.html']


def _fails_without_output(toy_root, pred_dir, viz, match, extra=()):
    with pytest.raises(SystemExit, match=match) as failure:
        _run(toy_root, pred_dir, viz, 1, extra=('--html', *extra))
    assert '\n' not in str(failure.value)  # one line
    assert not viz.exists() or not os.listdir(viz)  # no page, no temporary file


@pytest.mark.parametrize('bad, match', [
    (np.zeros((200, 200, 15), np.uint8), r'prediction: pred has shape \(200, 200, 15\)'),
    (np.zeros(GRID_SHAPE, np.float32), 'prediction: dtype float32, expected integer labels'),
    (np.full(GRID_SHAPE, 18, np.int64), r'labels must lie in \[0, 17\], found \[18, 18\]'),
])
def test_html_bad_prediction_is_one_line_and_no_page(toy_root, tmp_path, bad, match):
    tokens = _write_preds(toy_root, tmp_path / 'preds')
    np.savez(tmp_path / 'preds' / f'{tokens[0]}.npz', pred=bad)
    _fails_without_output(toy_root, tmp_path / 'preds', tmp_path / 'viz', match)
    # a scene page checks every keyframe before writing
    _fails_without_output(toy_root, tmp_path / 'preds', tmp_path / 'viz', match,
                          ('--scene', _val_scene(toy_root)))


def test_html_bad_input_is_one_line_and_no_page(toy_root, tmp_path):
    tokens = _write_preds(toy_root, tmp_path / 'preds')
    viz = tmp_path / 'viz'
    _fails_without_output(toy_root, tmp_path / 'preds', viz, "unknown sample token 'nope'",
                          ('--sample', 'nope'))
    _fails_without_output(toy_root, tmp_path / 'preds', viz, "unknown scene 'scene-9999'",
                          ('--scene', 'scene-9999'))
    with pytest.raises(SystemExit, match='--scene writes scene pages: add --html'):
        _run(toy_root, tmp_path / 'preds', viz, 1, extra=('--scene', _val_scene(toy_root)))
    # a missing camera image of the first keyframe, in a copy of the world
    import shutil

    world = tmp_path / 'world'
    shutil.copytree(toy_root, world, ignore=shutil.ignore_patterns('sweeps', 'occ3d'))
    os.symlink(os.path.join(toy_root, 'occ3d'), world / 'occ3d')
    image = world / _val_infos(toy_root)[0]['cams']['CAM_BACK']['data_path']
    image.unlink()
    with pytest.raises(SystemExit, match='camera image not found: .*' + re.escape(image.name)) \
            as failure:
        _run(str(world), tmp_path / 'preds', viz, 1, extra=('--html', '--sample', tokens[0]))
    assert '\n' not in str(failure.value)
    assert not viz.exists() or not os.listdir(viz)


def test_html_ranks_split_the_pages(toy_root, tmp_path, monkeypatch):
    _write_preds(toy_root, tmp_path / 'preds')
    one = _run(toy_root, tmp_path / 'preds', tmp_path / 'one', num=3, extra=('--html',))
    shares = []
    for rank in (0, 1):
        monkeypatch.setenv('RANK', str(rank))
        monkeypatch.setenv('WORLD_SIZE', '2')
        shares.append(_run(toy_root, tmp_path / 'preds', tmp_path / 'two', num=3,
                           extra=('--html',)))
        # scenes are split too: the one val scene goes to rank 0
        scenes = _run(toy_root, tmp_path / 'preds', tmp_path / f'scene_{rank}', num=1,
                      extra=('--html', '--scene', _val_scene(toy_root)))
        assert len(scenes) == (1 if rank == 0 else 0)
    assert [os.path.basename(p) for p in shares[0]] == [os.path.basename(p) for p in one[0::2]]
    assert [os.path.basename(p) for p in shares[1]] == [os.path.basename(p) for p in one[1::2]]
    for path in one:
        with open(path, 'rb') as a, open(tmp_path / 'two' / os.path.basename(path), 'rb') as b:
            assert a.read() == b.read()


def test_html_page_of_the_model(small_gdocc_config, gdocc_weights, toy_root, tmp_path):
    (path,) = viz_prediction.main([
        '--config', small_gdocc_config, '--weights', str(gdocc_weights), '--viz-dir',
        str(tmp_path / 'viz'), '--num', '1', '--html', '--no-progress',
        '--work-dir', str(tmp_path / 'work')])
    (frame,) = _page_data(path)['frames']
    assert frame['token'] == _val_infos(toy_root)[0]['token']
    assert set(frame['metrics']) == {'RayIoU', 'RayIoU@1', 'RayIoU@2', 'RayIoU@4', 'mIoU'}
