"""tools/diagnose_proposal.py on the tiny toy world with an initialised GD-OCC checkpoint:
recall counts per level and height are consistent with the ground truth, and the oracle on
the kept voxels is what its definition says."""
import numpy as np
import pytest

pytestmark = pytest.mark.toy_world


def test_oracle_on_kept_keeps_the_labels_of_kept_voxels_only(tools):
    gt = np.full((4, 4, 2), 17, dtype=np.uint8)
    gt[0, 0, 0], gt[1, 1, 1], gt[2, 2, 0] = 11, 4, 15
    pred = tools.diagnose_proposal.oracle_on_kept(np.array([[0, 0, 0], [1, 1, 1], [3, 3, 1]]),
                                                  gt, 17)
    expected = np.full_like(gt, 17)
    expected[0, 0, 0], expected[1, 1, 1] = 11, 4
    np.testing.assert_array_equal(pred, expected)


def test_class_counts_split_kept_voxels_by_ground_truth_class(tools):
    gt = np.full((3, 3, 2), 17, dtype=np.uint8)
    gt[0, 0, 0] = gt[0, 1, 0] = 11      # two driveable-surface targets
    gt[1, 1, 1] = 4                     # a car target
    gt[2, 2, 1] = 15                    # manmade, occupied but no target
    targets = np.isin(gt, (11, 4))
    pred = np.full_like(gt, 17)
    pred[0, 0, 0], pred[1, 1, 1] = 11, 15
    kept = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 1], [2, 0, 0]])
    counts = tools.diagnose_proposal.class_counts(kept, targets, gt, pred, 17)
    expected = np.zeros((4, 18), dtype=np.int64)
    expected[:, 11] = (2, 1, 1, 0)      # one of two kept, labelled right
    expected[:, 4] = (1, 1, 0, 0)       # kept, labelled manmade
    expected[3, 15] = 1                 # kept occupied non-target
    expected[3, 17] = 1                 # kept free voxel
    np.testing.assert_array_equal(counts, expected)


def test_counts_are_consistent_with_the_ground_truth(small_gdocc_config, gdocc_weights, tools,
                                                      monkeypatch, capsys):
    import torch
    from mmdet3d.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    result = tools.diagnose_proposal.main(['--config', small_gdocc_config, '--weights',
                                           str(gdocc_weights), '--num', '3', '--no-progress'])
    levels = result['levels']
    assert [stats.shape for stats in levels] == [(3, 2), (3, 4), (3, 8), (3, 16)]
    for positives, candidates, kept in levels:
        assert (kept <= candidates).all() and (candidates <= positives).all()
    # Level 0 is dense: every voxel is a candidate.
    np.testing.assert_array_equal(levels[0][1], levels[0][0])
    cfg = Config.fromfile(small_gdocc_config)
    init_default_scope('mmdet3d')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    proposal = MODELS.build(cfg.model.proposal)
    targets = 0
    for sample in (dataset[i]['data_samples'] for i in range(3)):
        occupied = torch.from_numpy(np.asarray(sample.gt_occ_sem) != 17)[None]
        observed = torch.from_numpy(np.asarray(sample.mask_camera, bool))[None]
        kept = proposal.targets(occupied, proposal.observed_region(observed))
        assert (kept <= occupied).all()            # targets are occupied voxels
        targets = targets + kept[0].sum((0, 1)).numpy()
    np.testing.assert_array_equal(levels[-1][0], targets)
    classes = result['classes']
    assert classes[0].sum() == targets.sum()
    assert classes[1].sum() == levels[-1][2].sum()      # kept targets, per class or height
    assert (classes[2] <= classes[1]).all() and (classes[1] <= classes[0]).all()
    assert classes[0, 17] == 0                          # free voxels are never targets
    assert 0 <= result['RayIoU'] <= 1 and 0 < result['oracle_RayIoU'] <= 1
    assert 0 < result['targets_RayIoU'] <= 1
    out = capsys.readouterr().out
    assert 'on the targets' in out and 'per ground-truth class' in out


def test_missing_checkpoint_is_a_one_line_error(small_gdocc_config, tools, tmp_path):
    with pytest.raises(SystemExit, match='error: .*missing.pth'):
        tools.diagnose_proposal.main(['--config', small_gdocc_config, '--weights',
                                      str(tmp_path / 'missing.pth')])
