#!/usr/bin/env bash
# Trains CONFIG on a SLURM partition, one task per GPU (mmdetection3d's slurm_train.sh).
#
#   [GPUS=16] [GPUS_PER_NODE=8] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR \
#       [train.py options]
#
# srun starts GPUS tasks, GPUS_PER_NODE on each node; train.py --launcher slurm derives each
# task's rank, local rank and the master address (the job's first node) from SLURM's variables.
# CPUS_PER_TASK (default 5) and SRUN_ARGS (extra srun options) as in mmdetection3d.
set -euo pipefail

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
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
    "$PY" -u "$ROOT/train.py" --config "$CONFIG" --work-dir "$WORK_DIR" --launcher slurm "${@:5}"
