"""The forum fields the built-in channels share (`Adapter.Addressing`): mail recipients, SharePoint sites and a
newsletter's editor and issues. A channel declares the ones it takes by naming one of these classes, or a model
of its own (docs/adding-a-channel.md); combined classes answer through `super()`, so the outbox, which stands in
for every channel, takes them all."""

from __future__ import annotations

from pydantic import Field

from budbringer.channel import ForumAddressing
from budbringer.plan import Email, Newsletter


class MailRecipients(ForumAddressing):
    recipients: list[Email] = Field(default=[], description="The forum's mail addresses (mail forums).")

    def mail_to(self) -> tuple[str, ...]:
        return tuple(self.recipients) or super().mail_to()

    def missing(self, medium: str) -> list[tuple[str, str, str]]:
        lacks = [("recipients", "a mail forum has no recipients", "list its addresses")]
        return super().missing(medium) + (lacks if medium == "mail" and not self.recipients else [])


class PageSites(ForumAddressing):
    sites: list[str] = Field(default=[], description="SharePoint sites as 'host/sites/name' (pages only).")

    def page_sites(self) -> tuple[str, ...]:
        return tuple(self.sites) or super().page_sites()

    def missing(self, medium: str) -> list[tuple[str, str, str]]:
        lacks = [("sites", "a page forum has no sites", "list its sites as host/sites/name")]
        return super().missing(medium) + (lacks if medium == "page" and not self.sites else [])


class NewsletterEditor(ForumAddressing):
    newsletter: Newsletter | None = Field(default=None, description="The newsletter's editor, word limit and "
                                                                    "issues (submission forums).")

    def mail_to(self) -> tuple[str, ...]:
        return (self.newsletter.editor,) if self.newsletter else super().mail_to()

    def missing(self, medium: str) -> list[tuple[str, str, str]]:
        lacks = [("newsletter", "a newsletter forum has no newsletter settings",
                  "add `newsletter:` with editor, word_limit and issues")]
        return super().missing(medium) + (lacks if medium == "submission" and self.newsletter is None else [])


class MailOrNewsletter(MailRecipients, NewsletterEditor):
    """A mail channel: recipients, or a newsletter's editor for a submission sent as mail."""


class EveryField(MailRecipients, PageSites, NewsletterEditor):
    """Every built-in field: the outbox and the memory channel stand in for any channel."""
