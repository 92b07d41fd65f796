"""Reading configurations from YAML or JSON text and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from experiments.errors import ConfigError, Problem
from experiments.model import Config
from experiments.parsing import parse_config
from experiments.validation import validate_config


def load_config_text(text: str, source: str = "<text>") -> Config:
    """Parse and validate YAML (a superset of JSON); raises `ConfigError` listing all problems."""
    config, problems = parse_config(_document(text, source))
    problems += validate_config(config)
    if problems:
        raise ConfigError(problems)
    return config


def _document(text: str, source: str) -> Any:
    """JSON text read as JSON (YAML would read 1e5 as a string), anything else as YAML."""
    try:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("config", source, f"not valid YAML or JSON: {exc}")]) from None
    except RecursionError:  # the YAML reader recurses once per level
        reason = "nested too deeply to read; experiments nest far less deep"
        raise ConfigError([Problem("config", source, reason)]) from None
    return document if document is not None else {}


def load_config_file(path: str | Path) -> Config:
    """A configuration from a `.yaml`, `.yml` or `.json` file."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError([Problem("config", str(path), "use a .yaml, .yml or .json file")])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("config", str(path), f"cannot read: {exc.strerror}")]) from None
    if path.suffix == ".json":
        try:
            json.loads(text)  # strict JSON: no YAML extensions in a .json file
        except json.JSONDecodeError as exc:
            raise ConfigError([Problem("config", str(path), f"not valid JSON: {exc}")]) from None
    return load_config_text(text, str(path))
