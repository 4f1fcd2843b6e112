#!/usr/bin/env bash
# Rebuild the embedded default panel (assets/models/*) from ../shared/data with the project's own commands.
# Deterministic by seed. Measured step times, two jobs sharing a 2-core CPU: vision towers 11 / 23 / 14 min,
# specialists B 58, A 69, C 12, opinions 4, triage 4, attending over 96 (warm-up 20), reverse-curriculum over 95
# (each had a stage resumed after a stop, which counts its last sitting only), fixed-entropy 132, no-entropy over
# 113 and no-curriculum 103 (three jobs sharing the two cores). About 6 h in all, two steps at a time.
# Run it again after a kill: finished steps are skipped and an interrupted one continues with --resume.
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

export_model() {  # assets/notes/NAME.md: the card's hand-kept part (measured accuracy, limits)
  python scripts/export.py "$1" "assets/models/$2" --role "$3" --command "bash trainer/recipes/build_embedded.sh" \
    --notes "assets/notes/$2.md"
}

# Every training image is on one side of a fixed 70/30 split (by image hash): the specialists learn from
# the "fit" 70 %; their opinions on the "holdout" 30 % are honest (they never saw those cases), and the
# attending learns from those. Two jobs at a time, one thread each: the two cores are used without contention.
fit="--set data.holdout=0.3 --set data.part=fit --set data.limit=null"
held="--set data.holdout=0.3 --set data.part=holdout --set data.limit=null"
# The attending holds a fifth of its cases' images back (data.val_share): every stage is scored there, beside
# majority vote and each specialist, so attendings can be compared without a test split (state.json, cards).
val="--set data.val_share=0.2"

# 0. Vision towers pre-trained on the fit images' own annotations: modality, body region, plane, abnormality,
#    organ / finding presence (trainer/vision.py). Tower A starts specialists B and C.
vision() {
  local start=$SECONDS out=$1; shift
  if [[ -f $out/vision.safetensors ]]; then echo "[build] train vision -> $out: done already"; return; fi
  mmedtui train vision --output "$out" $fit "$@" --data-root "$data"
  echo "[build] train vision -> $out: $((SECONDS - start)) s"
}
vision "$work/visA" --set model.tiny_size=micro --set train.seed=1
# The larger tower (4 blocks, 128 wide) reads SLAKE's organs at 73.7 % against tower A's 54.5: it starts specialist A.
vision "$work/visMV" --set model.tiny_size=micro-vision --set train.seed=1
# The triage doctor's tower also learns the image's source (blood smear, breast ultrasound, fundus, histology:
# data.other_images), so its rationale can name what it sees beyond radiology's three modalities.
vision "$work/visS" --set model.tiny_size=micro --set train.seed=1 --set data.other_images=150

# 1. Specialist B reads the scan: from tower A, frozen, on the fit questions plus closed questions generated from
#    the images' own labels (each on its own augmented copy), reasoning that restates what is asked and then says
#    what the image shows, and augmented images from outside radiology (data.other_images), 3 epochs, seed 3
#    (assets/README.md, "Reading the scan"). A: the same recipe from the larger tower. C: SLAKE only, no images
#    from outside radiology. Three specialists that still differ (tower, data), so the curriculum has easy, medium
#    and hard cases.
read_scan="--set model.freeze_vision=true --set data.generated=true --set data.augment=true --set train.num_train_epochs=3 \
  --set train.seed=3"
train specialist --profile tiny --output "$work/specB3" $fit --set model.tiny_size=micro \
  --set "model.vision_init=$work/visA" $read_scan --set data.other_images=150
export_model "$work/specB3/final" specialist-b "specialist"
train specialist --profile tiny --output "$work/specA" $fit --set model.tiny_size=micro-vision \
  --set "model.vision_init=$work/visMV" $read_scan --set data.other_images=150
export_model "$work/specA/final" specialist-a "specialist"
train specialist --profile tiny --output "$work/specC" $fit --set "data.tasks=[slake]" --set model.tiny_size=micro \
  --set "model.vision_init=$work/visA" $read_scan
export_model "$work/specC/final" specialist-c "specialist"
spec_dir=assets/models

# 1b. The case-based specialist: no language model, the answers given to the fit images most like the scan; it
#     declines a question no fit image was asked (mmedtui/agents/nearest_image_backend.py). Seconds.
mmedtui train nearest-image --part fit --data-root "$data" --output "$spec_dir/case-based"

# 2. The panel whose opinions the attending learns from. Triage is scripted here: every VQA-RAD / SLAKE
#    image is CT, MRI or X-ray, so the opinions do not depend on the triage doctor.
cat > "$work/panel4.yaml" <<YAML
models:
  triage: {backend: scripted, replies: ["<think>CT, MRI or X-ray</think><answer>Radiologist</answer>"]}
  spec_a: {backend: transformers, path: $PWD/$spec_dir/specialist-a, device: cpu, dtype: float32}
  spec_b: {backend: transformers, path: $PWD/$spec_dir/specialist-b, device: cpu, dtype: float32}
  spec_c: {backend: transformers, path: $PWD/$spec_dir/specialist-c, device: cpu, dtype: float32}
  cases: {backend: nearest-image, path: $PWD/$spec_dir/case-based}
triage: {name: Triage doctor, model: triage}
specialists:
  default:
    - {name: Specialist A, model: spec_a, max_new_tokens: 48}
    - {name: Specialist B, model: spec_b, max_new_tokens: 48}
    - {name: Specialist C, model: spec_c, max_new_tokens: 48}
    - {name: Case-based, model: cases}
attending: {name: Attending physician, model: spec_a, max_new_tokens: 48}
YAML

# 3. Their opinions on the holdout questions (VQA-RAD train, SLAKE train; never a test split), while the
#    triage doctor trains (SFT warm-up with rationales that name the modality, then GRPO: format + department).
train opinions $held --panel "$work/panel4.yaml" --opinions "$work/opinions.jsonl"
train triage --profile tiny --output "$work/triage" --set sft.warmup_steps=800 --set model.tiny_size=micro \
  --set "model.vision_init=$work/visS" --set triage.generic_share=0.5 --max-steps 40 &
triage=$!

# 4. The attending physician, from specialist B's weights, on the holdout cases: SFT warm-up on attending prompts
#    (this warm-up model is the no-RL attending of `static-pipeline`), then C-MARL easy -> medium -> hard with the
#    tiny profile's GRPO: G = 8, 16 prompts per step, dynamic sampling before each stage, two passes over the
#    cases each stage keeps, each later stage replaying as many of the earlier stages' cases as it has, each stage's
#    yes / no answers balanced per task, the entropy bonus a tenth of the paper's (the tiny profile). Completions up
#    to 48 tokens: the reasoning says what the image shows.
att="--panel $work/panel4.yaml --opinions $work/opinions.jsonl $held $val --set grpo.max_completion_length=48"
train attending --profile tiny --output "$work/attending" --model "$spec_dir/specialist-b" $att \
  --set sft.warmup_steps=1500
wait "$triage"

# 5. The ablations, each from the same warm-up model by the same command with one option changed, two at a time:
#    `no-curriculum` (one GRPO stage over all cases, no entropy bonus), `no-entropy` (gamma = 0 in every stage),
#    `fixed-entropy` (one gamma for all three stages) and `reverse-curriculum` (hard -> medium -> easy).
warm="--model $work/attending/stages/warmup/final $att"
train attending --profile tiny --output "$work/attending-flat" $warm --no-curriculum --no-entropy &
flat=$!
train attending --profile tiny --output "$work/attending-no-entropy" $warm --no-entropy
wait "$flat"
train attending --profile tiny --output "$work/attending-fixed-entropy" $warm --fixed-entropy &
fixed=$!
train attending --profile tiny --output "$work/attending-reverse" $warm --reverse-curriculum
wait "$fixed"

# 6. Ship: float16 copies with model cards (the specialists and the case-based one are exported above).
export_model "$work/triage/final" triage "triage doctor"
export_model "$work/attending/final" attending "attending physician (C-MARL)"
export_model "$work/attending/stages/warmup/final" attending-sft "attending without RL (static-pipeline)"
export_model "$work/attending-flat/final" attending-no-curriculum \
  "attending without curriculum or entropy (no-curriculum)"
export_model "$work/attending-no-entropy/final" attending-no-entropy "attending without entropy bonus (no-entropy)"
export_model "$work/attending-fixed-entropy/final" attending-fixed-entropy \
  "attending with one entropy bonus (fixed-entropy)"
export_model "$work/attending-reverse/final" attending-reverse-curriculum \
  "attending trained hard -> medium -> easy (reverse-curriculum)"
