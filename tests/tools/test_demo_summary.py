"""tools/demo_summary.py: the demo's metrics.json from the model and baseline metrics."""
import json

import pytest

from tools import demo_summary


def _write(path, **metrics):
    path.write_text(json.dumps(metrics))
    return str(path)


def test_summary_has_the_documented_keys(tmp_path, capsys):
    per_class = {'car': [0.2, 0.4, 0.6], 'bus': [float('nan')] * 3,
                 'manmade': [0.1, float('nan'), 0.3]}
    model = _write(tmp_path / 'model.json', **{'RayIoU': 0.4, 'RayIoU@1': 0.3, 'RayIoU@2': 0.4,
                                                'RayIoU@4': 0.5, 'mIoU': 30.0, 'extra': 1,
                                                'per_class_RayIoU': per_class})
    baseline = _write(tmp_path / 'blind.json', RayIoU=0.05, mIoU=9.0)
    out = tmp_path / 'metrics.json'
    demo_summary.main(['--model', model, '--baseline', baseline, '--out', str(out)])
    written = json.loads(out.read_text())
    per_class = written.pop('per_class')
    assert written == {'RayIoU': 0.4, 'RayIoU@1': 0.3, 'RayIoU@2': 0.4, 'RayIoU@4': 0.5,
                       'mIoU': 30.0, 'baseline_RayIoU': 0.05, 'baseline_mIoU': 9.0}
    assert per_class['car'] == pytest.approx(0.4) and per_class['bus'] is None
    assert per_class['manmade'] == pytest.approx(0.2)       # nan thresholds left out
    out = capsys.readouterr().out
    assert '8.0x the baseline' in out and 'car 0.400' in out


def test_missing_keys_or_files_are_one_line_errors(tmp_path):
    baseline = _write(tmp_path / 'blind.json', RayIoU=0.05, mIoU=9.0)
    partial = _write(tmp_path / 'model.json', RayIoU=0.4)
    with pytest.raises(SystemExit, match='lacks'):
        demo_summary.main(['--model', partial, '--baseline', baseline,
                                 '--out', str(tmp_path / 'o')])
    with pytest.raises(SystemExit, match='cannot read'):
        demo_summary.main(['--model', str(tmp_path / 'none.json'), '--baseline',
                                 baseline, '--out', str(tmp_path / 'o')])
    assert not (tmp_path / 'o').exists()
