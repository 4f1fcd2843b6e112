#!/usr/bin/env bash
# Rebuild the embedded default panel (assets/models/*) from ../shared/data with the project's own commands.
# Deterministic by seed; about 3 hours on a 2-core CPU (measured figures: assets/README.md). Run it again
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

# 0. A vision tower pre-trained on the fit images' own annotations: modality, body region, plane, abnormality,
#    organ / finding presence (trainer/vision.py). It starts the triage doctor.
vision() {
  local start=$SECONDS out=$1; shift
  if [[ -f $out/vision.safetensors ]]; then echo "[build] train vision -> $out: done already"; return; fi
  mmedtui train vision --output "$out" $fit "$@" --data-root "$data"
  echo "[build] train vision -> $out: $((SECONDS - start)) s"
}
vision "$work/visA" --set model.tiny_size=micro --set train.seed=1

# 1. Specialists B and C: from that tower (frozen: trained through the language model it memorised the training
#    images), SFT 3 epochs on the fit questions plus yes/no questions generated from the fit images' own
#    annotations, each on its own augmented copy of the image. A closed question's reasoning target restates what
#    it asks about, then says what the image shows ("The question asks about CT. An axial MRI of the head."):
#    without the two side by side a tiny model never learns to compare them (scripts/probe_match.py).
#    Specialist A stays the one of commit 08f218f's 6-epoch recipe: the same recipe at seed 1 scored below it on
#    SLAKE validation and both holdouts (assets/README.md, "Reading the scan").
spec="--profile tiny $fit --set model.tiny_size=micro --set model.vision_init=$work/visA --set model.freeze_vision=true
  --set data.generated=true --set data.augment=true --set train.num_train_epochs=3 --set train.seed=3"
train specialist --output "$work/specB" $spec &
b=$!
train specialist --output "$work/specC" $spec --set "data.tasks=[slake]"
wait "$b"
spec_dir=$(cd "$work" && pwd)  # absolute: the panel file below names the models

# 2. The panel whose opinions the attending learns from. Triage is scripted here: every VQA-RAD / SLAKE
#    image is CT, MRI or X-ray, so the opinions do not depend on the triage doctor.
cat > "$work/panel3.yaml" <<YAML
models:
  triage: {backend: scripted, replies: ["<think>CT, MRI or X-ray</think><answer>Radiologist</answer>"]}
  spec_a: {backend: transformers, path: $PWD/assets/models/specialist-a, device: cpu, dtype: float32}
  spec_b: {backend: transformers, path: $spec_dir/specB/final, device: cpu, dtype: float32}
  spec_c: {backend: transformers, path: $spec_dir/specC/final, device: cpu, dtype: float32}
triage: {name: Triage doctor, model: triage}
specialists:
  default:
    - {name: Specialist A, model: spec_a, max_new_tokens: 48}
    - {name: Specialist B, model: spec_b, max_new_tokens: 48}
    - {name: Specialist C, model: spec_c, max_new_tokens: 48}
attending: {name: Attending physician, model: spec_a, max_new_tokens: 48}
YAML

# 3. Their opinions on the holdout questions (VQA-RAD train, SLAKE train; never a test split), while the
#    triage doctor trains (SFT warm-up with rationales that name the modality, then GRPO: format + department).
train opinions $held --panel "$work/panel3.yaml" --opinions "$work/opinions.jsonl"
train triage --profile tiny --output "$work/triage" --set sft.warmup_steps=800 --set model.tiny_size=micro --set data.limit=null \
  --set "model.vision_init=$work/visA" --max-steps 40 &
triage=$!

# 4. The attending physician (measured, not shipped; see step 6), from specialist B's weights, on the holdout cases: SFT warm-up on attending prompts
#    (this warm-up model is the no-RL attending of `static-pipeline`), then C-MARL easy -> medium -> hard with the
#    tiny profile's GRPO: G = 8, 16 prompts per step, dynamic sampling before each stage, two passes over the
#    cases each stage keeps. Completions up to 48 tokens: the reasoning says what the image shows.
att="--panel $work/panel3.yaml --opinions $work/opinions.jsonl $held $val --set grpo.max_completion_length=48"
train attending --profile tiny --output "$work/attending" --model "$spec_dir/specB/final" $att \
  --set sft.warmup_steps=1500
wait "$triage"

# 5. The `no-curriculum` ablation: the same warm-up model, one GRPO stage over all cases, no entropy bonus.
#    (no-entropy, fixed-entropy and reverse-curriculum: the same command with --no-entropy, --fixed-entropy or
#    --reverse-curriculum instead; not built yet, so the bench lists them as unavailable.)
train attending --profile tiny --output "$work/attending-flat" --model "$work/attending/stages/warmup/final" $att \
  --no-curriculum --no-entropy

# 6. Ship: float16 copies with model cards. Specialists B and C are replaced. The triage doctor stays the previous
#    build's: trained on all training images with the modality-first picks (data.limit=null) its
#    rationale named the right modality on 65.6 % of SLAKE validation images (17.7 % before), but it sent every
#    BCCD test smear to the wrong department (assets/README.md). The attending of
#    step 4 scored below majority vote on its held-back cases in every earlier build, so the shipped attending,
#    attending-sft and attending-no-curriculum stay those of commit 08f218f's recipe (assets/README.md).
export_model() {  # assets/notes/NAME.md: the card's hand-kept part (measured accuracy, limits)
  python scripts/export.py "$1" "assets/models/$2" --role "$3" --command "bash trainer/recipes/build_embedded.sh" \
    --notes "assets/notes/$2.md"
}
for x in B C; do export_model "$work/spec$x/final" "specialist-${x,,}" specialist; done
