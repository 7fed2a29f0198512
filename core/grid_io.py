"""Reading occupancy grids (Occ3D's [200, 200, 16] arrays by default) from ``.npz`` files, with
one error naming the file for anything unusable."""
import zipfile

import numpy as np

from .errors import DataFileError, missing_file
from .occ3d import GRID_SHAPE


def load_npz_grids(path, keys, what, grid_shape=GRID_SHAPE):
    """Reads arrays ``keys`` of ``path`` and checks their shape.

    Args:
        path (str): the ``.npz`` file.
        keys (sequence of str): array names to read.
        what (str): the kind of file, for messages (e.g. ``'occupancy labels'``).
        grid_shape (tuple of 3 ints): (X, Y, Z) every array must have.

    Returns:
        dict: key -> np.ndarray [X, Y, Z] (dtype as stored).

    Raises:
        FileNotFoundError: ``path`` is missing.
        DataFileError: not a readable npz, a key is absent, or an array has another shape.
    """
    try:
        with np.load(path) as archive:
            available = list(archive.files)
            arrays = {key: archive[key] for key in keys if key in available}
    except FileNotFoundError:
        raise missing_file(path, what) from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DataFileError(path, f'{what}: unreadable npz ({exc})') from exc
    absent = [key for key in keys if key not in arrays]
    if absent:
        raise DataFileError(path, f'{what}: lacks {absent} (has {available})')
    for key, array in arrays.items():
        if array.shape != tuple(grid_shape):
            raise DataFileError(path, f'{what}: {key} has shape {array.shape}, '
                                      f'expected {tuple(grid_shape)}')
    return arrays
