#!/usr/bin/env bash
# Reproduce the checkpoints shipped under checkpoints/ (issues 7 and 20): train each compact model from scratch on its
# mix (train/recipes/compact_*_mix.json: synthetic rooms + ICL-NUIM + 7-Scenes, with extra_real's training scenes for
# the rooms recipe; synthetic streets with LiDAR-like sparse depth + extra_real's training streets for the streets
# recipe), store its weights as fp16, score it with `mde-hub evaluate` on the held-out splits (raw and
# median-aligned): the development splits (synthetic frames of its own kind, the tails of the two videos) and
# extra_real's held-out real scenes (rooms, close range, streets), write its card with `mde-hub card` and regenerate
# the README tables and docs/predictions.png.
#
#   train/ship_checkpoints.sh                  # everything
#   train/ship_checkpoints.sh train [NAME...]  # train (into runs/ship/NAME)
#   train/ship_checkpoints.sh package [NAME...] # export to checkpoints/NAME, evaluate, write the card
#   train/ship_checkpoints.sh readme           # the README table and docs/predictions.png
#
# Needs ../shared/data/rgbd (the recipes' mix_folders). Run from anywhere; paths are relative to the repository root.
# On a CPU busy with other jobs, OMP_NUM_THREADS=1 keeps OpenMP threads from stalling each other (10x faster steps
# there). The shipped runs used it, two or three at a time on two cores: `OMP_NUM_THREADS=1 $0 train NAME &` per run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
RGBD=../shared/data/rgbd
RUNS=runs/ship
HELD_OUT=tail:0.2  # the recipes' mix_held_out_fraction
LICENSE=cc-by-nc-4.0  # the weights are trained on 7-Scenes frames (non-commercial)

# name -> recipe
declare -A RECIPES=(
  [baseline-256-mix-scratch]=compact_baseline_mix
  [densedepth-densenet121-k16-mix-scratch]=compact_densedepth_mix
  [bts-densenet121-k16-rooms-mix-scratch]=compact_bts_rooms_mix
  [densedepth-densenet121-k16-streets-mix-scratch]=compact_densedepth_streets_mix
  [bts-densenet121-k16-mix-scratch]=compact_bts_mix
  [adabins-mobilenetv2-mix-scratch]=compact_adabins_mix
  [dpt-vit-tiny-mix-scratch]=compact_dpt_mix
)
NAMES=(baseline-256-mix-scratch densedepth-densenet121-k16-mix-scratch bts-densenet121-k16-mix-scratch
       adabins-mobilenetv2-mix-scratch dpt-vit-tiny-mix-scratch bts-densenet121-k16-rooms-mix-scratch
       densedepth-densenet121-k16-streets-mix-scratch)

train() {
  for name in "$@"; do
    echo "== training $name ($(date -u +%H:%M:%S))"
    "$PYTHON" train/train.py --recipe "train/recipes/${RECIPES[$name]}.json" --output_dir "$RUNS/$name"
  done
}

evaluate() {  # evaluate NAME SPLIT ALIGN DATASET [ARGS...]: results_<split>_<raw|median>.json in the checkpoint
  local name=$1 split=$2 align=$3 dataset=$4
  shift 4
  "$PYTHON" -m mde_hub.cli evaluate --model "checkpoints/$name" --dataset "$dataset" "$@" --protocol none \
    --align "$align" --output "checkpoints/$name/results_${split}_$([ "$align" = none ] && echo raw || echo median).json"
}

package() {
  for name in "$@"; do
    echo "== packaging $name ($(date -u +%H:%M:%S))"
    "$PYTHON" train/ship.py export "$RUNS/$name" "checkpoints/$name"
    local kind=indoor
    [[ $name == *streets* ]] && kind=outdoor
    for align in none median; do
      evaluate "$name" synthetic "$align" "synthetic:$kind:32:1"  # the recipes' synthetic eval seed, at its default size
      evaluate "$name" icl "$align" "$RGBD/icl_livingroom1" --layout icl --split "$HELD_OUT"
      evaluate "$name" 7scenes "$align" "$RGBD/7scenes_redkitchen" --layout 7scenes --split "$HELD_OUT"
      for group in rooms close streets; do  # whole scenes no recipe trains on (mde_hub/data/npz_frames.py)
        evaluate "$name" "$group" "$align" "$RGBD/extra_real" --layout extra_real --split "heldout_$group"
      done
    done
    "$PYTHON" -m mde_hub.cli card "checkpoints/$name" --license "$LICENSE" --eval checkpoints/"$name"/results_*.json
  done
}

readme() {
  "$PYTHON" train/ship.py readme checkpoints
  # ICL-NUIM (CC BY 3.0) and synthetic frames only: 7-Scenes is non-commercial, so none of its pixels are shipped.
  "$PYTHON" train/ship.py figure docs/predictions.png --checkpoints checkpoints \
    --frames "icl:$RGBD/icl_livingroom1@175" "icl:$RGBD/icl_livingroom1@205" synthetic:1@0 synthetic:1@5
}

stage=${1:-all}
[ $# -gt 1 ] && shift && NAMES=("$@")
case $stage in
  train) train "${NAMES[@]}" ;;
  package) package "${NAMES[@]}" ;;
  readme) readme ;;
  all) train "${NAMES[@]}"; package "${NAMES[@]}"; readme ;;
  *) echo "usage: $0 [all | train [NAME...] | package [NAME...] | readme]" >&2; exit 2 ;;
esac
