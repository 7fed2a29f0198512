"""tools/diagnose_proposal.py on the tiny toy world with an initialised GD-OCC checkpoint:
recall counts per level and height are consistent with the ground truth."""
import numpy as np
import pytest

from evaluation.proposal_diagnosis import above_ground, diagnostic_targets
from tools import diagnose_proposal

pytestmark = pytest.mark.toy_world


def test_counts_are_consistent_with_the_ground_truth(small_gdocc_config, gdocc_weights,
                                                      monkeypatch, capsys):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet3d.registry import DATASETS

    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    result = diagnose_proposal.main(['--config', small_gdocc_config, '--weights',
                                     str(gdocc_weights), '--num', '3', '--no-progress'])
    stages = result['stages']
    assert [stats.shape for stats in stages] == [(3, 4), (3, 8), (3, 16)]
    for positives, candidates, kept in stages:
        assert (kept <= candidates).all() and (candidates <= positives).all()
    # Stage 0's candidates are all children of the dense coarse grid.
    np.testing.assert_array_equal(stages[0][1], stages[0][0])
    cfg = Config.fromfile(small_gdocc_config)
    init_default_scope('mmdet3d')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    targets, above = 0, 0
    for sample in (dataset[i]['data_samples'] for i in range(3)):
        gt = np.asarray(sample.gt_occ_sem)
        mask = diagnostic_targets(gt, sample.mask_camera, 17, 2)
        assert (gt[mask] != 17).all()               # targets are occupied voxels
        targets = targets + mask.sum((0, 1))
        above += (mask & above_ground(gt)).sum()
    np.testing.assert_array_equal(stages[-1][0], targets)
    classes = result['classes']
    assert classes[0].sum() == targets.sum()
    assert classes[1].sum() == stages[-1][2].sum()      # kept targets, per class or height
    assert (classes[2] <= classes[1]).all() and (classes[1] <= classes[0]).all()
    assert classes[0, 17] == 0                          # free voxels are never targets
    assert result['above_ground'][0] == above and result['above_ground'][1] <= above
    assert 0 <= result['RayIoU'] <= 1 and 0 < result['oracle_RayIoU'] <= 1
    assert 0 < result['targets_RayIoU'] <= 1
    out = capsys.readouterr().out
    assert 'on the targets' in out and 'above-ground targets kept' in out


def test_missing_checkpoint_is_a_one_line_error(small_gdocc_config, tmp_path):
    with pytest.raises(SystemExit, match='error: .*missing.pth'):
        diagnose_proposal.main(['--config', small_gdocc_config, '--weights',
                                str(tmp_path / 'missing.pth')])
