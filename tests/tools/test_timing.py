"""tools/timing.py on the toy config with random inputs."""
import json
import os

from tools import timing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_timing_on_random_inputs_reports_latency_and_memory(capsys):
    result = timing.main(['--config', os.path.join(ROOT, 'configs', 'toy_gdocc.py'),
                                '--samples', '2', '--warmup', '1', '--device', 'cpu',
                                '--random'])
    out = capsys.readouterr().out
    assert result['inputs'] == 'random' and result['samples'] == 2
    assert result['latency_ms'] > 0 and result['fps'] > 0
    assert result['peak_memory_mb'] > 0 and result['memory_kind'] == 'CPU peak RSS'
    assert 'ms / sample' in out and 'FPS' in out and 'peak memory' in out


def test_timing_under_bfloat16_autocast_writes_json(tmp_path, capsys):
    path = tmp_path / 'timing.json'
    result = timing.main(['--config', os.path.join(ROOT, 'configs', 'toy_gdocc.py'),
                                '--samples', '1', '--warmup', '0', '--device', 'cpu',
                                '--random', '--amp', 'bfloat16', '--json', str(path),
                                '--no-progress'])
    assert result['precision'] == 'bfloat16'
    assert 'bfloat16' in capsys.readouterr().out
    with open(path) as f:
        assert json.load(f) == result
