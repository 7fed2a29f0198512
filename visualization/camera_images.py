"""The camera images of a keyframe, as the infos name them."""
import os

from core.errors import DataFileError, missing_file


def camera_path(data_root, info, cam):
    """Path of camera ``cam``'s image of keyframe ``info`` (``data_path`` joined to
    ``data_root`` unless absolute)."""
    try:
        path = info['cams'][cam]['data_path']
    except (KeyError, TypeError):
        raise DataFileError(info.get('token', '?'), f'info has no {cam} image') from None
    return path if os.path.isabs(path) else os.path.join(data_root, path)


def load_camera_image(data_root, info, cam):
    """Camera ``cam``'s image of ``info`` as an RGB ``PIL.Image``.

    Raises:
        FileNotFoundError: the image is missing.
        DataFileError: the info names no such camera, or the file is not a readable image.
    """
    from PIL import Image

    path = camera_path(data_root, info, cam)
    try:
        with Image.open(path) as image:
            return image.convert('RGB')
    except FileNotFoundError:
        raise missing_file(path, 'camera image') from None
    except OSError as exc:
        raise DataFileError(path, f'camera image: unreadable ({exc})') from exc
