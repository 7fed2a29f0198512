#!/usr/bin/env bash
# Evaluates CHECKPOINT of CONFIG on a SLURM partition, one task per GPU (mmdetection3d's
# slurm_test.sh).
#
#   [GPUS=8] [GPUS_PER_NODE=8] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
#       [val.py options]
#
# As tools/slurm_train.sh: val.py --launcher slurm takes ranks and master from SLURM.
set -euo pipefail

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
PY=${PY:-python}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# SRUN_ARGS holds several options: split on purpose
# shellcheck disable=SC2086
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PY" -u "$ROOT/val.py" --config "$CONFIG" --weights "$CHECKPOINT" --launcher slurm "${@:5}"
