#!/usr/bin/env bash
# GPU bring-up and speed check for a headless NVIDIA Linux machine without network access.
#
# Run from the repository root, after tasks/gpu/pack.sh has filled .gpu/ on a machine with
# network (Deno binary, its npm cache for this project, the Vulkan/EGL loader packages); with the
# device tool: carry [".gpu"], command `bash tasks/gpu/run.sh $OUT`.
#
#   bash tasks/gpu/run.sh [OUT_DIR]
#
# It unpacks the loaders, lists the WebGPU adapters under every wgpu backend and driver setting
# (`trainer doctor`), and, on the first setting that gives a hardware adapter, measures
# ResNet50-FCN training at batch 128 and 512 next to the PyTorch reference on the same GPU.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-${OUT:-gpu-report}}
mkdir -p "$OUT"
log() { echo "$*" | tee -a "$OUT/summary.txt"; }

[ -d .gpu/bin ] || xz -dc .gpu/bundle.tar.xz | tar -C .gpu -xf -
for f in .gpu/debs/*.deb; do dpkg -x "$f" / 2>/dev/null; done
ldconfig 2>/dev/null
export PATH="$PWD/.gpu/bin:$PATH" DENO_DIR="$PWD/.gpu/deno_dir" NO_COLOR=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"

NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
NV_EGL=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
settings=(
  ""
  "DENO_WEBGPU_BACKEND=vulkan"
  "DENO_WEBGPU_BACKEND=vulkan VK_DRIVER_FILES=$NV_ICD"
  "DENO_WEBGPU_BACKEND=gl __EGL_VENDOR_LIBRARY_FILENAMES=$NV_EGL"
)
chosen=""
for s in "${settings[@]}"; do
  log "=== doctor with: ${s:-default environment}"
  env $s deno run --cached-only -A tasks/main.ts doctor --backend webgpu >>"$OUT/doctor.txt" 2>&1
  rc=$?
  tail -n 4 "$OUT/doctor.txt" | tee -a "$OUT/summary.txt"
  if [ $rc -eq 0 ] && ! tail -n 12 "$OUT/doctor.txt" | grep -q "(software)"; then
    chosen=$s
    break
  fi
done
if [ -z "$chosen" ] && ! grep -q "Chosen: backend webgpu" "$OUT/doctor.txt"; then
  log "no hardware WebGPU adapter under any setting; see $OUT/doctor.txt"
  exit 1
fi
log "=== using: ${chosen:-default environment}"
for batch in 128 512; do
  env $chosen deno run --cached-only -A tasks/main.ts bench --model resnet50 --batch-size "$batch" \
    --steps 20 --warmup 3 --backend webgpu 2>>"$OUT/bench.err" | tail -n 1 | tee -a "$OUT/bench.jsonl"
  python3 tasks/reference/resnet_fcn_torch.py bench --device cuda --depth 50 --batch "$batch" \
    --steps 20 --warmup 3 2>>"$OUT/bench.err" | tee -a "$OUT/bench.jsonl"
done
log "results: $OUT/bench.jsonl"
