# configs/toy_gdocc.py for 30 epochs, the LR step before the last (about 70 min on two CPU
# cores, past the 30-minute `make demo`; docs/experiments.md, 2026-12-05: toy val RayIoU 0.242,
# 3.9x the image-blind baseline, against 0.155 after 9 epochs and 0.202 after 18).
# DEMO_CONFIG=configs/toy_gdocc_30e.py DEMO_OUT=work_dirs/demo30 make demo
_base_ = ['./toy_gdocc.py']

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', milestones=[29], by_epoch=True, gamma=0.2)]
train_cfg = dict(max_epochs=30)
