"""The secret that signs the approvers' personal links, when it is kept in a Prefect Secret block.

Resolved here because only flows/ imports Prefect; the value is handed to the domain (`LinkSigner(key)`,
`create_app(secret=…)`), which never learns where it came from. In order:

1. $BUDBRINGER_WEB_SECRET (the domain reads it: `approval_links.secret()`);
2. the Prefect Secret block named by $BUDBRINGER_WEB_SECRET_BLOCK or the plan's `approval.web_secret_block`
   (e.g. `budbringer-web-secret`), on the Prefect server the process uses;
3. otherwise the secret generated once under `.budbringer/` (the domain again).

A block is only asked for when one is named, so a plan without one never contacts Prefect for it. A named block
that cannot be read is an error: links signed with another secret than the pages check would all be refused.
The value is never logged, printed or put in an exception.
"""

from __future__ import annotations

import os

from budbringer.approval_links import LinkSigner
from budbringer.errors import BudbringerError, InputError, Problem
from budbringer.plan import Plan

ENV_SECRET = "BUDBRINGER_WEB_SECRET"
ENV_BLOCK = "BUDBRINGER_WEB_SECRET_BLOCK"


def block_name(plan: Plan) -> str | None:
    return os.environ.get(ENV_BLOCK, "").strip() or plan.approval.web_secret_block


def resolve(plan: Plan) -> str | None:
    """The secret from the Prefect Secret block when one is named and the environment gives none; None leaves
    the choice to the domain ($BUDBRINGER_WEB_SECRET, else the generated one)."""
    if os.environ.get(ENV_SECRET, "").strip():
        return None
    name = block_name(plan)
    if not name:
        return None
    where = ("environment", f"${ENV_BLOCK}") if os.environ.get(ENV_BLOCK, "").strip() else \
        (str(plan.path), "approval.web_secret_block")
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name)
    except ValueError:
        raise InputError([Problem(where[0], where[1], f"there is no Prefect Secret block named {name!r}",
                                  f"create it (`prefect block create secret`, or in Python: "
                                  f"Secret(value=...).save({name!r})), or set ${ENV_SECRET}")]) from None
    except Exception as exc:  # noqa: BLE001 - the Prefect API could not be reached
        raise BudbringerError(f"the Prefect Secret block {name!r} could not be read ({type(exc).__name__}); "
                              f"check PREFECT_API_URL, or set ${ENV_SECRET}") from None
    value = block.get()
    if not isinstance(value, str) or not value.strip():
        raise InputError([Problem(where[0], where[1], f"the Prefect Secret block {name!r} holds no text",
                                  "store the secret as a plain string (at least 32 random characters)")])
    return value.strip()


def signer(plan: Plan) -> LinkSigner:
    """The approval links' signer with the configured secret."""
    return LinkSigner(resolve(plan))


def preview_signer(plan: Plan) -> LinkSigner:
    """The read-only preview links' signer with the configured secret."""
    return LinkSigner.for_preview(resolve(plan))
