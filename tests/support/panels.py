"""Panels built from scripted backends, whose replies a test chooses."""

from __future__ import annotations


def scripted_panel(specialist_replies=None, **overrides):
    """A panel of scripted backends: triage names Radiologist, three specialists, an attending."""
    from mmedtui.agents.panel import parse_panel

    replies = specialist_replies or [
        "<think>a</think><answer>yes</answer>",
        "<think>b</think><answer>yes</answer>",
        "<think>c</think><answer>no</answer>",
    ]
    models = {
        "triage": {"backend": "scripted", "replies": ["<think>CT of the head</think><answer>Radiologist</answer>"]},
        "attending": {"backend": "scripted", "replies": ["<think>weighing</think><answer>yes</answer>"]},
    }
    specialists = []
    for i, reply in enumerate(replies):
        models[f"s{i}"] = {"backend": "scripted", "replies": [reply]}
        specialists.append({"name": f"Specialist {chr(65 + i)}", "model": f"s{i}"})
    data = {
        "models": models,
        "triage": {"model": "triage"},
        "attending": {"model": "attending"},
        "specialists": {"default": specialists},
    }
    for key, value in overrides.items():
        data[key] = value
    return parse_panel(data)
