"""train.py with the GD-OCC detector on the tiny toy world (CPU): two DDP processes end with
identical parameters, and a run interrupted mid-epoch (SIGTERM) and resumed sees the same
samples, augmentations and losses as an uninterrupted one."""
import hashlib
import json
import os

import pytest
import torch

from tests.subprocesses import ROOT, launcher, run, script_env

pytestmark = pytest.mark.toy_world



def _probed(config, probe_dir, signal_at_iter=None):
    """``config`` plus a ``TrainProbeHook`` writing to ``probe_dir``."""
    path = f'{probe_dir}.py'
    with open(path, 'w') as f:
        f.write(f"_base_ = [{config!r}]\n"
                f"custom_imports = dict(imports=['models', 'loaders', 'evaluation', "
                f"'train_probe'], allow_failed_imports=False)\n"
                f"custom_hooks = [dict(type='TrainProbeHook', out_dir={str(probe_dir)!r}, "
                f"signal_at_iter={signal_at_iter})]\n")
    return path


def _train(config, work_dir, *extra, nproc=1):
    return run([*launcher(nproc), os.path.join(ROOT, 'train.py'), '--config', config,
                '--work-dir', str(work_dir), *extra], timeout=400, cwd=ROOT, env=script_env())


def _iters(probe_dir, rank=0):
    with open(os.path.join(probe_dir, f'iters_rank{rank}.jsonl')) as f:
        return [json.loads(line) for line in f]


def _params(probe_dir, rank=0):
    """{parameter name: sha256} the probe wrote when training ended."""
    return json.loads((probe_dir / f'params_rank{rank}.json').read_text())


def _checkpoint_params(path, names):
    state = torch.load(path, weights_only=False)['state_dict']
    return {name: hashlib.sha256(state[name].contiguous().numpy().tobytes()).hexdigest()
            for name in names}


@pytest.mark.torchrun
def test_ddp_ranks_end_with_identical_parameters(small_gdocc_config, tmp_path):
    probe = tmp_path / 'probe'
    # 3 training samples, padded to 4 by the sampler: 2 iterations of 1 sample per rank.
    result = _train(_probed(small_gdocc_config, probe), tmp_path / 'work', '--cfg-options',
                    'total_batch_size=2', 'train_cfg.max_epochs=1', nproc=2)
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [_iters(probe, rank) for rank in (0, 1)]
    assert [len(r) for r in ranks] == [2, 2]
    assert all(len(record['samples']) == 1 for r in ranks for record in r)
    assert ranks[0][0]['samples'] != ranks[1][0]['samples']  # each rank its own shard
    assert ranks[0][0]['loss'] != ranks[1][0]['loss']
    params = _params(probe, 0)
    assert len(params) > 100 and params == _params(probe, 1)
    assert _checkpoint_params(tmp_path / 'work' / 'epoch_1.pth', params) == params


def test_interrupted_and_resumed_training_matches_uninterrupted(small_gdocc_config, tmp_path):
    full, cut = tmp_path / 'full', tmp_path / 'cut'
    result = _train(_probed(small_gdocc_config, full), tmp_path / 'work_full')
    assert result.returncode == 0, result.stderr[-4000:]
    assert len(_iters(full)) == 3

    config = _probed(small_gdocc_config, cut, signal_at_iter=2)
    result = _train(config, tmp_path / 'work_cut')
    assert result.returncode == 128 + 15, result.stderr[-4000:]
    assert os.path.isfile(tmp_path / 'work_cut' / 'interrupted.pth')
    result = _train(config, tmp_path / 'work_cut', '--resume')
    assert result.returncode == 0, result.stderr[-4000:]
    # Random augmentations included: the resumed iteration 3 draws what the full run drew.
    assert _iters(cut) == _iters(full)
    assert _params(cut) == _params(full)
