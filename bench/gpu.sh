#!/usr/bin/env bash
# The CUDA checks in one go (about 8 minutes on an H100/H200), each section's table into its own file in $OUT:
#   OUT=results bash bench/gpu.sh            # on a machine with a CUDA GPU
#   TINY=1 OUT=/tmp/g bash bench/gpu.sh      # the same sections on the CPU with tiny sizes, to try the script
# Sections, most important first (each under its own time limit, so one that hangs costs only itself):
#   env.txt      GPU, torch, PyAV and whether its FFmpeg has NVENC
#   train.txt    bench/train.py at 128 px, batch 4 and 16: straightforward vs vidgan fp32 vs bf16, GPU memory
#   render.txt   bench/render.py at 1280x720 and 1920x1080, 128-px and full working scale, fp32 and --half
#   run.txt      bench/gpu_run.py: the demo's footage at 128 px for 2 minutes through the CLI, losses, render,
#                then torchrun --nproc_per_node 1 (NCCL) on the same data
#   compile.txt  bench/train.py with bf16 + --compile at batch 16, then 4
set -u
OUT=${OUT:?set OUT to a folder for the tables}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
WORK=${WORK:-$(mktemp -d)}

if [ "${TINY:-0}" = 1 ]; then
  TRAIN="--device cpu --size 64 --channels 8 --steps 2 --rounds 1"
  RENDER="--device cpu --sizes 160x96 --scales 32 full --runtimes torch --frames 8 --rounds 1"
  RUN="--device cpu --width 320 --height 180 --scale 72 --size 64 --batch 4 --minutes 0.2 --torchrun-iters 2"
  LIMIT=900
else
  TRAIN="--device cuda --size 128 --steps 10 --rounds 2"
  RENDER="--device cuda --sizes 1280x720 1920x1080 --scales 128 full --half --frames 32 --rounds 2"
  RUN="--device cuda --minutes 2 --torchrun-iters 60"
  LIMIT=1
fi
limit() { timeout $(( $1 * LIMIT )) "${@:2}"; }

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
  $PY -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version());
print('PyAV', av.__version__, 'FFmpeg', av.library_versions.get('libavcodec'));
print('encoders:', ' '.join(sorted(c for c in av.codecs_available if any(k in c for k in ('nvenc', 'x264', 'prores', 'ffv1')))))"
  nproc
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# The demo's footage and frames are CPU work: make them while the GPU benches run.
$PY bench/gpu_run.py --out "$WORK/run" --stage data $RUN > "$OUT/run.txt" 2>&1 &
DATA=$!

echo "== train" ; limit 100 $PY bench/train.py $TRAIN --batch 4 16 2>&1 | tee "$OUT/train.txt"
echo "== render"; limit 140 $PY bench/render.py $RENDER 2>&1 | tee "$OUT/render.txt"
wait $DATA
echo "== run"   ; limit 240 $PY bench/gpu_run.py --out "$WORK/run" $RUN 2>&1 | tee -a "$OUT/run.txt"
cp "$WORK/run/run/losses.png" "$OUT/run_losses.png" 2>/dev/null
echo "== compile"
for batch in 16 4; do limit 120 $PY bench/train.py $TRAIN --batch $batch --compile 2>&1 | tee -a "$OUT/compile.txt"; done
date -u
