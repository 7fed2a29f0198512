"""Per-image feature cache for online temporal inference (SparseOcc-style).

In streaming evaluation consecutive keyframes of a scene share most of their input frames:
with 8 frames picked every 6 camera frames and keyframes 6 camera frames apart, 7 of a
sample's 8 frames were already the previous sample's frames. Their image features are
cached per view and reused instead of re-encoding those images.

A view is identified by its image file plus everything that changes its pixels after
loading: the augmentation matrix (``img_aug``) and the augmented image size. At test time the
augmentation is deterministic, so the same file always yields the same features.
"""
from collections import OrderedDict

import numpy as np


def view_keys(metainfo):
    """Cache keys of a sample's views, or None when its metainfo cannot identify them.

    Args:
        metainfo (dict): a data sample's metainfo with ``img_path`` (list of V str, the
            views' files, frame-major), ``img_aug`` [V, 4, 4] and ``img_shape`` (H, W).

    Returns:
        list of V hashable keys, or None (no ``img_path``: e.g. synthetic inputs).
    """
    paths = metainfo.get('img_path')
    if paths is None or 'img_aug' not in metainfo:
        return None
    aug = np.asarray(metainfo['img_aug'], dtype=np.float32)
    shape = tuple(int(s) for s in metainfo['img_shape'][:2])
    if len(paths) != len(aug):
        raise ValueError(f'feature cache: {len(paths)} image paths for {len(aug)} views')
    return [(str(path), aug[v].tobytes(), shape) for v, path in enumerate(paths)]


class ImageFeatureCache:
    """Least-recently-used store of per-view multi-level features.

    Args:
        max_views (int): views kept at most (may be raised later); the least recently used
            go first. One sample needs T * N (frames x cameras) to reuse everything a next
            sample can.
    """

    def __init__(self, max_views):
        if max_views < 1:
            raise ValueError(f'ImageFeatureCache: max_views must be >= 1, got {max_views}')
        self.max_views = int(max_views)
        self._store = OrderedDict()

    def __len__(self):
        return len(self._store)

    def clear(self):
        self._store.clear()

    def get(self, key):
        """The cached levels of a view (list of Tensor [C, H_l, W_l]) or None; a hit
        makes the view the most recently used."""
        levels = self._store.get(key)
        if levels is not None:
            self._store.move_to_end(key)
        return levels

    def put(self, key, levels):
        """Stores a view's levels (list of Tensor [C, H_l, W_l], kept detached)."""
        self._store[key] = [level.detach() for level in levels]
        self._store.move_to_end(key)
        while len(self._store) > self.max_views:
            self._store.popitem(last=False)
