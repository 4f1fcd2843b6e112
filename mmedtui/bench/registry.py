"""Every bench system (a row of Table 1) in one entry: where the table puts it, what it reads, how it answers.

Systems read shared per-item agent outputs called *units*, so each agent answers an item once for every
row reading it (the ``panel`` unit feeds every ``specialist:<name>`` row and majority vote). A unit is
either a ``Pipeline`` run with some stages switched off, or (``on_opinions``) the attending stage alone,
re-run on the ``panel`` unit's triage + opinions. A ``specialist:<name>`` row scores only the items whose
department called that specialist. The agents behind baseline and ablation rows come from the panel
file's ``baselines:`` mapping (``systems.parse_baselines``); a row whose agent is required and not named
there, or whose checkpoint is missing, is unavailable. Adding an ablation is one entry, e.g.

    System("no-entropy", ABLATIONS, "no-entropy", on_opinions=True, agent="attending", paired=True)

with the panel file naming its checkpoint: ``baselines: {no-entropy: {attending: {model: ...}}}``.
"""

from __future__ import annotations

from dataclasses import dataclass

SPECIALISTS, BASELINES, OURS, ABLATIONS = "specialists", "baselines", "ours", "ablations"
GROUPS = (SPECIALISTS, BASELINES, OURS, ABLATIONS)  # the table's sections, in order
SPECIALIST_PREFIX = "specialist:"
HEADLINE = "mmedagent-rl"  # the system the paired differences are taken from
ALL_STAGES = ("triage", "specialists", "attending")


@dataclass(frozen=True)
class System:
    name: str  # the row's name; SPECIALIST_PREFIX stands for one row per panel member
    group: str  # table section (GROUPS)
    unit: str  # the shared output it reads; systems sharing a unit share the settings below
    answer: str = "attending"  # how the answer is read from the unit: attending | specialist | vote | prior
    # (prior: a non-agent model in ``checkpoint``, mmedtui.agents.priors)
    stages: tuple[str, ...] = ALL_STAGES  # the pipeline stages the unit runs (the others switched off)
    on_opinions: bool = False  # the unit runs the attending alone on the panel unit's triage + opinions
    sampled: bool = False  # the attending is sampled (--samples, bench temperature) and the majority taken
    agent: str | None = None  # the key in this row's ``baselines:`` entry naming its agent (None: the panel's)
    required: bool = True  # without that agent the row is unavailable; else ``fallback``'s, else the panel's
    fallback: str | None = None
    checkpoint: tuple[str, ...] | None = None  # a non-agent model shipped under assets/ (baselines.<name>.path wins)
    paired: bool = False  # results report HEADLINE minus this row on the same items
    doc: str = ""

    @property
    def parts(self) -> tuple[str, ...]:
        """What the unit keeps of each consultation: triage + opinions when it asked specialists, the attending."""
        if self.on_opinions:
            return ("attending",)
        asked = ("triage", "specialists") if "specialists" in self.stages else ()
        return asked + (("attending",) if "attending" in self.stages else ())


def _attending_ablation(name: str, doc: str) -> System:
    return System(name, ABLATIONS, name, on_opinions=True, agent="attending", paired=True, doc=doc)


SYSTEMS: tuple[System, ...] = (
    System(
        SPECIALIST_PREFIX,
        SPECIALISTS,
        "panel",
        answer="specialist",
        stages=("triage", "specialists"),
        doc="one panel member's own answer, on the items its department called it for",
    ),
    System(
        "question-only",
        BASELINES,
        "question-only",
        answer="prior",
        stages=(),
        checkpoint=("models", "question-only"),
        paired=True,
        doc="the language prior: a bag of words over the question, never the image",
    ),
    System(
        "nearest-image",
        BASELINES,
        "nearest-image",
        answer="prior",
        stages=(),
        checkpoint=("models", "nearest-image"),
        paired=True,
        doc="the image prior: the answers given to the training images most like the scan, no language model",
    ),
    System(
        "majority-vote",
        BASELINES,
        "panel",
        answer="vote",
        stages=("triage", "specialists"),
        paired=True,
        doc="the triaged specialists' majority (the paper's baseline)",
    ),
    System(
        "self-consistency",
        BASELINES,
        "self-consistency",
        stages=("attending",),
        sampled=True,
        agent="agent",
        required=False,
        fallback="static-pipeline",
        doc="one model alone (no triage, no opinions) sampled N times, majority",
    ),
    System(
        "static-pipeline",
        BASELINES,
        "static",
        on_opinions=True,
        agent="attending",
        paired=True,
        doc="the attending before RL on the same opinions",
    ),
    System("mmedagent-rl", OURS, "attending", on_opinions=True, doc="the panel's attending on the opinions"),
    System(
        "mmedagent-rl-tts", OURS, "tts", on_opinions=True, sampled=True, doc="N sampled attending answers, majority"
    ),
    System(
        "no-triage",
        ABLATIONS,
        "no-triage",
        stages=("specialists", "attending"),
        doc='specialists asked as "General physician", then the attending',
    ),
    System(
        "no-specialists",
        ABLATIONS,
        "no-specialists",
        stages=("attending",),
        doc="the attending alone (no triage, no opinions)",
    ),
    _attending_ablation("no-curriculum", "an attending trained without the curriculum"),
    _attending_ablation("no-entropy", "an attending trained with the curriculum but no entropy bonus"),
    _attending_ablation("fixed-entropy", "an attending trained with a fixed (not scheduled) entropy bonus"),
    _attending_ablation("reverse-curriculum", "an attending trained on the curriculum's stages in reverse"),
)
BY_NAME = {s.name: s for s in SYSTEMS}
FIXED_SYSTEMS = tuple(s.name for s in SYSTEMS if s.name != SPECIALIST_PREFIX)  # table order


def system(name: str) -> System:
    """The entry behind a row name (``specialist:<name>`` rows share the template)."""
    return BY_NAME[SPECIALIST_PREFIX if name.startswith(SPECIALIST_PREFIX) else name]


def unit_owner(unit: str) -> System:
    """The first entry reading ``unit``: the one whose settings define it."""
    return next(s for s in SYSTEMS if s.unit == unit)


def needed_units(systems: tuple[str, ...] | list[str]) -> list[str]:
    """The units the rows read, in computing order: the panel first (opinions others reuse), then the rest."""
    wanted = {system(s).unit for s in systems}
    if any(system(s).on_opinions for s in systems):
        wanted.add("panel")
    order = ["panel"] + [s.unit for s in SYSTEMS if s.on_opinions] + [s.unit for s in SYSTEMS if not s.on_opinions]
    return [u for u in dict.fromkeys(order) if u in wanted]
