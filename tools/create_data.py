#!/usr/bin/env python
"""Write Occ3D-nuScenes info files (``nuscenes_infos_{split}_sweep.pkl``) from a nuScenes tree.

Examples::

    python tools/create_data.py --root data/nuscenes                        # v1.0-trainval
    python tools/create_data.py --root data/nuscenes --version v1.0-mini
    python tools/create_data.py --root data/nuscenes --version v1.0-test    # _test_ infos
    python tools/create_data.py --root data/toy_nuscenes                    # toy world

Splits: ``DIR/toy_split.json`` (``{"train": [...], "val": [...]}``, written by the toy
generator) when it exists, else the devkit's ``create_splits_scenes()`` (train/val for
v1.0-trainval, mini_train/mini_val for v1.0-mini, test for v1.0-test).

An existing info file is never replaced unless ``--overwrite`` is given (SparseOcc's infos
carry the same names in the same folder); the check runs before any work.

Each pickle holds one info per keyframe, scenes in split order, keyframes in time order,
in the layout ``core.infos`` defines (see ``core.infos.keyframe_info`` for the keys).
"""
import argparse
import json
import os

from core.infos import info_filename, scene_infos, write_info_file

TOY_SPLIT_FILE = 'toy_split.json'
# nuScenes version -> (devkit split name, output split name)
DEVKIT_SPLITS = {
    'v1.0-trainval': (('train', 'train'), ('val', 'val')),
    'v1.0-mini': (('mini_train', 'train'), ('mini_val', 'val')),
    'v1.0-test': (('test', 'test'),),
}


def resolve_splits(root, version):
    """Scene names per output split.

    Returns:
        tuple(dict, str): split name -> list of scene names, and where they came from.
    """
    toy_file = os.path.join(root, TOY_SPLIT_FILE)
    if os.path.isfile(toy_file):
        with open(toy_file) as f:
            splits = json.load(f)
        return {name: list(scenes) for name, scenes in splits.items()}, toy_file
    if version not in DEVKIT_SPLITS:
        raise ValueError(f'no devkit split for version {version!r} and no {toy_file}')
    from nuscenes.utils.splits import create_splits_scenes
    devkit = create_splits_scenes(verbose=False)
    return ({out: list(devkit[name]) for name, out in DEVKIT_SPLITS[version]},
            'nuscenes.utils.splits.create_splits_scenes')


def create_infos(root, version='v1.0-trainval', out_dir=None, occ_dir='occ3d', progress=True,
                 overwrite=False):
    """Writes one info pickle per split of ``version`` and returns their paths
    (dict split -> path).

    Raises:
        FileNotFoundError: ``root`` or ``root/version`` is missing.
        FileExistsError: an output file exists and ``overwrite`` is False (checked for
            every split before anything is read or written).
        ValueError: a split names a scene that the tables lack.
    """
    from nuscenes import NuScenes
    from tqdm import tqdm

    if not os.path.isdir(root):
        raise FileNotFoundError(f'data root not found: {root}')
    if not os.path.isdir(os.path.join(root, version)):
        raise FileNotFoundError(f'nuScenes version folder not found: '
                                f'{os.path.join(root, version)} (expected the {version} tables)')
    out_dir = root if out_dir is None else out_dir
    splits, split_source = resolve_splits(root, version)
    existing = [info_filename(split) for split in splits
                if os.path.exists(os.path.join(out_dir, info_filename(split)))]
    if existing and not overwrite:
        raise FileExistsError(f'{", ".join(existing)} already in {out_dir} (SparseOcc\'s infos '
                              f'share these names): pass --overwrite to replace, or --out-dir '
                              f'DIR')
    os.makedirs(out_dir, exist_ok=True)
    nusc = NuScenes(version=version, dataroot=root, verbose=False)
    scene_by_name = {scene['name']: scene for scene in nusc.scene}
    # The devkit's lists name all 850 (+150 test) scenes; a version holds only its own.
    # The toy split must match exactly.
    selected = {}
    for split, names in splits.items():
        missing = [n for n in names if n not in scene_by_name]
        if missing and split_source != 'nuscenes.utils.splits.create_splits_scenes':
            raise ValueError(f'{split_source}: scenes {missing[:5]} are not in {version}')
        selected[split] = [scene_by_name[n] for n in names if n in scene_by_name]
    total = sum(scene['nbr_samples'] for scenes in selected.values() for scene in scenes)
    written = {}
    with tqdm(total=total, desc='create_data', unit='keyframe', disable=not progress) as bar:
        for split, scenes in selected.items():
            infos = [info for scene in scenes for info in scene_infos(nusc, scene, occ_dir, bar)]
            path = os.path.join(out_dir, info_filename(split))
            write_info_file(path, infos, version, split, split_source)
            written[split] = path
    return written


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', required=True, help='nuScenes data root (DIR)')
    parser.add_argument('--version', default='v1.0-trainval',
                        help='nuScenes version folder under DIR')
    parser.add_argument('--out-dir', default=None, help='where to write the pickles (default DIR)')
    parser.add_argument('--occ-dir', default='occ3d',
                        help='folder of the Occ3D labels under DIR (the Occ3D release: gts)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing info files (default: refuse)')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        written = create_infos(args.root, args.version, args.out_dir, args.occ_dir,
                               progress=not args.no_progress, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise SystemExit(f'create_data: error: {exc}')
    for split, path in written.items():
        print(f'{split}: {path}')
    return written


if __name__ == '__main__':
    main()
