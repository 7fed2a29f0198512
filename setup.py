"""Installs the GD-OCC plugin packages and compiles its torch extension ``models._C``.

Every ``models/csrc/*.cpp`` file is compiled into the extension. The ``*.cu`` files join
when a CUDA toolkit (``CUDA_HOME``/nvcc) and a CUDA build of torch are both present, or when
``GDOCC_FORCE_CUDA=1`` asks for them (building CUDA kernels on a machine without a GPU).
Ops register themselves with the torch dispatcher (``TORCH_LIBRARY_FRAGMENT(gdocc, ...)``),
so adding an op means adding its source files, nothing else.
"""
import glob
import os
from setuptools import find_packages, setup

import torch
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

CSRC = os.path.join('models', 'csrc')
# The packages, ground floor first (docs/layout.md).
ROOMS = ('core', 'loaders', 'models', 'evaluation', 'visualization', 'engine')
# The toy world generator: a package of its own, independent of the rooms (its README).
TOY_WORLD = 'toy_nuscenes'


def want_cuda():
    if os.environ.get('GDOCC_FORCE_CUDA', '0') == '1':
        return True
    return torch.version.cuda is not None and CUDA_HOME is not None


def make_extension():
    sources = sorted(glob.glob(os.path.join(CSRC, '*.cpp')))
    openmp = ['-fopenmp'] if not os.environ.get('GDOCC_NO_OPENMP') else []
    cxx_flags = ['-O3'] + openmp
    if want_cuda():
        sources += sorted(glob.glob(os.path.join(CSRC, '*.cu')))
        # --fmad=false keeps CUDA arithmetic bitwise equal to the CPU kernels, so the
        # parity tests can compare traversal decisions exactly.
        nvcc_flags = ['-O3', '--fmad=false']
        return CUDAExtension('models._C', sources, define_macros=[('WITH_CUDA', None)],
                             extra_compile_args={'cxx': cxx_flags, 'nvcc': nvcc_flags},
                             extra_link_args=openmp)
    return CppExtension('models._C', sources, extra_compile_args={'cxx': cxx_flags},
                        extra_link_args=openmp)


setup(
    name='gdocc',
    version='0.1.0',
    description='GD-OCC: geometry-driven 3D occupancy prediction (Occ3D-nuScenes)',
    packages=find_packages(include=[f'{name}{tail}' for name in ROOMS + (TOY_WORLD,)
                                    for tail in ('', '.*')]),
    # The interactive page's script, style and body, read when a page is written.
    package_data={'visualization': ['page.js', 'page.css', 'page_body.html']},
    ext_modules=[make_extension()],
    cmdclass={'build_ext': BuildExtension.with_options(use_ninja=True)},
    python_requires='>=3.9',
    extras_require={'simd': ['pillow-simd']},
)
