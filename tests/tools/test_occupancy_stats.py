"""tools/occupancy_stats.py: statistics of a ground truth against hand counts."""
import json
import os

import numpy as np
import pytest

from core.geometry import hidden_voxels
from core.infos import load_info_file
from core.occ3d import FREE_LABEL, OCC3D_CLASS_NAMES
from tools import occupancy_stats

pytestmark = pytest.mark.toy_world


def test_statistics_match_hand_counts(toy_root, tmp_path, capsys):
    out = tmp_path / 'stats.json'
    summaries = occupancy_stats.main(['--data-root', toy_root, '--out', str(out),
                                      '--no-progress'])
    printed = capsys.readouterr().out
    _, infos = load_info_file(os.path.join(toy_root, 'nuscenes_infos_val_sweep.pkl'),
                              data_root=toy_root)
    counts = np.zeros(len(OCC3D_CLASS_NAMES), dtype=np.int64)
    hidden = camera = 0
    for info in infos:
        labels = np.load(os.path.join(toy_root, info['occ_path']))
        occupied = labels['semantics'] != FREE_LABEL
        counts += np.bincount(labels['semantics'].ravel(), minlength=len(counts))
        hidden += hidden_voxels(occupied).sum()
        camera += labels['mask_camera'].sum()
    val = summaries['val']
    occupied = counts[:FREE_LABEL].sum()
    assert val['samples'] == len(infos)
    assert val['label_counts'] == counts.tolist()
    assert val['occupied'] == pytest.approx(100 * occupied / counts.sum())
    assert val['hidden_of_occupied'] == pytest.approx(100 * hidden / occupied)
    assert val['mask_camera'] == pytest.approx(100 * camera / counts.sum())
    assert sum(val['class_shares'].values()) == pytest.approx(100)
    # the LiDAR-built toy labels: surfaces, a small share of the grid
    assert 0.5 < val['occupied'] < 10 and val['hidden_of_occupied'] < 5
    assert json.loads(out.read_text())['splits']['val']['label_counts'] == counts.tolist()
    assert 'occ_class_frequencies = [' in printed and 'driveable_surface' in printed


def test_missing_infos_end_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match='occupancy_stats: error: .*info'):
        occupancy_stats.main(['--data-root', str(tmp_path), '--no-progress'])
