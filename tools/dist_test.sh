#!/usr/bin/env bash
# Evaluates CHECKPOINT of CONFIG with GPUS processes per node under torchrun (mmdetection3d's
# dist_test.sh).
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [val.py options]
#
# N nodes: as tools/dist_train.sh (MASTER_ADDR, PORT, NNODES, NODE_RANK on every node).
set -euo pipefail

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
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
    "$ROOT/val.py" --config "$CONFIG" --weights "$CHECKPOINT" "${@:4}"
