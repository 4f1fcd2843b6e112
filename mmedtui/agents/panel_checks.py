"""A panel file is untrusted input (people share them): what it may not do, checked before anything is built.

- Size: at most ``MAX_PANEL_BYTES``; YAML aliases may not expand the document past ``MAX_EXPANDED_NODES``
  (an alias bomb in ``extra_body`` otherwise takes minutes and gigabytes), nor nest past ``MAX_DEPTH``.
- Code: ``trust_remote_code`` runs a model folder's own Python; a panel file cannot ask for it, only the
  ``--trust-remote-code`` flag of ``consult`` / ``bench`` can, and it prints what will run.
- Secrets: ``api_key_env`` must name a key-like variable (``*_API_KEY``, ``*_TOKEN``, ``*_KEY``; else
  ``api_key_env: HOME`` would send $HOME as a Bearer token), and a key never goes over plain ``http://`` to a
  host other than this machine unless the entry says ``allow_insecure: true``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from mmedtui.errors import ConfigError, error_line

MAX_PANEL_BYTES = 1_000_000
MAX_EXPANDED_NODES = 20_000
MAX_DEPTH = 64
KEY_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(_API_KEY|_TOKEN|_KEY)$")


# --- reading --------------------------------------------------------------------------------------
def read_panel_yaml(path: Path):
    """The panel file's YAML data, within the size, alias-expansion and depth limits (ConfigError past them)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PANEL_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: panel file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: not a readable panel file ({exc.strerror or exc})") from None
    if len(raw) > MAX_PANEL_BYTES:
        raise ConfigError(f"{path}: panel file over {MAX_PANEL_BYTES // 1_000_000} MB; a panel is a few KB")
    try:
        node = yaml.compose(raw.decode("utf-8"), Loader=yaml.SafeLoader)
        if node is not None:
            _check_expansion(node, path)
        return yaml.load(raw.decode("utf-8"), Loader=yaml.SafeLoader) if node is not None else None
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(f"{path}: YAML nested too deeply") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML panel file ({error_line(exc, typed=False)})") from None


def _check_expansion(root, path: Path) -> None:
    """Count the nodes the document holds once every alias is expanded (memoised, so the bomb is never built)."""
    sizes: dict[int, int] = {}
    pending: set[int] = set()

    def size(node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise ConfigError(f"{path}: YAML nested deeper than {MAX_DEPTH} levels")
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in pending:
            raise ConfigError(f"{path}: a YAML alias refers to itself")
        pending.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        if total > MAX_EXPANDED_NODES:
            raise ConfigError(f"{path}: YAML aliases expand past {MAX_EXPANDED_NODES} values; refused")
        pending.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


# --- what the models may ask for ------------------------------------------------------------------
def check_models(models: dict, source: str, trust_remote_code: bool = False) -> None:
    for key, spec in models.items():
        where = f"{source}: model {key!r}"
        if spec.get("trust_remote_code") and not trust_remote_code:
            raise ConfigError(
                f"{where}: trust_remote_code runs the model folder's own code and is not allowed "
                "in a panel file; pass --trust-remote-code to consult / bench to allow it"
            )
        if spec.get("backend") == "openai":
            _check_openai(spec, where)


def _check_openai(spec: dict, where: str) -> None:
    env = spec.get("api_key_env")
    if env is None:
        return
    if not isinstance(env, str) or not KEY_ENV.match(env):
        raise ConfigError(f"{where}: api_key_env must name a variable ending in _API_KEY, _TOKEN or _KEY, not {env!r}")
    import os

    if os.environ.get(env):
        api_key(env, where)  # a key no HTTP header can carry: say so now, not as a crash at the first request
    url = urlsplit(str(spec.get("base_url", "")))
    if url.scheme == "http" and not _loopback(url.hostname or "") and spec.get("allow_insecure") is not True:
        raise ConfigError(
            f"{where}: will not send {env} over plain http:// to {url.hostname}; use https:// "
            "or set allow_insecure: true"
        )


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key(env: str, where: str) -> str:
    """The key in ``$env``, which must be printable ASCII (an HTTP header); the value is never echoed."""
    import os

    value = os.environ.get(env)
    if not value:
        raise ConfigError(f"{where}: environment variable {env} is unset or empty")
    if not all(32 < ord(c) < 127 for c in value):
        raise ConfigError(
            f"{where}: environment variable {env} holds characters an API key cannot have "
            "(non-ASCII, spaces or control characters)"
        )
    return value


def remote_models(models: dict) -> list[str]:
    """The panel's models whose prompts, image included, leave this machine."""
    return [key for key, spec in models.items() if spec.get("backend") == "openai"]


def check_burned_in(scan_meta, models: dict, allowed: bool) -> None:
    """A DICOM with ``BurnedInAnnotation = YES`` has identifying text in its pixels: it does not go to a remote
    model unless the command line says ``--allow-burned-in``."""
    remote = remote_models(models)
    if getattr(scan_meta, "burned_in", False) and remote and not allowed:
        raise ConfigError(
            f"{scan_meta.source}: BurnedInAnnotation is YES (identifying text in the pixels) and the "
            f"panel sends images to remote model(s) {', '.join(remote)}; pass --allow-burned-in to "
            "send it anyway, or use a local panel"
        )


# --- --trust-remote-code --------------------------------------------------------------------------
def announce_remote_code(models: dict, base_dir: Path, out=None) -> None:
    """Say, before anything loads, which models will run their own code and from which files."""
    out = out or sys.stderr
    for key, spec in models.items():
        if spec.get("backend") != "transformers" or not spec.get("trust_remote_code"):
            continue
        from mmedtui.agents.locate import model_folder

        folder = model_folder(spec.get("path", ""), base_dir)
        code = sorted(p.name for p in folder.glob("*.py")) if folder.is_dir() else []
        classes = sorted(_auto_map(folder))
        print(
            f"--trust-remote-code: model {key!r} ({spec.get('path')}) will run "
            f"{', '.join(code) or 'code fetched with the model'}"
            + (f" (auto_map: {', '.join(classes)})" if classes else ""),
            file=out,
        )


def _auto_map(folder: Path) -> set[str]:
    found: set[str] = set()
    for name in ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json"):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        auto_map = data.get("auto_map") if isinstance(data, dict) else None
        if isinstance(auto_map, dict):
            for value in auto_map.values():
                found.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
    return found
