"""tools/toy_label_check.py: the toy labels against the world's solid geometry."""
import pytest

from tools import toy_label_check

pytestmark = pytest.mark.toy_world


def test_labels_keep_what_the_rays_see_of_the_solid_world(toy_root, capsys):
    built, carved = toy_label_check.main(['--data-root', toy_root, '--split', 'val'])
    assert carved == 1.0
    assert 0.85 < built['RayIoU'] < 1.0
    assert 'RayIoU of the LiDAR-built labels' in capsys.readouterr().out


def test_a_folder_without_a_toy_world_ends_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match='toy_label_check: error'):
        toy_label_check.main(['--data-root', str(tmp_path)])
