"""environment/device_check.py: the error measure, step bookkeeping, and the CPU steps of the
dry run."""
import json

import pytest
import torch

from environment import device_check


def test_max_relative_error_scales_by_the_expected_magnitude():
    error = device_check.max_relative_error
    expected = torch.tensor([1.0, -4.0, 2.0])
    assert error(expected.clone(), expected) == 0.0
    assert error(torch.tensor([1.0, -4.0, 2.4]), expected) == pytest.approx(0.1)
    # Nested results (forward output, leaf gradients) take the worst tensor.
    assert error((expected, torch.tensor([3.0])), (expected, torch.tensor([2.0]))) \
        == pytest.approx(0.5)
    # Integer results (ray-casting voxels) count any difference as 1.
    assert error(torch.tensor([1, 2]), torch.tensor([1, 3])) == 1.0
    assert error(torch.zeros(2), torch.zeros(2)) == 0.0
    with pytest.raises(ValueError, match='shapes differ'):
        error(torch.zeros(2), torch.zeros(3))


def test_steps_are_recorded_whatever_happens_and_the_summary_names_the_bad_ones(tmp_path):
    check = device_check.Check(str(tmp_path), dry=True, config='unused', elapsed_before=0)

    def broken():
        raise RuntimeError('kernel exploded')

    check.run('fine', lambda: dict(figure=1.5), 10)
    check.run('broken', broken, 10)
    check.run('off_target', lambda: dict(passed=False, figure=2), 10)
    with open(tmp_path / 'device_check.json') as f:
        report = json.load(f)
    steps = report['steps']
    assert steps['fine']['status'] == 'ok' and steps['fine']['figure'] == 1.5
    assert steps['broken']['status'] == 'error'
    assert 'RuntimeError: kernel exploded' in steps['broken']['error']
    assert steps['off_target']['status'] == 'failed' and 'passed' not in steps['off_target']
    line, passed = check.summary()
    assert not passed
    assert '1/3 steps ok' in line and 'broken error' in line and 'off_target failed' in line


def test_a_skipped_step_is_named_but_does_not_fail_the_check(tmp_path):
    check = device_check.Check(str(tmp_path), dry=True, config='unused', elapsed_before=0)
    check.run('fine', lambda: dict(figure=1.5), 10)
    check.skip('timing_amp', 'this CPU has no native bfloat16')
    with open(tmp_path / 'device_check.json') as f:
        assert json.load(f)['steps']['timing_amp']['status'] == 'skipped'
    line, passed = check.summary()
    assert passed
    assert '1/2 steps ok' in line and 'skipped timing_amp' in line


def test_a_step_past_its_time_limit_is_an_error(tmp_path):
    check = device_check.Check(str(tmp_path), dry=True, config='unused', elapsed_before=0)

    def spin():
        while True:
            pass

    check.run('slow', spin, 1)
    assert check.report['steps']['slow']['status'] == 'error'
    assert 'StepTimeout' in check.report['steps']['slow']['error']


def test_dry_op_parity_and_rayiou_steps_pass_on_the_cpu(tmp_path):
    check = device_check.Check(str(tmp_path), dry=True, config='unused', elapsed_before=0)
    parity = check.op_parity()
    assert parity.pop('passed')
    assert {row['op'] for row in parity['rows']} == {'voxel pooling', 'multi-view sampling',
                                                     'ray casting'}
    assert all(row['within'] for row in parity['rows'])
    rayiou = check.rayiou()
    assert rayiou['passed'] and rayiou['counts_equal'] and rayiou['samples'] == 2
    # The perturbed prediction is close to, but not, the ground truth.
    assert 0.1 < rayiou['rayiou']['RayIoU'] < 1.0
