"""mmedtui: MMedAgent-RL (triage -> specialist panel -> RL-trained attending) as a terminal tool.

Research and teaching only. Never for clinical decisions.
"""

__version__ = "0.1.0"

DISCLAIMER = "Research use only. Not for clinical decisions."
