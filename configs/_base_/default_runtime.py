# Runtime settings shared by every training / evaluation config (mmengine Runner): scope,
# hooks, launcher environment, logging, seeding and checkpoint loading.
# `custom_imports` (registering the plugin) lives in the dataset bases, the one base every
# complete config lists: mmengine refuses a key defined by two bases of one config.
default_scope = 'mmdet3d'
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'))
# train.py / val.py replace dist_cfg.backend with gloo when there is no GPU.
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork'),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
# A complete GD-OCC checkpoint (val.py --weights and train.py --resume set it); pretrained
# image encoders are loaded by the encoder's init_cfg instead (see the paper config).
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
