"""Values from the environment in a plan: `${VAR}` and `${VAR:-default}`, read only for the variables the plan
file lists, never a secret (config/README.md, "Values from the environment")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from budbringer import errors, yamlfile
from budbringer.errors import Problem


_VARIABLE = re.compile(r"\$(\$)(?=\{)|\$\{([^}]*)\}")
_VARIABLE_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
#: names that hold secrets: those go in a channel's `*_env` field (read when sending, never stored in the plan)
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY", re.IGNORECASE)


def expand_environment(data: Any, file: str, lines: dict[Any, Any],
                       environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Expand `${VAR}` and `${VAR:-default}` in every string value of one plan file (not in keys), in place.

    Only the variables that the file's own top-level `environment:` list names are read, so a plan cannot pull
    in whatever the process's environment holds. The default is used when the variable is unset or empty, as in
    a shell; `$${` is a literal `${`. A problem names the file, the field and the variable (never its value)
    when a reference is malformed, a variable is not in the list, is unset without a default, is named like a
    secret (that belongs in a channel's `*_env` field, read when sending and never kept in the plan), or holds a
    value that looks like a secret whatever its name (`errors.secret_reason`: credentials in a URL, `sig=`,
    `token=`, a JWT, a long random string). See config/README.md, "Values from the environment"."""
    if environ is None:
        from budbringer import settings

        environ = settings.current().environ
    env = environ
    listed = data.get("environment") if isinstance(data, dict) else None
    allowed = {name for name in listed if isinstance(name, str)} if isinstance(listed, list) else set()
    problems: list[Problem] = []

    def expand(text: str, at: tuple[Any, ...]) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(1):
                return "$"
            inner = match.group(2)
            parsed = _VARIABLE_NAME.match(inner)
            where, line, field = file, lines.get(at), yamlfile.dotted(at)
            if parsed is None:
                problems.append(Problem(where, field, f"${{{inner}}} is not a variable reference",
                                        "write ${NAME} or ${NAME:-default} (letters, digits and _), or $${ for a "
                                        "literal ${", line))
                return match.group(0)
            name, default = parsed.group(1), parsed.group(2)
            if _SECRET_NAME.search(name):
                problems.append(Problem(where, field, f"${{{name}}} looks like a secret, and secrets "
                                        "never go in a plan", "name the variable in the channel's `*_env` field "
                                        f"instead (e.g. `password_env: {name}`): it is read when sending", line))
                return match.group(0)
            if name not in allowed:
                problems.append(Problem(where, field, f"uses ${{{name}}}, which this file's `environment:` list "
                                        "does not name", f"add {name} to the top-level `environment:` list of "
                                        "this plan file (a plan reads only the variables it lists), or write the "
                                        "value itself", line))
                return match.group(0)
            value = env.get(name, "")
            if value:
                reason = errors.secret_reason(value)
                if reason:
                    problems.append(Problem(where, field, f"${{{name}}} holds what looks like a secret ({reason}), "
                                            "and secrets never go in a plan: it could reach a mail, a page or a log",
                                            f"set {name} to a value without credentials, or leave it out of the "
                                            "plan: a secret goes in the channel's `*_env` field (e.g. `url_env`, "
                                            "`password_env`), which is read when sending", line))
                    return match.group(0)
                return value
            if default is not None:
                return default
            problems.append(Problem(where, field, f"uses ${{{name}}}, which is not set",
                                    f"set {name} in the environment, or give a default: ${{{name}:-value}}", line))
            return match.group(0)

        return _VARIABLE.sub(one, text)

    def walk(node: Any, at: tuple[Any, ...]) -> Any:
        if isinstance(node, dict):
            for key, value in node.items():
                node[key] = walk(value, (*at, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                node[index] = walk(value, (*at, index))
        elif isinstance(node, str) and "$" in node:
            return expand(node, at)
        return node

    walk(data, ())
    return problems
