#!/usr/bin/env bash
# `make demo`: start the fleet locally, analyze attention of SmolLM2-135M, compare inputs on
# MiniLM and explain one SmolLM2 prediction through the public gRPC endpoint, write the reports
# to out/, stop the fleet.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=out
mkdir -p "$OUT"

# The port must not be served by anything else (e.g. an `interp serve` still running): an
# explicit INTERP_PORT that is busy is an error; the default 50051, if busy, is replaced by a
# free port, and the demo says which.
port_conflict() {
  "$PY" -c 'import sys; from interp_services.rpc.gateway import port_conflict as c; print(c("127.0.0.1", int(sys.argv[1])) or "")' "$1"
}
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
if [ -n "${INTERP_PORT:-}" ]; then
  PORT=$INTERP_PORT
  BUSY=$(port_conflict "$PORT")
  if [ -n "$BUSY" ]; then
    echo "demo: $BUSY; stop it or set INTERP_PORT to a free port" >&2
    exit 1
  fi
else
  PORT=50051
  BUSY=$(port_conflict "$PORT")
  if [ -n "$BUSY" ]; then
    PORT=$(free_port)
    echo "demo: $BUSY; using free port $PORT instead"
  fi
fi

"$PY" -m interp_services.serve --port "$PORT" --store "$OUT/store" >"$OUT/fleet.log" 2>&1 &
FLEET=$!
trap 'kill -TERM $FLEET 2>/dev/null; wait $FLEET 2>/dev/null || true' EXIT
echo "starting the fleet (log: $OUT/fleet.log) ..."
for _ in $(seq 1 840); do
  grep -q '^READY' "$OUT/fleet.log" && break
  kill -0 $FLEET 2>/dev/null || { tail -40 "$OUT/fleet.log"; exit 1; }
  sleep 0.5
done
grep '^READY' "$OUT/fleet.log" || { echo "fleet did not start"; tail -40 "$OUT/fleet.log"; exit 1; }

CLI=("$PY" -m interpretability.cli)
"${CLI[@]}" health --endpoint "127.0.0.1:$PORT"
echo
"${CLI[@]}" analyze-attention --endpoint "127.0.0.1:$PORT" \
  --model-name smollm2-135m \
  --input-text "The quick brown fox jumps over the lazy dog." \
  --layers "6,7,8" --heads "all" \
  --output "$OUT/attention_analysis.html"
echo
"${CLI[@]}" compare-attention --endpoint "127.0.0.1:$PORT" \
  --model-name all-minilm-l6-v2 \
  --inputs examples/input_samples.txt \
  --output "$OUT/attention_comparison/"
echo
# Which tokens made SmolLM2 answer " Paris": three methods, their agreement and deletion curves.
"${CLI[@]}" explain-prediction --endpoint "127.0.0.1:$PORT" \
  --model-name smollm2-135m \
  --input-text "The capital of France is" \
  --methods "integrated_gradients,input_x_gradient,feature_ablation" \
  --explanation-depth detailed \
  --output "$OUT/prediction_explanation.html"
echo
# Where SmolLM2 settles on " Paris", layer by layer (the logit lens).
"${CLI[@]}" logit-lens --endpoint "127.0.0.1:$PORT" \
  --model-name smollm2-135m \
  --input-text "The capital of France is" \
  --output "$OUT/logit_lens.html"
echo
# Neuron statistics over a small dataset (its one malformed line is reported, not dropped).
"${CLI[@]}" analyze-activations --endpoint "127.0.0.1:$PORT" \
  --model-name smollm2-135m \
  --input-dataset examples/activations/analysis_samples.jsonl \
  --layers "0,10,20,29" --output "$OUT/activation_analysis/"
echo
# What SmolLM2's layers know about part of speech and sentiment, and whether the probe or the
# representation knows it (control tasks), on the shipped template suite (MDL skipped for speed).
"${CLI[@]}" probe-linguistic --endpoint "127.0.0.1:$PORT" \
  --model-name smollm2-135m \
  --probe-tasks "pos_tagging,sentiment" \
  --probe-dataset examples/probing/linguistic_probing_suite.json \
  --layers "0,5,10,15,20,25,29" --skip-mdl --output "$OUT/linguistic_probes/"
echo
# Where SmolLM2 looks up "Eiffel Tower -> Paris": causal tracing (noise on the subject, each
# layer's residual stream at each token restored in turn; 2 noise samples for speed).
"${CLI[@]}" trace-information-flow --endpoint "127.0.0.1:$PORT" \
  --model-name smollm2-135m \
  --input-text "The Eiffel Tower is located in the city of" --subject "Eiffel Tower" \
  --states hidden --samples 2 --output "$OUT/causal_trace.html"
echo
echo "Open $OUT/attention_analysis.html, $OUT/attention_comparison/comparison.html, $OUT/prediction_explanation.html,"
echo "$OUT/logit_lens.html, $OUT/activation_analysis/report.html, $OUT/linguistic_probes/report.html and $OUT/causal_trace.html in a browser."
