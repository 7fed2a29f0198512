"""val.py and viz_prediction.py --config --weights on the tiny toy world: the GD-OCC
detector's saved predictions score the same in tools/ray_metrics.py, 1 and 2 processes give
identical metrics, and the figures have the documented size."""
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from evaluation.prediction_folder import evaluate
from tests.subprocesses import ROOT, launcher, run, script_env

pytestmark = pytest.mark.toy_world

METRIC_KEYS = ('RayIoU', 'RayIoU@1', 'RayIoU@2', 'RayIoU@4', 'mIoU')


def _val(config, weights, work_dir, *extra, nproc=1, returncode=0, cwd=ROOT):
    result = run([*launcher(nproc), os.path.join(ROOT, 'val.py'), '--config', config,
                  '--weights', str(weights), '--work-dir', str(work_dir), '--no-progress', *extra],
                 timeout=400, cwd=cwd, env=script_env())
    assert result.returncode == returncode, result.stderr[-4000:]
    return result


def _tool_metrics(toy_root, pred_dir):
    return evaluate(toy_root, str(pred_dir), os.path.join(
        toy_root, 'nuscenes_infos_val_sweep.pkl'), progress=False)


def _same(a, b):
    for key in METRIC_KEYS:
        assert a[key] == pytest.approx(b[key], abs=1e-9), key
    for name, ious in a['per_class_RayIoU'].items():  # nan: class absent from the GT
        assert ious == pytest.approx(b['per_class_RayIoU'][name], abs=1e-9, nan_ok=True), name


def test_val_saved_predictions_score_the_same_in_the_tool(small_gdocc_config, gdocc_weights,
                                                          toy_root, tmp_path):
    out, preds = tmp_path / 'metrics.json', tmp_path / 'preds'
    result = _val(small_gdocc_config, gdocc_weights, tmp_path / 'work', '--out', str(out),
                  '--save-pred', str(preds))
    metrics = json.loads(out.read_text())
    assert metrics['num_samples'] == 3 and len(os.listdir(preds)) == 3
    assert f'occ/RayIoU={metrics["RayIoU"]:.4f}' in result.stdout
    with np.load(next(preds.iterdir())) as archive:
        assert archive['pred'].dtype == np.uint8 and archive['pred'].shape == (200, 200, 16)
    _same(_tool_metrics(toy_root, preds), metrics)


@pytest.mark.torchrun
def test_val_one_and_two_processes_agree(small_gdocc_config, toy_root, tmp_path):
    # A corrupted-ground-truth oracle: non-trivial metrics at no model cost.
    config = tmp_path / 'oracle.py'
    config.write_text(f"_base_ = [{small_gdocc_config!r}]\n"
                      "custom_imports = dict(imports=['models', 'loaders', 'evaluation', "
                      "'train_probe'], allow_failed_imports=False)\n"
                      "model = dict(_delete_=True, type='NoisyOracleOccModel')\n")
    weights = tmp_path / 'oracle.pth'
    torch.save(dict(state_dict=dict(unused=torch.zeros(1)), meta=dict()), weights)
    _val(str(config), weights, tmp_path / 'w1', '--out', str(tmp_path / 'one.json'))
    # 3 samples over 2 processes: the sampler pads one, which the metric must not count.
    # The ranks' results travel through the process group: nothing in the working directory.
    (tmp_path / 'cwd').mkdir()
    _val(str(config), weights, tmp_path / 'w2', '--out', str(tmp_path / 'two.json'),
         '--save-pred', str(tmp_path / 'preds'), nproc=2, cwd=tmp_path / 'cwd')
    assert not os.listdir(tmp_path / 'cwd')
    one = json.loads((tmp_path / 'one.json').read_text())
    two = json.loads((tmp_path / 'two.json').read_text())
    assert 0.05 < one['RayIoU'] < 0.95 and 1 < one['mIoU'] < 95
    _same(one, two)
    assert one['num_samples'] == two['num_samples'] == 3
    _same(_tool_metrics(toy_root, tmp_path / 'preds'), one)


def test_bad_input_ends_with_one_line(small_gdocc_config, gdocc_weights, toy_root, tmp_path):
    result = _val(small_gdocc_config, gdocc_weights, tmp_path / 'work', '--cfg-options',
                  'model.decoder.topk_tset=5', returncode=1)
    assert result.stderr.strip().splitlines()[-1] == (
        "error: model.decoder.topk_tset: SparseVoxelDecoder takes no argument 'topk_tset' "
        "(did you mean 'topk_test'?) (--debug shows the traceback)")

    # A truncated label archive in a copy of the world's val split.
    world = tmp_path / 'world'
    shutil.copytree(toy_root, world)
    with open(world / 'nuscenes_infos_val_sweep.pkl', 'rb') as f:
        info = pickle.load(f)['data_list'][1]
    labels = world / info['occ_path']
    labels.write_bytes(labels.read_bytes()[:100])
    expected = (f"{labels}: occupancy labels: unreadable npz (File is not a zip file) "
                f"[sample {info['token']} (index 1 of test_dataloader)] (--debug shows the "
                f"traceback)")
    root = f'test_dataloader.dataset.data_root={world}{os.sep}'
    # In a dataloader worker, one process: the same line as in the main process.
    preds = tmp_path / 'preds1'
    result = _val(small_gdocc_config, gdocc_weights, tmp_path / 'work1', '--save-pred',
                  str(preds), '--cfg-options', root, 'test_dataloader.num_workers=1',
                  returncode=1)
    assert result.stderr.strip().splitlines()[-1] == f'error: {expected}'
    assert 'Traceback' not in result.stderr
    # Two processes: the failing rank says it in one line; nothing half-written anywhere.
    (tmp_path / 'cwd').mkdir()
    preds = tmp_path / 'preds2'
    result = _val(small_gdocc_config, gdocc_weights, tmp_path / 'work2', '--save-pred',
                  str(preds), '--out', str(tmp_path / 'metrics.json'), '--cfg-options', root,
                  nproc=2, returncode=1, cwd=tmp_path / 'cwd')
    assert f'error: {expected}' in result.stderr.splitlines()
    assert 'val.py", line' not in result.stderr  # no traceback of ours (torchrun adds its own)
    assert not os.listdir(tmp_path / 'cwd') and not (tmp_path / 'metrics.json').exists()
    assert all(name.endswith('.npz') and '.tmp-' not in name for name in os.listdir(preds))
    for name in os.listdir(preds):
        with np.load(preds / name) as archive:
            assert archive['pred'].shape == (200, 200, 16)


def test_viz_with_config_and_weights(small_gdocc_config, gdocc_weights, toy_root, tmp_path,
                                     monkeypatch):
    from PIL import Image

    import viz_prediction

    # what prepare_config sets for mmengine checkpoints, undone after the test
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    width = 480
    written = viz_prediction.main([
        '--config', small_gdocc_config, '--weights', str(gdocc_weights),
        '--work-dir', str(tmp_path / 'work'), '--viz-dir', str(tmp_path / 'viz'),
        '--num', '2', '--width', str(width), '--no-progress'])
    assert len(written) == 2
    for path in written:
        with Image.open(path) as image:
            assert image.format == 'PNG'
            assert image.size == viz_prediction.layout(width)['size']
            pixels = np.asarray(image.convert('RGB'))
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # cameras, GT, legend
    with pytest.raises(SystemExit, match='--config and --weights go together'):
        viz_prediction.main(['--config', small_gdocc_config, '--viz-dir', str(tmp_path)])
