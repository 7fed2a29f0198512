"""Atomic file output: readers never see a half-written file, and a failed or interrupted
write leaves any previous file intact."""
import contextlib
import json
import os


@contextlib.contextmanager
def atomic_path(path, suffix=''):
    """Yields a temporary sibling of ``path`` to write to; renames it onto ``path`` when the
    block succeeds and removes it otherwise.

    Args:
        path (str): the final file.
        suffix (str): appended to the temporary name, for writers that infer the format from
            the extension (e.g. ``'.png'``, or ``'.npz'`` which numpy would append anyway).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}{suffix}'
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(obj, path):
    """Writes ``obj`` to ``path`` as indented JSON, atomically."""
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
