"""tools/demo_summary.py: the demo's metrics.json from the model and baseline metrics."""
import json

import pytest


def _write(path, **metrics):
    path.write_text(json.dumps(metrics))
    return str(path)


def test_summary_has_the_documented_keys(tools, tmp_path, capsys):
    model = _write(tmp_path / 'model.json', **{'RayIoU': 0.4, 'RayIoU@1': 0.3, 'RayIoU@2': 0.4,
                                                'RayIoU@4': 0.5, 'mIoU': 30.0, 'extra': 1})
    baseline = _write(tmp_path / 'blind.json', RayIoU=0.05, mIoU=9.0)
    out = tmp_path / 'metrics.json'
    tools.demo_summary.main(['--model', model, '--baseline', baseline, '--out', str(out)])
    written = json.loads(out.read_text())
    assert written == {'RayIoU': 0.4, 'RayIoU@1': 0.3, 'RayIoU@2': 0.4, 'RayIoU@4': 0.5,
                       'mIoU': 30.0, 'baseline_RayIoU': 0.05, 'baseline_mIoU': 9.0}
    assert '8.0x the baseline' in capsys.readouterr().out


def test_missing_keys_or_files_are_one_line_errors(tools, tmp_path):
    baseline = _write(tmp_path / 'blind.json', RayIoU=0.05, mIoU=9.0)
    partial = _write(tmp_path / 'model.json', RayIoU=0.4)
    with pytest.raises(SystemExit, match='lacks'):
        tools.demo_summary.main(['--model', partial, '--baseline', baseline,
                                 '--out', str(tmp_path / 'o')])
    with pytest.raises(SystemExit, match='cannot read'):
        tools.demo_summary.main(['--model', str(tmp_path / 'none.json'), '--baseline',
                                 baseline, '--out', str(tmp_path / 'o')])
    assert not (tmp_path / 'o').exists()
