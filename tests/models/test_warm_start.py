"""GD-OCC warm-started from a SparseOcc-structured checkpoint (models/utils/warm_start.py)."""
import copy
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _toy_model_cfg():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'toy_gdocc.py'))
    init_default_scope('mmdet3d')
    return cfg.model


def test_gdocc_loads_the_shared_blocks_and_keeps_its_own(tmp_path, capsys):
    # SparseOcc at the toy sizes: the same model without GD-OCC's blocks.
    sparseocc_cfg = copy.deepcopy(_toy_model_cfg())
    sparseocc_cfg.update(lss=None, lss_level=None, stereo_level=None, implicit=None,
                         fusion=None)
    sparseocc_cfg.decoder.update(init_from_volume=False, use_prior=False,
                                 use_depth_weight=False)
    torch.manual_seed(1)
    sparseocc = MODELS.build(sparseocc_cfg)
    sparseocc.init_weights()
    checkpoint = tmp_path / 'sparseocc_converted.pth'
    state = sparseocc.state_dict()
    state['occ_head.classifier.weight'] = state['occ_head.classifier.weight'][:-1]  # reshaped
    torch.save(dict(meta=dict(source='test'), state_dict=state), checkpoint)

    torch.manual_seed(2)
    gdocc = MODELS.build(dict(_toy_model_cfg(), warm_start=str(checkpoint)))
    MMLogger.get_instance('test_warm_start', log_level='INFO')
    gdocc.init_weights()
    own = gdocc.state_dict()
    for key, value in state.items():
        if key != 'occ_head.classifier.weight':
            assert torch.equal(own[key], value), key
    assert not torch.equal(own['occ_head.classifier.weight'][:-1], state[
        'occ_head.classifier.weight'])
    fresh = [k for k in own if k not in state]
    assert fresh and all(k.split('.')[0] in ('lss', 'implicit', 'fusion') for k in fresh)
    log = capsys.readouterr().out
    assert f'warm start from {checkpoint}: {len(state) - 1} of {len(own)}' in log
    assert 'loaded: img_encoder.backbone' in log and 'decoder.layers' in log
    assert 'kept as initialised: lss.' in log and 'implicit.' in log and 'fusion.' in log
    assert 'another shape in the checkpoint, kept as initialised: ' \
        'occ_head.classifier.weight' in log


def test_a_missing_warm_start_checkpoint_is_one_clear_error(tmp_path):
    model = MODELS.build(dict(_toy_model_cfg(), warm_start=str(tmp_path / 'none.pth')))
    with pytest.raises(FileNotFoundError, match='warm start checkpoint not found: .*none.pth'):
        model.init_weights()


def test_the_warm_start_config_builds_gdocc_with_the_converted_checkpoint():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs',
                                       'r50_nuimg_704x256_8f_from_sparseocc.py'))
    assert cfg.model.warm_start.endswith('_converted.pth')
    assert cfg.model.img_encoder.init_cfg is None and cfg.model.lss is not None
