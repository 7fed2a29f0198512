# configs/toy_gdocc.py at twice the demo's budget: 18 epochs, the LR step before the last
# (about 40 min of training on two CPU cores, past the 30-minute `make demo`; docs/experiments.md,
# 2026-12-05: toy val RayIoU 0.202 against 0.155 after 9 epochs).
# DEMO_CONFIG=configs/toy_gdocc_18e.py DEMO_OUT=work_dirs/demo18 make demo
_base_ = ['./toy_gdocc.py']

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', milestones=[17], by_epoch=True, gamma=0.2)]
train_cfg = dict(max_epochs=18)
