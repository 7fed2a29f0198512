"""The tests' child-process helper: a timeout fails the test, whatever the child left behind."""
import subprocess
import time

import pytest

from tests.subprocesses import run


def test_run_captures_the_output_and_the_exit_status():
    done = run(['bash', '-c', 'echo out; echo err >&2; exit 3'], timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (3, 'out\n', 'err\n')


def test_run_kills_what_the_child_left_holding_its_pipes_on_timeout(tmp_path):
    # The background sleep holds the pipes after its parent is gone, as a torchrun worker
    # whose launcher was killed does: waiting for their end would never return.
    marker = tmp_path / 'survived'
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run(['bash', '-c', f'(sleep 3; touch {marker}) & wait'], timeout=1)
    assert time.monotonic() - start < 3
    time.sleep(3)
    assert not marker.exists()
