#!/usr/bin/env bash
# Rebuild the embedded default panel (assets/models/*) from ../shared/data with the project's own commands.
# Deterministic by seed; about 80 minutes on a 2-core CPU (measured figures: assets/README.md). Run it again
# after a kill: finished steps are skipped and an interrupted one continues with --resume.
#
#   bash trainer/build_embedded.sh [DATA_ROOT] [WORK_DIR]
set -euo pipefail
data=${1:-../shared/data}
work=${2:-runs/embedded}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
mkdir -p "$work"
train() {  # each step's wall time goes to the log: the figures in assets/README.md
  local start=$SECONDS role=$1 arg prev="" out=""
  for arg in "$@"; do [[ $prev == --output ]] && out=$arg; prev=$arg; done
  local resume=()
  if [[ -n $out && -d $out/final ]]; then echo "[build] train $role -> $out: done already"; return; fi
  [[ -n $out && -f $out/config.yaml ]] && resume=(--resume)
  mmedtui train "$@" "${resume[@]}" --data-root "$data"
  echo "[build] train $role -> ${out:-opinions}: $((SECONDS - start)) s"
}

# Every training image is on one side of a fixed 70/30 split (by image hash): the specialists learn from
# the "fit" 70 %; their opinions on the "holdout" 30 % are honest (they never saw those cases), and the
# attending learns from those. Two jobs at a time, one thread each: the two cores are used without contention.
fit="--set data.holdout=0.3 --set data.part=fit --set data.limit=null"
held="--set data.holdout=0.3 --set data.part=holdout --set data.limit=null"
# The attending holds a fifth of its cases' images back (data.val_share): every stage is scored there, beside
# majority vote and each specialist, so attendings can be compared without a test split (state.json, cards).
val="--set data.val_share=0.2"

# 0. Two vision towers (seeds 1 and 3) pre-trained on the fit images' own annotations: modality, body region,
#    plane, abnormality, organ / finding presence (trainer/vision.py). Each starts the specialists of its seed,
#    so the language model is handed image tokens that already encode what the questions ask about.
vision() {
  local start=$SECONDS out=$1; shift
  if [[ -f $out/vision.safetensors ]]; then echo "[build] train vision -> $out: done already"; return; fi
  mmedtui train vision --output "$out" $fit "$@" --data-root "$data"
  echo "[build] train vision -> $out: $((SECONDS - start)) s"
}
vision "$work/visA" --set model.tiny_size=micro --set train.seed=1 &
vis_a=$!
vision "$work/visB" --set model.tiny_size=micro --set train.seed=3
wait "$vis_a"

# 1. Three `micro` specialists that differ in data, seed and vision tower (and so in their errors): SFT on
#    every fit question plus closed questions generated from the fit images' annotations (data.generated:
#    only the image answers them), cosine-decayed rate, 4 epochs. A: all fit questions, tower and seed 1; B: the
#    same, tower and seed 3; C: SLAKE only, tower and seed 3. C runs after B, beside A.
spec="--set model.tiny_size=micro --set train.num_train_epochs=4 --set data.generated=true"
train specialist --profile tiny --output "$work/specA" $fit $spec --set train.seed=1 \
  --set "model.vision_init=$work/visA" &
spec_a=$!
train specialist --profile tiny --output "$work/specB" $fit $spec --set train.seed=3 --set "model.vision_init=$work/visB"
train specialist --profile tiny --output "$work/specC" $fit $spec --set train.seed=3 --set "model.vision_init=$work/visB" \
  --set "data.tasks=[slake]"
wait "$spec_a"  # a bare `wait` would hide a failed job from `set -e`

# 2. The panel whose opinions the attending learns from. Triage is scripted here: every VQA-RAD / SLAKE
#    image is CT, MRI or X-ray, so the opinions do not depend on the triage doctor being trained yet.
cat > "$work/panel3.yaml" <<YAML
models:
  triage: {backend: scripted, replies: ["<think>CT, MRI or X-ray</think><answer>Radiologist</answer>"]}
  spec_a: {backend: transformers, path: specA/final, device: cpu, dtype: float32}
  spec_b: {backend: transformers, path: specB/final, device: cpu, dtype: float32}
  spec_c: {backend: transformers, path: specC/final, device: cpu, dtype: float32}
triage: {name: Triage doctor, model: triage}
specialists:
  default:
    - {name: Specialist A, model: spec_a, max_new_tokens: 64}
    - {name: Specialist B, model: spec_b, max_new_tokens: 64}
    - {name: Specialist C, model: spec_c, max_new_tokens: 64}
attending: {name: Attending physician, model: spec_a, max_new_tokens: 64}
YAML

# 3. Their opinions on the holdout questions (VQA-RAD train, SLAKE train; never a test split), while the
#    triage doctor trains (SFT warm-up, then GRPO: format + department reward).
train opinions $held --panel "$work/panel3.yaml" --opinions "$work/opinions.jsonl"
train triage --profile tiny --output "$work/triage" --set sft.warmup_steps=200 --set model.tiny_size=micro \
  --set "model.vision_init=$work/visA" --max-steps 40 &
triage=$!

# 4. The attending physician, from specialist B's weights (the start whose C-MARL attending scored best on the
#    held-back validation cases: B 48.6 / 62.9 %, A 43.2 / 52.4 %), on the holdout cases: SFT warm-up on attending
#    prompts (this warm-up model is the no-RL attending of `static-pipeline`), then C-MARL easy -> medium -> hard.
#    The warm-up runs at the specialists' rate (the tiny profile's 1e-3) and length: 1,000 steps at 3e-4 left it
#    below every specialist.
train attending --profile tiny --output "$work/attending" --model "$work/specB/final" \
  --panel "$work/panel3.yaml" --opinions "$work/opinions.jsonl" $held $val \
  --set sft.warmup_steps=2500 --max-steps 120
wait "$triage"

# 5. The `no-curriculum` ablation: the same warm-up model, one GRPO stage over all cases, no entropy bonus.
train attending --profile tiny --output "$work/attending-flat" \
  --model "$work/attending/stages/warmup/final" --panel "$work/panel3.yaml" \
  --opinions "$work/opinions.jsonl" $held $val --no-curriculum --no-entropy --max-steps 120

# 6. Ship: float16 copies with model cards.
export_model() {  # assets/notes/NAME.md: the card's hand-kept part (measured accuracy, limits)
  python -m trainer.export "$1" "assets/models/$2" --role "$3" --command "bash trainer/build_embedded.sh" \
    --notes "assets/notes/$2.md"
}
export_model "$work/triage/final" triage "triage doctor"
export_model "$work/specA/final" specialist-a "specialist"
export_model "$work/specB/final" specialist-b "specialist"
export_model "$work/specC/final" specialist-c "specialist"
export_model "$work/attending/final" attending "attending physician (C-MARL)"
export_model "$work/attending/stages/warmup/final" attending-sft "attending without RL (static-pipeline)"
export_model "$work/attending-flat/final" attending-no-curriculum "attending without curriculum or entropy"
