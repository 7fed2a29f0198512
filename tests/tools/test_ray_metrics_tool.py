"""tools/ray_metrics.py: GT-as-prediction scores perfectly; bad folders fail clearly."""
import json
import os
import pickle

import numpy as np
import pytest

from evaluation.prediction_folder import evaluate
from tools import ray_metrics

pytestmark = pytest.mark.toy_world


@pytest.fixture(scope='module')
def val_infos(toy_root):
    with open(os.path.join(toy_root, 'nuscenes_infos_val_sweep.pkl'), 'rb') as f:
        return pickle.load(f)['data_list']


def _write_gt_predictions(toy_root, infos, folder):
    folder.mkdir(exist_ok=True)
    for info in infos:
        with np.load(os.path.join(toy_root, info['occ_path'])) as labels:
            np.savez_compressed(folder / f"{info['token']}.npz", pred=labels['semantics'])
    return folder


def test_ground_truth_as_prediction_is_perfect(toy_root, val_infos, tmp_path):
    preds = _write_gt_predictions(toy_root, val_infos, tmp_path / 'preds')
    out = tmp_path / 'metrics' / 'metrics.json'
    result = ray_metrics.main(['--data-root', toy_root, '--pred-dir', str(preds),
                                     '--out', str(out), '--no-progress'])
    assert result['RayIoU'] == pytest.approx(1.0)
    assert result['RayIoU@1'] == pytest.approx(1.0) and result['mIoU'] == pytest.approx(100.0)
    assert result['num_samples'] == len(val_infos)
    saved = json.loads(out.read_text())
    assert saved['RayIoU'] == pytest.approx(1.0) and 'per_class_RayIoU' in saved
    assert not [p for p in os.listdir(out.parent) if 'tmp' in p]


def test_a_worse_prediction_scores_lower(toy_root, val_infos, tmp_path):
    preds = _write_gt_predictions(toy_root, val_infos, tmp_path / 'preds')
    for info in val_infos:
        path = preds / f"{info['token']}.npz"
        with np.load(path) as archive:
            shifted = np.roll(archive['pred'], 3, axis=0)
        np.savez_compressed(path, pred=shifted)
    result = evaluate(toy_root, str(preds),
                                        os.path.join(toy_root, 'nuscenes_infos_val_sweep.pkl'),
                                        progress=False)
    assert result['RayIoU'] < 0.9 and result['mIoU'] < 90


def test_missing_and_malformed_files_are_named(toy_root, val_infos, tmp_path):
    preds = _write_gt_predictions(toy_root, val_infos, tmp_path / 'preds')
    run = ['--data-root', toy_root, '--pred-dir', str(preds), '--no-progress']
    token = val_infos[-1]['token']
    os.remove(preds / f'{token}.npz')
    with pytest.raises(SystemExit, match=f'prediction .*not found.*{token}.npz'):
        ray_metrics.main(run)
    np.savez_compressed(preds / f'{token}.npz', pred=np.zeros((200, 200, 8), np.uint8))
    with pytest.raises(SystemExit,
                       match=rf'{token}.npz: prediction: pred has shape \(200, 200, 8\)'):
        ray_metrics.main(run)
    np.savez_compressed(preds / f'{token}.npz', semantics=np.zeros((200, 200, 16), np.uint8))
    with pytest.raises(SystemExit, match=rf"{token}.npz: prediction: lacks \['pred'\]"):
        ray_metrics.main(run)
    np.savez_compressed(preds / f'{token}.npz', pred=np.full((200, 200, 16), 30, np.uint8))
    with pytest.raises(SystemExit, match=f'{token}.npz: prediction: labels must lie in'):
        ray_metrics.main(run)
    # ground truth missing: an info file pointing at an absent labels.npz
    _write_gt_predictions(toy_root, val_infos, preds)
    broken = [dict(info) for info in val_infos]
    broken[0]['occ_path'] = 'occ3d/gone/labels.npz'
    with open(tmp_path / 'broken.pkl', 'wb') as f:
        pickle.dump(dict(metainfo={}, data_list=broken), f)
    with pytest.raises(SystemExit, match='ground truth not found.*occ3d/gone/labels.npz'):
        ray_metrics.main(run + ['--ann-file', str(tmp_path / 'broken.pkl')])
    with pytest.raises(SystemExit, match='info file not found.*nothing.pkl'):
        ray_metrics.main(run + ['--ann-file', 'nothing.pkl'])
    with pytest.raises(SystemExit, match='prediction folder not found'):
        ray_metrics.main(['--data-root', toy_root, '--pred-dir', str(tmp_path / 'no')])
