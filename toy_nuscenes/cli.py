"""Command line of the toy world generator (``tools/make_toy_nuscenes.py`` runs it)."""
import argparse
import signal
from pathlib import Path

from .dataset import Options, generate, validate


def build_parser():
    """The ``argparse.ArgumentParser`` of ``make_toy_nuscenes``."""
    p = argparse.ArgumentParser(description='Generate the toy nuScenes world (nuScenes v1.0 '
                                            'layout + Occ3D labels).',
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--out', required=True, type=Path, help='output dataset root (DIR)')
    p.add_argument('--scenes', type=int, default=Options.scenes, help='number of scenes')
    p.add_argument('--frames-per-scene', type=int, default=Options.frames_per_scene,
                   help='keyframes (2 Hz) per scene')
    p.add_argument('--sweeps', type=int, default=Options.sweeps,
                   help='camera sweeps between consecutive keyframes')
    p.add_argument('--image-size', type=int, nargs=2, default=Options.image_size,
                   metavar=('W', 'H'),
                   help='camera image width and height in pixels')
    p.add_argument('--seed', type=int, default=Options.seed, help='world seed')
    p.add_argument('--val-scenes', type=int, default=None,
                   help='scenes (taken from the end) listed as val in toy_split.json; '
                        'default: a sixth')
    p.add_argument('--occ-voxel-size', type=float, default=Options.occ_voxel_size,
                   help='voxel edge of the occupancy labels, metres (grid from (-40, -40, -1) m)')
    p.add_argument('--occ-shape', type=int, nargs=3, default=Options.occ_shape,
                   metavar=('X', 'Y', 'Z'), help='voxels of the occupancy label grid')
    p.add_argument('--overwrite', action='store_true', help='replace a non-empty DIR')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return p


def _terminate(signum, frame):
    # turn SIGTERM into an exception so the partial output is cleaned up
    raise SystemExit(128 + signum)


def main(argv=None):
    """Parse ``argv`` (list of str; None: ``sys.argv[1:]``), generate the dataset and print
    a one-line summary; returns the summary dict of ``dataset.generate``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    opts = Options(out=args.out, scenes=args.scenes, frames_per_scene=args.frames_per_scene,
                   sweeps=args.sweeps, image_size=tuple(args.image_size), seed=args.seed,
                   val_scenes=args.val_scenes, occ_voxel_size=args.occ_voxel_size,
                   occ_shape=tuple(args.occ_shape), overwrite=args.overwrite,
                   progress=not args.no_progress)
    try:
        validate(opts)
    except ValueError as exc:
        parser.error(str(exc))
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        summary = generate(opts)
    except FileExistsError as exc:
        raise SystemExit(f'make_toy_nuscenes: error: {exc}')
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"wrote {summary['out']}: {summary['scenes']} scenes, {summary['keyframes']} keyframes, "
          f"{summary['images']} images, {summary['annotations']} annotations "
          f"in {summary['seconds']:.1f} s")
    return summary

