# The paper setting under the seed README's name (SparseBEV's naming): an alias.
_base_ = ['./r50_nuimg_704x256_8f.py']
