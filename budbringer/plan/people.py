"""The people in a plan: the steering group's members and its approval policy, the authors, and the Entra ID
sign-in on their pages."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from budbringer import yamlfile
from budbringer.plan.fields import GUID, MULTI_TENANT, Email, Name, PersonName, Strict, custom_error


class Member(Strict):
    name: PersonName
    email: Email
    role: str = "medlem"
    object_id: str | None = Field(default=None, description="The member's object id in the tenant (Entra ID: "
                                  "Users → the user → Object ID): what Entra ID sign-in matches, with the tenant.")

    @field_validator("object_id")
    @classmethod
    def _object_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not GUID.fullmatch(value.strip().lower()):
            raise custom_error(f"{yamlfile.quote(value)} is not an object id",
                          "copy the user's Object ID (a GUID) from Entra ID: Users → the user → Overview")
        return value.strip().lower()


class Author(Member):
    """Someone who writes the messages on the author's page (budbringer/web/author.py): opens it from a personal
    link (`budbringer link --author NAME`) or, where the plan requires sign-in, with Entra ID (`object_id`)."""

    role: str = "forfatter"


class SignIn(Strict):
    """Microsoft Entra ID sign-in on the approval pages (OIDC authorization-code flow through msal). The client
    secret is never in the plan: it comes from $BUDBRINGER_ENTRA_CLIENT_SECRET."""

    provider: Literal["entra"] = "entra"
    tenant: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="The region's tenant id (a GUID): ID tokens must name it in `tid` and `iss`.")
    client_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="Application (client) id of the app registration for the approval pages.")
    authority_url: Annotated[str, StringConstraints(strip_whitespace=True)] = Field(
        default="https://login.microsoftonline.com",
        description="The sign-in host (https); the authority is {authority_url}/{tenant}.")
    required: bool = Field(default=True, description="true: a decision needs sign-in (the link alone is not "
                                                     "enough); false: sign-in is offered beside the link.")

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        where = ("give the region's tenant id (a GUID): Entra admin center → Identity → Overview → Tenant ID")
        if value.lower() in MULTI_TENANT:
            raise custom_error(f"{yamlfile.quote(value)} lets users of any tenant sign in", where)
        if not GUID.fullmatch(value.lower()):
            raise custom_error(f"{yamlfile.quote(value)} is not a tenant id", where)
        return value.lower()

    @field_validator("authority_url")
    @classmethod
    def _authority_url(cls, value: str) -> str:
        if not re.fullmatch(r"https://[^\s/]+(/\S*)?", value):
            raise custom_error(f"{yamlfile.quote(value)} is not an https address",
                          "write the sign-in host as https://…, e.g. https://login.microsoftonline.com")
        return value

    @property
    def authority(self) -> str:
        return f"{self.authority_url.rstrip('/')}/{self.tenant}"


class ApprovalPolicy(Strict):
    """Who approves: the steering group's members, and the chair, who may approve alone."""

    title: str = "Styregruppen"
    template: str = Field(default="approval_request.html.j2", description="Template of the approval request.")
    channel: Name | None = Field(default=None, description="Channel that carries approval requests (mail).")
    members: list[Member] = Field(min_length=1)
    chair: PersonName = Field(description="Name of the member who chairs the group.")
    chair_may_approve_alone: bool = True
    members_required: int = Field(default=2, ge=1, description="Members needed when the chair does not approve.")
    web_url: str | None = Field(default=None, description="Base URL of the approval page (`budbringer web`); "
                                                          "$BUDBRINGER_WEB_URL overrides it.")
    sign_in: SignIn | None = Field(default=None, description="Entra ID sign-in on the approval pages.")
    web_secret_block: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = Field(
        default=None, description="Name of a Prefect Secret block holding the secret that signs the approval "
                                  "links; $BUDBRINGER_WEB_SECRET wins over it.")
    late_decisions: Literal["accept", "refuse"] = Field(
        default="accept", description="A decision given after the approval deadline: accept (recorded and marked "
                                      "late in the run's report and `status`; the links work until the meeting) "
                                      "or refuse (the links expire at the deadline; the page, `budbringer "
                                      "approve` and the Prefect form all refuse it).")

    def member(self, name: str) -> Member | None:
        wanted = name.strip().casefold()
        return next((m for m in self.members if m.name.casefold() == wanted or m.email.casefold() == wanted), None)
