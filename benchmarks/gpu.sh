#!/usr/bin/env bash
# One command for a day with a GPU (under 10 minutes on one H100/H200-class GPU):
#
#   benchmarks/gpu.sh [OUT_DIR]
#
# 1. writes a model directory with the config.json of a real Llama-3-8B shape (32 layers, hidden
#    4096, MLP 14336, 32 heads, 8 KV heads) and the tiny test model's tokenizer, so no hub is
#    needed; vLLM loads it with load_format="dummy" (random weights). The vocabulary is the test
#    tokenizer's (1,024 tokens instead of 128,256), so the embedding and LM head are smaller than
#    the real model's; the transformer body is the real size.
# 2. runs benchmarks/overhead.py, self_consistency.py, pipeline.py and serve_overhead.py on it,
#    each with a time limit so one hang cannot eat the window;
# 3. prints one table, naming the device, to paste into README.md (## Performance).
#
# Needs a CUDA build of vLLM (make setup on the GPU machine). Logs go to OUT_DIR (default
# runs/gpu-<date>). XPROMPT_GPU_QUICK=1 runs smaller inputs (a smoke test of the script);
# XPROMPT_GPU_ONLY="overhead pipeline" runs only the benchmarks named.
set -uo pipefail

cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python
OUT="${1:-runs/gpu-$(date -u +%Y%m%d-%H%M)}"
mkdir -p "$OUT"
export VLLM_LOGGING_LEVEL=ERROR TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "${XPROMPT_GPU_QUICK:-0}" = 1 ]; then
  ROWS=300 QUESTIONS=16 DIRECT=512 CLP=64 REQUESTS=32 ROUNDS=1 REPEATS=1
else
  ROWS=3000 QUESTIONS=96 DIRECT=4096 CLP=512 REQUESTS=256 ROUNDS=3 REPEATS=3
fi

DEVICE="$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
DEVICE="${DEVICE:-no GPU found (nvidia-smi missing)}"
echo "device: $DEVICE"

MODEL="$OUT/llama3-8b-shape"
"$PY" - "$MODEL" <<'EOF'
import json, shutil, sys
from pathlib import Path

from xprompt.testing.tiny_models import ensure_tiny_llama

target = Path(sys.argv[1])
target.mkdir(parents=True, exist_ok=True)
tiny = ensure_tiny_llama()
for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
    if (tiny / name).exists():
        shutil.copy(tiny / name, target / name)
small = json.loads((tiny / "config.json").read_text())
config = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "hidden_act": "silu",
    "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"},
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": small["vocab_size"],
    "bos_token_id": small["bos_token_id"],
    "eos_token_id": small["eos_token_id"],
    "pad_token_id": small.get("pad_token_id"),
}
(target / "config.json").write_text(json.dumps(config, indent=2))
print(f"model: {target} (Llama-3-8B shape, vocab {config['vocab_size']}, random weights)")
EOF

ONLY="${XPROMPT_GPU_ONLY:-overhead self_consistency pipeline serve_overhead}"
run() {  # run NAME SECONDS CMD...: log to $OUT/NAME.log, never stop the script
  local name="$1" limit="$2"
  shift 2
  case " $ONLY " in *" $name "*) ;; *) echo "== $name: skipped"; return ;; esac
  echo "== $name (limit ${limit}s)"
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "   rc=$rc after $((SECONDS - start))s; log $OUT/$name.log"
  tail -n 3 "$OUT/$name.log" | sed 's/^/   /'
}

DUMMY=(--model "$MODEL" --load-format dummy)
run overhead 180 "$PY" benchmarks/overhead.py "${DUMMY[@]}" --no-eager --memory 0.8 \
  --rows "$ROWS" --repeats "$REPEATS"
run self_consistency 140 "$PY" benchmarks/self_consistency.py "${DUMMY[@]}" --no-eager --memory 0.8 \
  --questions "$QUESTIONS" --repeats "$REPEATS"
run pipeline 60 "$PY" benchmarks/pipeline.py --rows "$DIRECT" --clp-rows "$CLP"
run serve_overhead 170 "$PY" benchmarks/serve_overhead.py "${DUMMY[@]}" --memory 0.4 \
  --kv-cache-bytes $((8 * 1024 * 1024 * 1024)) --requests "$REQUESTS" --rounds "$ROUNDS" \
  --json "$OUT/serve_overhead.json"

pick() {  # pick LOG PATTERN: the matching lines, or why there are none
  grep -E "$2" "$OUT/$1.log" 2>/dev/null || echo "(no result: see $OUT/$1.log)"
}
{
  echo
  echo "### GPU run: $DEVICE, $(date -u +%Y-%m-%d), Llama-3-8B shape, random weights (load_format=dummy)"
  echo
  echo "| benchmark | result |"
  echo "| --- | --- |"
  echo "| overhead.py ($ROWS rows, 3-shot) | $(pick overhead 'overhead ratio' | tr '\n' ' ') |"
  pick self_consistency '^(n=k|k requests|k calls|speed-up of n=k \(best\))' | while read -r line; do
    echo "| self_consistency.py ($QUESTIONS questions, k=8) | $line |"
  done
  echo "| pipeline.py (simulated engine, host side of this machine) | $(pick pipeline '^engine busy' | tr '\n' ' ') |"
  pick serve_overhead '^(vllm \(bare\)|xprompt (plain|guard|policy))' | while read -r line; do
    echo "| serve_overhead.py (req/s, tok/s, p50/p90/p99, ttfb, retries, ratios) | $line |"
  done
} | tee "$OUT/table.md"
