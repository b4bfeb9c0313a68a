"""Building the e-mail for a delivery: a pure function shared by the outbox (`.eml` files) and SMTP.

Kept apart from any connection, as Apprise's email plugin keeps `prepare_emails` apart from sending: the
same message a person opens from the outbox is the one an SMTP relay receives. Every mail carries the
delivery key in `X-Budbringer-Delivery`, so that it can be traced back to its ledger row.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
from email.message import EmailMessage

from budbringer.delivery import Delivery

HEADER = "X-Budbringer-Delivery"


def stable_message_id(delivery: Delivery, domain: str) -> str:
    """A Message-ID derived from the delivery key: a repeated send carries the same id, so mail programs
    that drop duplicates by Message-ID show it once."""
    return f"<budbringer-{delivery.short_key}@{domain}>"


def build_mail(delivery: Delivery, sender: str, *, sent_at: dt.datetime, message_id: str,
               recipients: tuple[str, ...] | None = None) -> EmailMessage:
    """The e-mail for one delivery: From, To (the variant's recipients unless given), Subject, Date,
    Message-ID, the delivery header and the body as HTML or plain text; an HTML body with a written text
    (`Variant.text`: the notices) as multipart/alternative. No I/O."""
    variant = delivery.variant
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = sender
    mail["To"] = ", ".join(variant.recipients if recipients is None else recipients)
    mail["Subject"] = variant.subject
    mail["Date"] = email.utils.format_datetime(sent_at.astimezone(dt.UTC))
    mail["Message-ID"] = message_id
    mail[HEADER] = delivery.key
    if variant.body_format == "html" and variant.text:
        # multipart/alternative: the written text first, the HTML last (the part a mail program prefers)
        mail.set_content(variant.text, subtype="plain")
        mail.add_alternative(variant.body, subtype="html")
    else:
        mail.set_content(variant.body, subtype="html" if variant.body_format == "html" else "plain")
    return mail


def domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "budbringer.local"
