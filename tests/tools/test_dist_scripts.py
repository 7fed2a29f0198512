"""tools/dist_train.sh across two "nodes" on this machine (two torchrun agents, one process
each, meeting at 127.0.0.1): both ranks end with the same weights; tools/slurm_*.sh's
environment mapping (engine.runtime.slurm_environment)."""
import json
import os
import socket
import subprocess
import sys

import pytest

from engine.runtime import slurm_environment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = """
custom_imports = dict(imports=['models', 'loaders', 'evaluation', 'tiny_occ', 'train_probe'],
                      allow_failed_imports=False)
default_scope = 'mmdet3d'
model = dict(type='TinyOccModel')
train_dataloader = dict(batch_size=2, num_workers=0,
                        dataset=dict(type='TinyOccDataset', num_samples=8),
                        sampler=dict(type='DefaultSampler', shuffle=True))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.05))
train_cfg = dict(by_epoch=True, max_epochs=1)
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0)
custom_hooks = [dict(type='TrainProbeHook', out_dir={probe!r})]
"""


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.torchrun
def test_two_nodes_of_one_process_train_to_the_same_weights(tmp_path):
    config = tmp_path / 'tiny.py'
    config.write_text(CONFIG.format(probe=str(tmp_path / 'probe')))
    env = dict(os.environ, OMP_NUM_THREADS='1', PY=sys.executable, NNODES='2',
               MASTER_ADDR='127.0.0.1', PORT=str(_free_port()), PYTHONPATH=os.pathsep.join(
                   [ROOT, os.path.join(ROOT, 'tests', 'fixtures'),
                    os.environ.get('PYTHONPATH', '')]))
    nodes = [subprocess.Popen(['bash', os.path.join(ROOT, 'tools', 'dist_train.sh'),
                               str(config), '1', '--work-dir', str(tmp_path / f'work{rank}')],
                              cwd=tmp_path, env=dict(env, NODE_RANK=str(rank)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output[-3000:]
    params = [json.loads((tmp_path / 'probe' / f'params_rank{rank}.json').read_text())
              for rank in (0, 1)]
    assert params[0] and params[0] == params[1]
    # each rank trained on its own half of the samples, 2 iterations of 2
    iters = [(tmp_path / 'probe' / f'iters_rank{rank}.jsonl').read_text().splitlines()
             for rank in (0, 1)]
    samples = [sorted(i for line in lines for i in json.loads(line)['samples'])
               for lines in iters]
    assert len(iters[0]) == len(iters[1]) == 2
    assert sorted(samples[0] + samples[1]) == list(range(8))
    # only node 0 (global rank 0) writes the checkpoint
    assert os.path.isfile(tmp_path / 'work0' / 'epoch_1.pth')
    assert not os.path.exists(tmp_path / 'work1' / 'epoch_1.pth')


def test_slurm_tasks_get_torchrun_variables(monkeypatch, tmp_path):
    task = dict(SLURM_PROCID='5', SLURM_LOCALID='1', SLURM_NTASKS='8',
                SLURM_JOB_NODELIST='gpu[07-08]')
    # scontrol expands the node list; a stand-in prints what it would
    scontrol = tmp_path / 'scontrol'
    scontrol.write_text('#!/bin/sh\n[ "$*" = "show hostnames gpu[07-08]" ] && '
                        'printf "gpu07\\ngpu08\\n"\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv('PATH', f'{tmp_path}{os.pathsep}{os.environ["PATH"]}')
    assert slurm_environment(task) == dict(RANK='5', LOCAL_RANK='1', WORLD_SIZE='8',
                                           MASTER_ADDR='gpu07', MASTER_PORT='29500')
    assert slurm_environment(dict(task, MASTER_ADDR='10.0.0.1', MASTER_PORT='1234')) == \
        dict(RANK='5', LOCAL_RANK='1', WORLD_SIZE='8', MASTER_ADDR='10.0.0.1',
             MASTER_PORT='1234')
    with pytest.raises(RuntimeError, match='--launcher slurm outside a srun task'):
        slurm_environment({})
