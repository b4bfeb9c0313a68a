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

from budbringer import settings as settings_
from budbringer.approval_links import LinkSigner
from budbringer.author_links import AuthorSigner
from budbringer.errors import BudbringerError, InputError, Problem
from budbringer.plan import Plan
from budbringer.settings import Settings

ENV_SECRET = "BUDBRINGER_WEB_SECRET"
ENV_BLOCK = "BUDBRINGER_WEB_SECRET_BLOCK"


def block_name(plan: Plan, settings: Settings | None = None) -> str | None:
    return ((settings or settings_.current()).web_secret_block or "").strip() or plan.approval.web_secret_block


def resolve(plan: Plan, settings: Settings | None = None) -> str | None:
    """The secret from the Prefect Secret block when one is named and the environment gives none; None leaves
    the choice to the domain ($BUDBRINGER_WEB_SECRET, else the generated one). `settings`: the entry point's,
    else the settings read now."""
    settings = settings or settings_.current()
    if settings.web_secret is not None and settings.web_secret.get_secret_value().strip():
        return None
    name = block_name(plan, settings)
    if not name:
        return None
    where = ("environment", f"${ENV_BLOCK}") if (settings.web_secret_block or "").strip() else \
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


def signer(plan: Plan, settings: Settings | None = None) -> LinkSigner:
    """The approval links' signer with the configured secret (from `settings`, a block, or the generated one)."""
    settings = settings or settings_.current()
    return LinkSigner(resolve(plan, settings) or _secret(settings))


def preview_signer(plan: Plan, settings: Settings | None = None) -> LinkSigner:
    """The read-only preview links' signer with the configured secret."""
    settings = settings or settings_.current()
    return LinkSigner.for_preview(resolve(plan, settings) or _secret(settings))


def _secret(settings: Settings) -> str:
    from budbringer.approval_links import secret

    return secret(settings)


def author_signer(plan: Plan, settings: Settings | None = None) -> AuthorSigner:
    """The author links' signer: the approval links' secret under the authors' own salt."""
    settings = settings or settings_.current()
    return AuthorSigner(resolve(plan, settings) or _secret(settings))
