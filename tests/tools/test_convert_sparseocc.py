"""tools/convert_sparseocc.py: a SparseOcc checkpoint in, an mmengine checkpoint of the
SparseOcc-configured model out (its parity: tests/models/test_sparseocc_parity.py)."""
import ast

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

from engine.weights import load_weights
from tests.models.test_sparseocc_parity import FIXTURE, sparseocc_model_config
from tools import convert_sparseocc


@pytest.fixture(scope='module')
def small():
    """The fixture's SparseOcc state dict as a checkpoint file, and a config file of the
    model at its sizes."""
    data = np.load(FIXTURE)
    size = ast.literal_eval(str(data['config']))
    state = {k[len('state/'):]: torch.from_numpy(data[k]) for k in data.files
             if k.startswith('state/')}
    return state, dict(custom_imports=dict(imports=['models']),
                       model=sparseocc_model_config(size))


def _write(tmp_path, state, model_cfg):
    src, config = tmp_path / 'sparseocc.pth', tmp_path / 'small.py'
    torch.save(dict(meta=dict(epoch=24, iter=1000), state_dict=state), src)
    config.write_text(''.join(f'{k} = {v!r}\n' for k, v in model_cfg.items()))
    return str(src), str(config)


def test_converts_and_the_model_loads_it_strictly(tmp_path, small, capsys):
    src, config = _write(tmp_path, *small)
    dst = str(tmp_path / 'out' / 'converted.pth')
    convert_sparseocc.main([src, dst, '--config', config])
    assert f'wrote {len(small[0])} tensors to {dst}' in capsys.readouterr().out
    checkpoint = torch.load(dst, weights_only=True)
    meta = checkpoint['meta']
    assert meta['source'].endswith('sparseocc.pth') and len(meta['source_sha256']) == 64
    assert meta['source_epoch'] == 24 and meta['config'].endswith('small.py')
    init_default_scope('mmdet3d')
    model = MODELS.build(small[1]['model'])
    load_weights(model, dst, strict=True)
    key = 'pts_bbox_head.transformer.voxel_decoder.decoder_layers.0.sampling.sampling_offset.bias'
    assert torch.equal(model.decoder.layers[0].sampling.sampling_offsets.bias, small[0][key])


@pytest.mark.parametrize('case,message', [
    ('missing', 'checkpoint not found: '),
    ('not_torch', 'cannot be read as a torch checkpoint'),
    ('other_model', 'is not a SparseOcc checkpoint (no pts_bbox_head.transformer.voxel_decoder'),
    ('unfit', '1 model keys that SparseOcc does not fill'),
])
def test_refuses_with_one_clear_line_and_writes_nothing(tmp_path, small, case, message):
    state, model_cfg = small
    src, config = _write(tmp_path, state, model_cfg)
    if case == 'missing':
        src = str(tmp_path / 'none.pth')
    elif case == 'not_torch':
        (tmp_path / 'sparseocc.pth').write_text('not a checkpoint')
    elif case == 'other_model':
        torch.save(dict(state_dict={'decoder.layers.0.weight': torch.zeros(1)}), src)
    else:
        key = 'pts_bbox_head.transformer.decoder.decoder_layer.classifier.bias'
        torch.save(dict(state_dict={k: v for k, v in state.items() if k != key}), src)
    dst = tmp_path / 'converted.pth'
    with pytest.raises(SystemExit) as exit_info:
        convert_sparseocc.main([src, str(dst), '--config', config])
    assert str(exit_info.value).startswith('convert_sparseocc: error: ')
    assert message in str(exit_info.value)
    assert not dst.exists() and not list(tmp_path.glob('converted.pth.tmp*'))
