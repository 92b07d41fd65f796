"""Config as code: make the running configuration match a YAML or JSON file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from abstream.admin_client import AdminClient, ApiError
from experiments.changes import COMPUTED_FIELDS, diff, plan_patch, same

Say = Callable[[str], None]


def apply_config(
    client: AdminClient, written: dict[str, Any], canonical: dict[str, Any], dry_run: bool,
    say: Say,
) -> int:
    """Show what would change (and how many users move), then change it unless `dry_run`.

    `written` is the file as its author wrote it: only the fields it names are
    managed. `canonical` is the same configuration parsed and validated, with
    defaults filled in, which is what the values are compared as. Returns the
    number of definitions that differ from the running configuration.
    """
    document = written
    served = client.get("/config")
    changed = 0
    holdout = document.get("holdout")
    if holdout is not None and not same({"salt": "global", **holdout}, served.get("holdout")):
        changed += 1
        _show("holdout", diff(served.get("holdout") or {}, document["holdout"]), say)
        if not dry_run:
            client.request("PUT", "/holdout", document["holdout"])
    layers = {layer["key"]: layer for layer in served.get("layers", [])}
    for layer in document.get("layers") or []:
        current = layers.get(layer["key"])
        wanted = {"description": "", **layer}
        if not same(current, wanted):
            changed += 1
            _show(f"layer {layer['key']}", diff(current or {}, wanted), say)
            if not dry_run:
                client.request("PUT", f"/layers/{layer['key']}", wanted)
    full = {e["key"]: e for e in canonical.get("experiments", [])}
    for experiment in document.get("experiments") or []:
        wanted = {name: full[experiment["key"]][name] for name in experiment
                  if name not in COMPUTED_FIELDS or name == "key"}
        changed += _apply_experiment(client, wanted, dry_run, say)
    say(f"{changed} definition(s) {'would change' if dry_run else 'changed'}")
    return changed


def _apply_experiment(client: AdminClient, desired: dict[str, Any], dry_run: bool,
                      say: Say) -> int:
    key = desired["key"]
    try:
        found = client.get(f"/experiments/{key}")
    except ApiError as exc:
        if exc.status != 404:
            raise
        return _create(client, desired, dry_run, say)
    patch = plan_patch(found["experiment"], desired)
    if not patch:
        say(f"experiment {key}: unchanged")
        return 0
    _, preview = client.request("PATCH", f"/experiments/{key}", patch, found["version"],
                                dry_run=True)
    _show(f"experiment {key}", preview["diff"], say)
    say(f"  users moved: {preview['users_moved_percent']:g} %"
        + ("; a new phase starts" if preview["new_phase"] else ""))
    if not dry_run:
        status, result = client.request("PATCH", f"/experiments/{key}", patch, found["version"])
        if status == 202:
            say(f"  waiting for approval: change {result['pending']}")
    return 1


def _create(client: AdminClient, desired: dict[str, Any], dry_run: bool, say: Say) -> int:
    key, status = desired["key"], desired.get("status", "draft")
    draft = {**desired, "status": "draft"}
    # The file was validated as a whole: its new layers may not exist on the server yet.
    _show(f"experiment {key} (new)", diff({}, desired), say, limit=6)
    if dry_run:
        return 1
    _, created = client.request("POST", "/experiments", draft)
    if status != "draft":
        client.request("PATCH", f"/experiments/{key}", {"status": status}, created["version"])
        say(f"  status: draft → {status}")
    return 1


def _show(title: str, changes: dict[str, list[Any]], say: Say, limit: int = 40) -> None:
    say(f"{title}:")
    for path, (before, after) in list(changes.items())[:limit]:
        say(f"  {path}: {_short(before)} → {_short(after)}")
    if len(changes) > limit:
        say(f"  ... and {len(changes) - limit} more")


def _short(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
