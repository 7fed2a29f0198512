"""Runs consecutive 2-process (torchrun, gloo on CPU) train.py and val.py jobs on a small
toy world and counts their exit codes: a distributed run must end with 0 every time.

    python tools/stress_distributed.py [--val-runs 30] [--train-runs 10] [--nproc 2]
        [--work-dir work_dirs/stress] [--json report.json]

The toy world (2 scenes x 3 keyframes, 160 x 90 images, one val scene: the test suite's)
is generated into the work dir once. The model is ``configs/toy_gdocc.py`` at 160 x 64
input. The first job trains it for one epoch; then the val runs (which evaluate that
checkpoint with ``--save-pred`` and ``--out``) and the other train runs alternate, so an
interrupted stress run still counts both. A run fails when it exits with anything but 0
or leaves a file in its working directory; its output is kept in
``<work-dir>/failures/``, with the signal that killed a worker. Prints one line per run and
a summary (rewritten to ``--json`` after every run); exit code 1 when any run failed.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORLD_OPTIONS = ['--scenes', '2', '--frames-per-scene', '3', '--sweeps', '1',
                 '--image-size', '160', '90', '--val-scenes', '1']
# configs/toy_gdocc.py at 160 x 64 input on the stress world, one epoch.
CONFIG = """_base_ = [{base!r}]
data_root = {world!r}
image_size = (160, 64)
train_pipeline = [
    dict(type='LoadMultiViewImages', num_frames=2, interval=[2, 3], color_order='rgb'),
    dict(type='LoadOccupancy'),
    dict(type='ImageAug3D', final_size=image_size, resize_range=(0.9, 1.1),
         bottom_crop_range=(0.0, 0.0), flip_prob=0.5, rotation_range=(0.0, 0.0)),
    dict(type='BEVAug', flip_x_prob=0.5, flip_y_prob=0.5, rotation_range=(0.0, 0.0)),
    dict(type='LiDARDepthTarget', stride=16, depth_range=(1.0, 45.0), load_dim=5),
    dict(type='PackOccInputs'),
]
test_pipeline = [
    dict(type='LoadMultiViewImages', num_frames=2, interval=3, color_order='rgb'),
    dict(type='LoadOccupancy'),
    dict(type='ImageAug3D', final_size=image_size, bottom_crop_range=(0.0, 0.0),
         test_mode=True),
    dict(type='PackOccInputs'),
]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
total_batch_size = 2
"""


def _env():
    # One thread per process: 2 processes share this machine's cores as under the tests.
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(
        [ROOT, os.environ.get('PYTHONPATH', '')]))


def prepare(work_dir):
    """The toy world and its infos under ``work_dir/world`` (generated once) and the
    config; returns the config's path."""
    world = os.path.join(work_dir, 'world')
    if not os.path.isfile(os.path.join(world, 'nuscenes_infos_val_sweep.pkl')):
        shutil.rmtree(world, ignore_errors=True)
        for args in (['tools/make_toy_nuscenes.py', '--out', world, '--no-progress',
                      *WORLD_OPTIONS],
                     ['tools/create_data.py', '--root', world, '--no-progress']):
            subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), check=True,
                           stdout=subprocess.DEVNULL)
    config = os.path.join(work_dir, 'stress_gdocc.py')
    with open(config, 'w') as f:
        f.write(CONFIG.format(base=os.path.join(ROOT, 'configs', 'toy_gdocc.py'),
                              world=world + os.sep))
    return config


def run_once(kind, index, args, config, weights):
    """One torchrun job; returns (exit code or 'timeout', seconds, the signal that killed a
    worker or None, the names it left in its working directory). torchrun exits with 1
    when a worker failed, so a worker's signal (SIGABRT...) is read from its output."""
    run_dir = os.path.join(args.work_dir, f'{kind}_{index}')
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
               '--nproc_per_node', str(args.nproc)]
    work = os.path.join(run_dir, 'work')
    if kind == 'train':
        command += [os.path.join(ROOT, 'train.py'), '--config', config, '--work-dir', work]
    else:
        command += [os.path.join(ROOT, 'val.py'), '--config', config, '--weights', weights,
                    '--work-dir', work, '--no-progress', '--save-pred',
                    os.path.join(run_dir, 'preds'), '--out', os.path.join(run_dir, 'out.json')]
    start = time.perf_counter()
    # cwd = the run's folder: anything a run leaves in its working directory stays there.
    try:
        proc = subprocess.run(command, cwd=run_dir, env=_env(), capture_output=True,
                              text=True, timeout=args.timeout)
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, stdout, stderr = 'timeout', str(exc.stdout), str(exc.stderr)
    seconds = time.perf_counter() - start
    leftovers = sorted(set(os.listdir(run_dir)) - {'work', 'preds', 'out.json'})
    if code or leftovers:
        failures = os.path.join(args.work_dir, 'failures')
        os.makedirs(failures, exist_ok=True)
        with open(os.path.join(failures, f'{kind}_{index}.log'), 'w') as f:
            f.write(f'exit code {code}; left in cwd: {leftovers}\n'
                    f'--- stdout\n{stdout}\n--- stderr\n{stderr}')
    elif (kind, index) != ('train', 0):  # the first training's checkpoint is evaluated
        shutil.rmtree(run_dir)
    return code, seconds, _worker_signal(stderr), leftovers


def _worker_signal(stderr):
    """The signal name torchrun reports for a worker killed by one (``Signal 6 (SIGABRT)
    received by PID``), else None."""
    for line in stderr.splitlines():
        if 'received by PID' in line and 'Signal' in line:
            number = int(line.split('Signal', 1)[1].split()[0])
            return signal.Signals(number).name
    return None


def schedule(train_runs, val_runs):
    """``[('train', 0), then the val runs with the other train runs spread among them]``."""
    jobs = [('val', i) for i in range(val_runs)]
    for i in range(1, train_runs):
        jobs.insert(round(i * len(jobs) / train_runs) + i - 1, ('train', i))
    return [('train', 0)] + jobs


def summary(records):
    """Per kind: runs, runs with exit 0 and a clean working directory, exit codes, median
    seconds."""
    report = {}
    for kind in ('train', 'val'):
        mine = [r for r in records if r['kind'] == kind]
        report[kind] = dict(runs=len(mine), passed=sum(r['passed'] for r in mine),
                            exit_codes=[r['exit_code'] for r in mine],
                            signals=[r['signal'] for r in mine if r['signal']],
                            median_s=statistics.median([r['seconds'] for r in mine])
                            if mine else None)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--val-runs', type=int, default=30)
    parser.add_argument('--train-runs', type=int, default=10)
    parser.add_argument('--nproc', type=int, default=2, help='processes per run')
    parser.add_argument('--work-dir', default=os.path.join('work_dirs', 'stress'))
    parser.add_argument('--timeout', type=float, default=1800, help='seconds per run')
    parser.add_argument('--json', metavar='PATH', help='write the summary here')
    args = parser.parse_args(argv)
    if args.train_runs < 1:
        parser.error('--train-runs must be >= 1: the val runs evaluate its checkpoint')
    args.work_dir = os.path.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    config = prepare(args.work_dir)
    weights = os.path.join(args.work_dir, 'train_0', 'work', 'epoch_1.pth')
    records = []
    for kind, index in schedule(args.train_runs, args.val_runs):
        code, seconds, sig, leftovers = run_once(kind, index, args, config, weights)
        records.append(dict(kind=kind, index=index, exit_code=code, signal=sig,
                            left_in_cwd=leftovers, seconds=round(seconds, 1),
                            passed=code == 0 and not leftovers))
        print(f'{kind} {index + 1}: exit {code}' + (f' ({sig})' if sig else '')
              + (f', left {leftovers} in its cwd' if leftovers else '')
              + f', {seconds:.0f} s', flush=True)
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(dict(summary(records), nproc=args.nproc, records=records), f,
                          indent=1)
        if (kind, index) == ('train', 0) and code:
            sys.exit('stress_distributed: the first training failed, nothing to evaluate')
    report = summary(records)
    for kind, counts in report.items():
        print(f'{kind}: {counts["passed"]}/{counts["runs"]} runs exit 0 with a clean working '
              f'directory, median {counts["median_s"]:.0f} s per run')
    sys.exit(0 if all(c['passed'] == c['runs'] for c in report.values()) else 1)


if __name__ == '__main__':
    main()
