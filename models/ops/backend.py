"""Finds GD-OCC's compiled extension and chooses an implementation for each op call.

Order of preference: compiled CUDA kernel (CUDA tensors) -> compiled CPU kernel -> pure-PyTorch
reference. Each fallback is announced once per op with a warning, never silently.
"""
import contextlib
import functools
import warnings

import torch

IMPLS = ('auto', 'cuda', 'cpu', 'reference')
_forced_impl = None


@contextlib.contextmanager
def forced_impl(impl):
    """Makes every ``impl='auto'`` op call inside the block use ``impl`` (e.g. benchmarks
    and debugging comparing the compiled kernels with the references end to end)."""
    global _forced_impl
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
    previous, _forced_impl = _forced_impl, None if impl == 'auto' else impl
    try:
        yield
    finally:
        _forced_impl = previous


@functools.lru_cache(maxsize=None)
def load_extension():
    """Imports ``models._C`` (registering ``torch.ops.gdocc.*``); returns the error or None."""
    try:
        from models import _C  # noqa: F401
    except ImportError as err:
        return err
    return None


def has_kernel(op_name, device_type):
    """Whether ``torch.ops.gdocc.<op_name>`` has a compiled kernel for ``device_type``.

    Args:
        op_name (str): op name inside the ``gdocc`` namespace, e.g. ``'ray_cast'``.
        device_type (str): ``'cpu'`` or ``'cuda'``.
    """
    if load_extension() is not None:
        return False
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(f'gdocc::{op_name}',
                                                              device_type.upper())
    except RuntimeError:  # the op was never registered
        return False


@functools.lru_cache(maxsize=None)
def _warn_once(op_name, message):
    warnings.warn(f'gdocc.{op_name}: {message}', RuntimeWarning, stacklevel=3)


def choose_impl(op_name, device, impl='auto'):
    """Returns ``'cuda'``, ``'cpu'`` or ``'reference'`` for a call on tensors on ``device``.

    ``impl='auto'`` picks the best available one and warns once per op when it has to fall
    back; an explicit ``impl`` that is unavailable raises a ``RuntimeError``.
    """
    if impl not in IMPLS:
        raise ValueError(f'{op_name}: impl must be one of {IMPLS}, got {impl!r}')
    device = torch.device(device)
    if impl == 'auto' and _forced_impl is not None:
        impl = _forced_impl
    if impl != 'auto':
        if impl == 'cuda' and device.type != 'cuda':
            raise RuntimeError(f'{op_name}: impl="cuda" needs CUDA tensors, got {device}')
        if impl in ('cuda', 'cpu') and not has_kernel(op_name, impl):
            raise RuntimeError(f'{op_name}: no compiled {impl} kernel available '
                               f'({load_extension() or "extension built without it"})')
        return impl
    if device.type == 'cuda':
        if has_kernel(op_name, 'cuda'):
            return 'cuda'
        _warn_once(op_name, 'no compiled CUDA kernel; running on the CPU instead')
    if has_kernel(op_name, 'cpu'):
        return 'cpu'
    _warn_once(op_name, 'compiled extension models._C unavailable '
               f'({load_extension()}); using the slow pure-PyTorch reference. '
               'Build it with `pip install -e . --no-build-isolation`.')
    return 'reference'
