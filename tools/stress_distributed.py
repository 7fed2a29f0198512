"""Runs consecutive 2-process (torchrun, gloo on CPU) train.py and val.py jobs on a small
toy world and counts their exit codes: a distributed run must end with 0 every time.

    python tools/stress_distributed.py [--val-runs 30] [--train-runs 10] [--nproc 2]
        [--work-dir work_dirs/stress] [--json report.json]

The toy world (2 scenes x 3 keyframes, 160 x 90 images, one val scene: the test suite's)
is generated into the work dir once. Each train run trains ``configs/toy_gdocc.py`` for one
epoch with validation; the val runs evaluate the first run's checkpoint with
``--save-pred``. A failed run keeps its output in ``<work-dir>/failures/`` (with the
signal, for runs killed by one). Prints one line per run and a summary; exit code 1 when
any run failed.
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
CONFIG = os.path.join(ROOT, 'configs', 'toy_gdocc.py')
WORLD_OPTIONS = ['--scenes', '2', '--frames-per-scene', '3', '--sweeps', '1',
                 '--image-size', '160', '90', '--val-scenes', '1']


def _env():
    # One thread per process: 2 processes share this machine's cores as under the tests.
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(
        [ROOT, os.environ.get('PYTHONPATH', '')]))


def make_world(work_dir):
    """The toy world and its infos under ``work_dir/world`` (generated once)."""
    world = os.path.join(work_dir, 'world')
    if not os.path.isfile(os.path.join(world, 'nuscenes_infos_val_sweep.pkl')):
        shutil.rmtree(world, ignore_errors=True)
        for args in (['tools/make_toy_nuscenes.py', '--out', world, '--no-progress',
                      *WORLD_OPTIONS],
                     ['tools/create_data.py', '--root', world, '--no-progress']):
            subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), check=True,
                           stdout=subprocess.DEVNULL)
    return world + os.sep


def _cfg_options(world):
    return ['--cfg-options', *(f'{loader}.dataset.data_root={world}' for loader in
                               ('train_dataloader', 'val_dataloader', 'test_dataloader')),
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'total_batch_size=2']


def run_once(kind, index, args, world, weights):
    """One torchrun job; returns (exit code or 'timeout', seconds, the signal that killed a
    worker or None, the names it left in its working directory). torchrun exits with 1
    when a worker failed, so a worker's signal (SIGABRT...) is read from its output."""
    run_dir = os.path.join(args.work_dir, f'{kind}_{index}')
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
               '--nproc_per_node', str(args.nproc)]
    if kind == 'train':
        command += [os.path.join(ROOT, 'train.py'), '--config', CONFIG, '--work-dir',
                    os.path.join(run_dir, 'work')]
    else:
        command += [os.path.join(ROOT, 'val.py'), '--config', CONFIG, '--weights', weights,
                    '--work-dir', os.path.join(run_dir, 'work'), '--no-progress',
                    '--save-pred', os.path.join(run_dir, 'preds'),
                    '--out', os.path.join(run_dir, 'metrics.json')]
    start = time.perf_counter()
    # cwd = the run's folder: anything a run leaves in its working directory stays there.
    try:
        proc = subprocess.run([*command, *_cfg_options(world)], cwd=run_dir, env=_env(),
                              capture_output=True, text=True, timeout=args.timeout)
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, stdout, stderr = 'timeout', str(exc.stdout), str(exc.stderr)
    seconds = time.perf_counter() - start
    leftovers = sorted(set(os.listdir(run_dir)) - {'work', 'preds', 'metrics.json'})
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--val-runs', type=int, default=30)
    parser.add_argument('--train-runs', type=int, default=10)
    parser.add_argument('--nproc', type=int, default=2, help='processes per run')
    parser.add_argument('--work-dir', default=os.path.join('work_dirs', 'stress'))
    parser.add_argument('--timeout', type=float, default=900, help='seconds per run')
    parser.add_argument('--json', metavar='PATH', help='write the counts and times here')
    args = parser.parse_args(argv)
    if args.train_runs < 1:
        parser.error('--train-runs must be >= 1: the val runs evaluate its checkpoint')
    args.work_dir = os.path.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    world = make_world(args.work_dir)
    weights = os.path.join(args.work_dir, 'train_0', 'work', 'epoch_1.pth')
    report = {}
    for kind, runs in (('train', args.train_runs), ('val', args.val_runs)):
        codes, times, dirty = [], [], 0
        for index in range(runs):
            code, seconds, sig, leftovers = run_once(kind, index, args, world, weights)
            codes.append(code)
            times.append(seconds)
            dirty += bool(leftovers)
            print(f'{kind} {index + 1}/{runs}: exit {code}' + (f' ({sig})' if sig else '')
                  + (f', left {leftovers} in its cwd' if leftovers else '')
                  + f', {seconds:.0f} s', flush=True)
            if (kind, index) == ('train', 0) and code:
                sys.exit('stress_distributed: the first training failed, nothing to evaluate')
        report[kind] = dict(runs=runs, exit_0=codes.count(0), left_files=dirty,
                            exit_codes=codes, median_s=statistics.median(times))
    for kind, counts in report.items():
        print(f'{kind}: {counts["exit_0"]}/{counts["runs"]} runs exit 0, '
              f'{counts["left_files"]} left files in their working directory, '
              f'median {counts["median_s"]:.0f} s per run')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(report, nproc=args.nproc), f, indent=1)
    failed = any(c['exit_0'] != c['runs'] or c['left_files'] for c in report.values())
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
