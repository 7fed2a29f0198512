"""JPEG decoding: libjpeg-turbo through PyTurboJPEG when the library is installed, else
OpenCV (one warning per process), with an explicit channel order and a clear error naming
the file for missing or corrupted images."""
import logging
import warnings

import cv2
import numpy as np
from mmengine.logging import print_log

from core.errors import DataFileError, missing_file

BACKENDS = ('auto', 'turbojpeg', 'cv2')
COLOR_ORDERS = ('rgb', 'bgr')
_JPEG_START = b'\xff\xd8'
_JPEG_END = b'\xff\xd9'
_warned_fallback = False


def _turbojpeg_or_none():
    """A ``TurboJPEG`` decoder, or None when PyTurboJPEG or libturbojpeg is missing."""
    try:
        from turbojpeg import TurboJPEG
        return TurboJPEG()
    except (ImportError, OSError, RuntimeError):
        return None


class JpegDecoder:
    """Decodes JPEG files to uint8 [H, W, 3] arrays in a fixed channel order.

    The libjpeg-turbo handle is created on first use in each process (it cannot be
    pickled into dataloader workers started with ``spawn``).

    Args:
        backend (str): ``'auto'`` (libjpeg-turbo when present, else OpenCV with a
            one-line warning), ``'turbojpeg'`` (error when absent) or ``'cv2'``.
        color_order (str): ``'rgb'`` or ``'bgr'``, the channel order of the output.
    """

    def __init__(self, backend='auto', color_order='rgb'):
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
        if color_order not in COLOR_ORDERS:
            raise ValueError(f'color_order must be one of {COLOR_ORDERS}, got {color_order!r}')
        self.backend = backend
        self.color_order = color_order
        self._turbo = None
        self._resolved = None

    def __getstate__(self):
        return dict(self.__dict__, _turbo=None, _resolved=None)

    @property
    def active_backend(self):
        """``'turbojpeg'`` or ``'cv2'``: what decodes in this process."""
        if self._resolved is None:
            self._resolve()
        return self._resolved

    def _resolve(self):
        global _warned_fallback
        if self.backend == 'cv2':
            self._resolved = 'cv2'
            return
        self._turbo = _turbojpeg_or_none()
        if self._turbo is not None:
            self._resolved = 'turbojpeg'
        elif self.backend == 'turbojpeg':
            raise RuntimeError('JpegDecoder(backend="turbojpeg"): PyTurboJPEG or the system '
                               'libturbojpeg is not available (apt-get install libturbojpeg0)')
        else:
            if not _warned_fallback:
                print_log('libturbojpeg not found: decoding JPEGs with OpenCV (slower); '
                          'apt-get install libturbojpeg0 for PyTurboJPEG', logger='current',
                          level=logging.WARNING)
                _warned_fallback = True
            self._resolved = 'cv2'

    def decode(self, data, filename='<bytes>'):
        """Decodes one JPEG.

        Args:
            data (bytes): the file content.
            filename (str): named in the error messages.

        Returns:
            np.ndarray: uint8 [H, W, 3], channels in ``color_order``.

        Raises:
            DataFileError: not a complete JPEG (missing start/end marker, truncated) or
                undecodable.
        """
        # A truncated JPEG often still decodes (with a libjpeg warning) into a partly grey
        # image; the end-of-image marker catches it before it silently becomes training data.
        if not data.startswith(_JPEG_START) or not data.rstrip(b'\x00\r\n ').endswith(_JPEG_END):
            raise DataFileError(filename, 'corrupted JPEG (missing start or end marker, '
                                          'truncated file?)')
        if self.active_backend == 'turbojpeg':
            from turbojpeg import TJPF_BGR, TJPF_RGB

            # PyTurboJPEG reports recoverable libjpeg errors as warnings and returns a
            # partly decoded image: treat them as corruption too.
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter('error')
                    image = self._turbo.decode(
                        data, pixel_format=TJPF_RGB if self.color_order == 'rgb' else TJPF_BGR)
            except (OSError, UserWarning) as exc:
                raise DataFileError(filename, f'corrupted JPEG ({exc})') from exc
        else:
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise DataFileError(filename, 'corrupted JPEG (OpenCV cannot decode it)')
            if self.color_order == 'rgb':
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        return image

    def read(self, filename):
        """Reads and decodes ``filename`` -> uint8 [H, W, 3] (``FileNotFoundError`` naming
        the file when it is missing)."""
        try:
            with open(filename, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            raise missing_file(filename, 'image') from None
        return self.decode(data, filename)
