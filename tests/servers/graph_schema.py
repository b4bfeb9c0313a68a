"""Microsoft's CSDL for the Graph types Budbringer sends (reference/graph-v1.0-subset.json), as the Graph emulator
(tests/servers/graph.py) checks request bodies against it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REFERENCE = Path("/work/shared/reference/graph-v1.0-subset.json")


class Schema:
    """Checks a JSON body against Microsoft's CSDL, trimmed to the types Budbringer sends.

    Property names are exact (Graph's JSON is camelCase); action parameters and enum members are matched
    without regard to case, as Graph does.
    """

    PRIMITIVES = {"Edm.String": str, "Edm.Boolean": bool, "Edm.Int32": int, "Edm.DateTimeOffset": str,
                  "Edm.Binary": str}

    def __init__(self, path: Path = REFERENCE) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.types: dict[str, Any] = data["types"]
        self.enums: dict[str, list[str]] = data["enums"]
        self.actions: dict[str, Any] = data["actions"]

    def members(self, type_name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        while type_name:
            entry = self.types[type_name]
            out = {**entry["properties"], **entry["navigation"], **out}
            type_name = entry.get("base") or ""
        return out

    def derives(self, child: str, parent: str) -> bool:
        while child:
            if child == parent:
                return True
            child = self.types.get(child, {}).get("base") or ""
        return False

    def action(self, name: str, body: Any) -> list[str]:
        params = self.actions[name]
        if not isinstance(body, dict):
            return ["the body is not a JSON object"]
        errors = []
        lowered = {k.lower(): (k, v) for k, v in params.items()}
        for key, value in body.items():
            if key.lower() not in lowered:
                errors.append(f"The parameter '{key}' in the request payload is not a valid parameter for the "
                              f"operation '{name.split('@')[0]}'.")
                continue
            declared, spec = lowered[key.lower()]
            errors += self.check(value, spec["type"], declared)
        for key, (declared, spec) in lowered.items():
            if not spec.get("nullable", True) and key not in {k.lower() for k in body}:
                errors.append(f"The parameter '{declared}' is required.")
        return errors

    def check(self, value: Any, type_name: str, where: str) -> list[str]:
        if value is None:
            return []
        collection = re.fullmatch(r"Collection\((.+)\)", type_name)
        if collection:
            if not isinstance(value, list):
                return [f"{where}: expected a collection of {collection.group(1)}"]
            return [e for i, item in enumerate(value) for e in self.check(item, collection.group(1), f"{where}[{i}]")]
        if type_name in self.PRIMITIVES:
            expected = self.PRIMITIVES[type_name]
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            return [] if ok else [f"{where}: expected {type_name}, got {type(value).__name__}"]
        if type_name == "Edm.Untyped":
            return []
        if type_name in self.enums:
            members = {m.lower() for m in self.enums[type_name]}
            if not isinstance(value, str) or value.lower() not in members:
                return [f"{where}: {value!r} is not a member of {type_name}"]
            return []
        if type_name == "graph.singleValueLegacyExtendedProperty":
            if not (isinstance(value, dict) and set(value) == {"id", "value"}
                    and all(isinstance(v, str) for v in value.values())):
                return [f"{where}: an extended property has exactly `id` and `value`, both strings"]
            return []
        if type_name not in self.types:
            return []  # a type the reference does not carry (Budbringer never sends it)
        if not isinstance(value, dict):
            return [f"{where}: expected an object of type {type_name}"]
        actual = type_name
        odata_type = value.get("@odata.type")
        if odata_type is not None:
            actual = "graph." + str(odata_type).lstrip("#").removeprefix("microsoft.graph.")
            if actual not in self.types or not self.derives(actual, type_name):
                return [f"{where}: @odata.type {odata_type!r} is not a {type_name}"]
        members = self.members(actual)
        errors = []
        for key, item in value.items():
            if key.startswith("@odata."):
                continue
            if key not in members:
                errors.append(f"The property '{key}' does not exist on type "
                              f"'{actual.replace('graph.', 'microsoft.graph.')}'.")
                continue
            errors += self.check(item, members[key], f"{where}.{key}")
        return errors
