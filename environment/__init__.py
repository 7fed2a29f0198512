"""The machines' kit, apart from the user's tools: the dependency install and its lock
(``setup_env.sh``, ``lock_requirements.py``, ``check_requirements.py``), the CUDA compile
check (``check_cuda_build.sh``) and the GPU machine's wheels and check (``device_wheels.sh``,
``check_device_wheels.py``, ``device_check.sh`` / ``device_check.py``; docs/gpu.md). Each
runs as a script and imports only the project's packages and ``tools.shared``; being a
package lets the tests import them by name (``from environment import device_check``)."""
