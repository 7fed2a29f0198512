"""tools/blind_baseline.py: the per-voxel most frequent training label, scored by the tool."""
import os
import pickle

import numpy as np
import pytest

from tools import blind_baseline, ray_metrics

pytestmark = pytest.mark.toy_world


def test_baseline_is_the_per_voxel_mode_of_the_training_labels(toy_root, tmp_path):
    out = tmp_path / 'blind'
    blind_baseline.main(['--data-root', toy_root, '--out-dir', str(out), '--no-progress'])
    with open(os.path.join(toy_root, 'nuscenes_infos_train_sweep.pkl'), 'rb') as f:
        train = pickle.load(f)['data_list']
    with open(os.path.join(toy_root, 'nuscenes_infos_val_sweep.pkl'), 'rb') as f:
        val = pickle.load(f)['data_list']
    labels = np.stack([np.load(os.path.join(toy_root, i['occ_path']))['semantics']
                       for i in train]).astype(np.int64)
    votes = np.stack([(labels == c).sum(0) for c in range(18)], axis=-1)
    expected = votes.argmax(-1)  # ties go to the lower label, as in the tool
    assert sorted(os.listdir(out)) == sorted(f"{i['token']}.npz" for i in val)
    pred = np.load(out / f"{val[0]['token']}.npz")['pred']
    assert pred.dtype == np.uint8 and np.array_equal(pred, expected)

    result = ray_metrics.main(['--data-root', toy_root, '--pred-dir', str(out),
                                     '--no-progress'])
    assert 0.0 < result['RayIoU'] < 1.0


def test_missing_infos_fail_with_one_line(tmp_path):
    with pytest.raises(SystemExit, match='info file'):
        blind_baseline.main(['--data-root', str(tmp_path),
                                   '--out-dir', str(tmp_path / 'o')])
