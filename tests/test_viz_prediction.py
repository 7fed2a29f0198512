"""viz_prediction.py: figures of saved predictions on the toy world, and its one-line errors."""
import os
import pickle

import numpy as np
import pytest

import viz_prediction
from core.occ3d import FREE_LABEL, GRID_SHAPE

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
def test_torchrun_two_processes_write_the_figures_of_one(toy_root, tmp_path):
    import subprocess
    import sys

    _write_preds(toy_root, tmp_path / 'preds')
    one = _run(toy_root, tmp_path / 'preds', tmp_path / 'one', num=3)
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         viz_prediction.__file__, '--data-root', toy_root, '--pred-dir', str(tmp_path / 'preds'),
         '--viz-dir', str(tmp_path / 'two'), '--num-samples', '3', '--width', str(WIDTH),
         '--no-progress'], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'rank 0: wrote 2 figures' in result.stdout and 'rank 1: wrote 1 figures' in result.stdout
    assert sorted(os.listdir(tmp_path / 'two')) == sorted(os.path.basename(p) for p in one)
