"""Entry-point plumbing: leaving the process group at exit."""
import torch.distributed as dist

from engine.runtime import destroy_process_group


def test_destroy_process_group_leaves_a_joined_group_and_is_idempotent(tmp_path):
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                            world_size=1)
    assert dist.is_initialized()
    destroy_process_group()
    assert not dist.is_initialized()
    destroy_process_group()   # nothing joined: a no-op (it also runs at exit)
