#!/usr/bin/env bash
# Rebuild the embedded default panel (assets/models/*) from ../shared/data with the project's own commands.
# Deterministic by seed; about 80 minutes on a 2-core CPU (measured figures: assets/README.md). Run it again
# after a kill: finished steps are skipped and an interrupted one continues with --resume.
#
#   bash trainer/recipes/build_embedded.sh [DATA_ROOT] [WORK_DIR]
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
#    only the image answers them, each with its own augmented copy of the image), cosine-decayed rate, 2 epochs,
#    the vision tower frozen (trained through the language model it memorised the few hundred training images:
#    measured in assets/README.md). A: all fit questions, tower and seed 1; B: the
#    same, tower and seed 3; C: SLAKE only, tower and seed 3. The three run side by side (one thread each): C is
#    the shortest, and none of them leaves a core idle while another finishes.
spec="--set model.tiny_size=micro --set train.num_train_epochs=2 --set data.generated=true --set data.augment=true
      --set model.freeze_vision=true"
train specialist --profile tiny --output "$work/specA" $fit $spec --set train.seed=1 \
  --set "model.vision_init=$work/visA" &
spec_a=$!
train specialist --profile tiny --output "$work/specC" $fit $spec --set train.seed=3 --set "model.vision_init=$work/visB" \
  --set "data.tasks=[slake]" &
spec_c=$!
train specialist --profile tiny --output "$work/specB" $fit $spec --set train.seed=3 --set "model.vision_init=$work/visB"
wait "$spec_a"  # a bare `wait` would hide a failed job from `set -e`
wait "$spec_c"

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

# 4. The attending physician, from specialist B's weights (its vision tower included), on the holdout cases: SFT
#    warm-up on attending prompts (this warm-up model is the no-RL attending of `static-pipeline`), then C-MARL
#    easy -> medium -> hard with the tiny profile's GRPO: G = 8, 16 prompts per step, dynamic sampling before
#    each stage, two passes over the cases each stage keeps. Completions up to 48 tokens: the reasoning now says
#    what the image shows.
att="--panel $work/panel3.yaml --opinions $work/opinions.jsonl $held $val --set grpo.max_completion_length=48"
train attending --profile tiny --output "$work/attending" --model "$work/specB/final" $att \
  --set sft.warmup_steps=1500
wait "$triage"

# 5. The paper's ablations, each the same command from the same warm-up model with one option changed, two at a
#    time: no curriculum (one stage over all cases, no entropy bonus), no entropy bonus (gamma = 0 every stage),
#    one gamma for all three stages, and the curriculum reversed (hard -> medium -> easy).
warm="--model $work/attending/stages/warmup/final"
train attending --profile tiny --output "$work/attending-flat" $warm $att --no-curriculum --no-entropy &
flat=$!
train attending --profile tiny --output "$work/attending-no-entropy" $warm $att --no-entropy
wait "$flat"
train attending --profile tiny --output "$work/attending-fixed-entropy" $warm $att --fixed-entropy &
fixed=$!
train attending --profile tiny --output "$work/attending-reverse" $warm $att --reverse-curriculum
wait "$fixed"

# 6. Ship: float16 copies with model cards.
export_model() {  # assets/notes/NAME.md: the card's hand-kept part (measured accuracy, limits)
  python scripts/export.py "$1" "assets/models/$2" --role "$3" --command "bash trainer/recipes/build_embedded.sh" \
    --notes "assets/notes/$2.md"
}
export_model "$work/triage/final" triage "triage doctor"
export_model "$work/specA/final" specialist-a "specialist"
export_model "$work/specB/final" specialist-b "specialist"
export_model "$work/specC/final" specialist-c "specialist"
export_model "$work/attending/final" attending "attending physician (C-MARL)"
export_model "$work/attending/stages/warmup/final" attending-sft "attending without RL (static-pipeline)"
export_model "$work/attending-flat/final" attending-no-curriculum "attending without curriculum or entropy"
export_model "$work/attending-no-entropy/final" attending-no-entropy "attending without entropy bonus"
export_model "$work/attending-fixed-entropy/final" attending-fixed-entropy "attending with one entropy bonus"
export_model "$work/attending-reverse/final" attending-reverse-curriculum "attending with the curriculum reversed"
