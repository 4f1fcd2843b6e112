#!/usr/bin/env bash
# Rebuild the embedded default panel (assets/models/*) from ../shared/data with the project's own commands.
# Deterministic by seed; about 45 minutes on a 2-core CPU (measured figures: assets/README.md).
#
#   bash trainer/build_embedded.sh [DATA_ROOT] [WORK_DIR]
set -euo pipefail
data=${1:-../shared/data}
work=${2:-runs/embedded}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
mkdir -p "$work"
train() { mmedtui train "$@" --data-root "$data"; }

# 1. Three specialists that differ in size, seed (and so in their errors): SFT on 600 VQA-RAD + 600 SLAKE
#    training questions each (the tiny profile's data.limit).
train specialist --profile tiny --output "$work/specA" --set train.seed=1 --set model.tiny_size=small
train specialist --profile tiny --output "$work/specB" --set train.seed=2 --set model.tiny_size=small
train specialist --profile tiny --output "$work/specC" --set train.seed=3 --set model.tiny_size=micro

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
    - {name: Specialist A, model: spec_a, max_new_tokens: 48}
    - {name: Specialist B, model: spec_b, max_new_tokens: 48}
    - {name: Specialist C, model: spec_c, max_new_tokens: 48}
attending: {name: Attending physician, model: spec_a, max_new_tokens: 48}
YAML

# 3. Their opinions on every English training question (VQA-RAD train, SLAKE train; never a test split).
train opinions --all --panel "$work/panel3.yaml" --opinions "$work/opinions.jsonl"

# 4. The triage doctor: SFT warm-up, then GRPO (format + department reward).
train triage --profile tiny --output "$work/triage" --set sft.warmup_steps=200 --set model.tiny_size=micro \
  --max-steps 40

# 5. The attending physician, from specialist A's weights: SFT warm-up on attending prompts (this warm-up
#    model is the no-RL attending of `static-pipeline`), then C-MARL easy -> medium -> hard.
train attending --profile tiny --output "$work/attending" --model "$work/specA/final" \
  --panel "$work/panel3.yaml" --opinions "$work/opinions.jsonl" --set data.limit=null \
  --set sft.warmup_steps=200 --max-steps 120

# 6. The `no-curriculum` ablation: the same warm-up model, one GRPO stage over all cases, no entropy bonus.
train attending --profile tiny --output "$work/attending-flat" \
  --model "$work/attending/stages/warmup/final" --panel "$work/panel3.yaml" \
  --opinions "$work/opinions.jsonl" --set data.limit=null --no-curriculum --no-entropy --max-steps 120

# 7. Ship: float16 copies with model cards.
export_model() { python -m trainer.export "$1" "assets/models/$2" --role "$3" --command "bash trainer/build_embedded.sh"; }
export_model "$work/triage/final" triage "triage doctor"
export_model "$work/specA/final" specialist-a "specialist"
export_model "$work/specB/final" specialist-b "specialist"
export_model "$work/specC/final" specialist-c "specialist"
export_model "$work/attending/final" attending "attending physician (C-MARL)"
export_model "$work/attending/stages/warmup/final" attending-sft "attending without RL (static-pipeline)"
export_model "$work/attending-flat/final" attending-no-curriculum "attending without curriculum or entropy"
