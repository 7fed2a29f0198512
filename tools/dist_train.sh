#!/usr/bin/env bash
# Trains CONFIG with GPUS processes per node under torchrun (mmdetection3d's dist_train.sh).
#
#   bash tools/dist_train.sh CONFIG GPUS [train.py options]
#
# One node: bash tools/dist_train.sh configs/r50_nuimg_704x256_8f.py 8
# N nodes: run it on every node with the same MASTER_ADDR (the address of node 0) and PORT,
# NNODES=N and NODE_RANK=0..N-1 (docs/training.md). On a CPU-only torch the processes join a
# gloo group, so GPUS is the number of processes.
set -euo pipefail

CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PY=${PY:-python}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec "$PY" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$ROOT/train.py" --config "$CONFIG" "${@:3}"
