"""environment/check_device_wheels.py on hand-made wheels and an mmcv-like source archive."""
import io
import tarfile
import zipfile

from environment import check_device_wheels


def _wheel(folder, name, version, requires=()):
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"  # as pip names them
    metadata = '\n'.join([f'Name: {name}', f'Version: {version}']
                         + [f'Requires-Dist: {r}' for r in requires]) + '\n'
    with zipfile.ZipFile(path, 'w') as wheel:
        wheel.writestr(f'{name}-{version}.dist-info/METADATA', metadata)
    return path


def _sdist(folder, name, version, runtime):
    path = folder / f'{name}-{version}.tar.gz'
    data = runtime.encode()
    with tarfile.open(path, 'w:gz') as archive:
        info = tarfile.TarInfo(f'{name}-{version}/requirements/runtime.txt')
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def test_requirements_met_by_carried_base_or_equivalent_pass(tmp_path):
    _wheel(tmp_path, 'mmengine', '0.10.7', ['addict', 'opencv-python>=3', 'numpy',
                                            'pytest; extra == "tests"'])
    _wheel(tmp_path, 'addict', '2.4.0')
    _sdist(tmp_path, 'mmcv', '2.1.0', 'addict\nmmengine>=0.3.0\nregex;sys_platform=="win32"\n')
    assert check_device_wheels.missing(str(tmp_path), {'numpy', 'opencv-python-headless'}) == []


def test_missing_and_wrong_versions_are_named_for_python_3_12(tmp_path):
    _wheel(tmp_path, 'mmdet3d', '1.4.0', ['mmengine>=0.11', 'trimesh',
                                          'tomli; python_version < "3.11"',
                                          'backports-zoneinfo; python_version < "3.9"'])
    _wheel(tmp_path, 'mmengine', '0.10.7')
    problems = check_device_wheels.missing(str(tmp_path), set())
    assert problems == ['mmdet3d-1.4.0-py3-none-any.whl needs mmengine>=0.11 (carried: 0.10.7)',
                        'mmdet3d-1.4.0-py3-none-any.whl needs trimesh']


def test_main_exits_1_on_a_gap(tmp_path, capsys):
    _wheel(tmp_path, 'nuscenes-devkit', '1.2.0', ['pyquaternion'])
    base = tmp_path / 'base.txt'
    base.write_text('# the image\nnumpy==2.5.2\n')
    assert check_device_wheels.main(['--folder', str(tmp_path), '--base', str(base)]) == 1
    assert 'missing: nuscenes_devkit-1.2.0-py3-none-any.whl needs pyquaternion' \
        in capsys.readouterr().out
