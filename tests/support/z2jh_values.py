"""Helm values of the Zero to JupyterHub chart, checked and run without a cluster.

`schema_errors` validates values as `helm install` does with the chart's schema (vendored in
z2jh/, a pinned chart commit): merged over the chart's defaults, the schema's
`description` keys removed (the chart's own `clean_jsonschema`), JSON Schema Draft 7.

`hub_config` and `server_files` turn the parts that configure JupyterHub and the
single-user servers into what the chart's hub image makes of them: `hub.services` and
`hub.loadRoles` (mappings by name) become the lists `c.JupyterHub.services` and
`c.JupyterHub.load_roles`, `hub.config` is set class by class, `singleuser.extraEnv` is
the spawner's environment, and `singleuser.extraFiles` become files at their
`mountPath`, written as JSON for a `.json` path.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CHART = Path(__file__).resolve().parent / "z2jh"


def _merged(defaults: Any, values: Any) -> Any:
    if isinstance(defaults, Mapping) and isinstance(values, Mapping):
        merged = dict(defaults)
        for key, value in values.items():
            merged[key] = _merged(defaults.get(key), value) if key in defaults else value
        return merged
    return copy.deepcopy(values)


def _clean(schema: MutableMapping[str, Any]) -> None:
    """The chart's `clean_jsonschema`: no `description`, at any level of `properties`."""
    schema.pop("description", None)
    for value in schema.get("properties", {}).values():
        if isinstance(value, MutableMapping):
            _clean(value)


def schema_errors(values: Mapping[str, Any]) -> list[str]:
    """What `helm` would refuse in `values`: one line per error, with its path."""
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    _clean(schema)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = validator.iter_errors(_merged(defaults, values))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]


def hub_config(values: Mapping[str, Any], api_tokens: Mapping[str, str]) -> str:
    """The jupyterhub_config.py lines of `values`' hub and single-user settings.

    `api_tokens`: a token per service, as the chart makes one for each in its Secret."""
    hub = values.get("hub", {})
    services = [
        {**service, "name": name, "api_token": api_tokens[name]}
        for name, service in hub.get("services", {}).items()
    ]
    roles = [{**role, "name": name} for name, role in hub.get("loadRoles", {}).items()]
    lines = [
        f"c.JupyterHub.services = {services!r}",
        f"c.JupyterHub.load_roles = {roles!r}",
    ]
    for section, traits in hub.get("config", {}).items():
        for trait, value in traits.items():
            lines.append(f"c.{section}.{trait} = {value!r}")
    environment = values.get("singleuser", {}).get("extraEnv", {})
    lines.append(f"c.Spawner.environment.update({environment!r})")
    return "\n".join(lines) + "\n"


def server_files(values: Mapping[str, Any]) -> dict[str, str]:
    """The files `singleuser.extraFiles` mounts in each user's pod, by mount path."""
    files = {}
    for entry in values.get("singleuser", {}).get("extraFiles", {}).values():
        path = entry["mountPath"]
        if "data" in entry:
            assert path.endswith(".json"), f"{path}: only JSON data files are supported here"
            files[path] = json.dumps(entry["data"])
        else:
            files[path] = entry["stringData"]
    return files
