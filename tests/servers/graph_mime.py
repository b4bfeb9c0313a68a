"""sendMail in MIME form, as Graph documents it ("Send Outlook messages in MIME format", user: sendMail):
`Content-Type: text/plain` and the whole MIME message, base64-encoded, as the request body. Graph answers a body
that is not base64 with 400 "Invalid base64 string for MIME content." and keeps the message's own Message-ID as
its `internetMessageId`, which the mailbox lookup then filters on (`$filter=internetMessageId eq '…'`)."""

from __future__ import annotations

import binascii
import email
import email.policy
import email.utils
import re
from base64 import b64decode
from email.message import EmailMessage
from typing import Any

BY_MESSAGE_ID = re.compile(r"^internetMessageId eq '((?:[^']|'')*)'$")


class MimeRefused(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_mime_request(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "text/plain"


def parse(body: bytes) -> tuple[dict[str, Any], str, EmailMessage]:
    """The sendMail MIME body → (the message as Graph's JSON would have it, its Message-ID, the parsed mail)."""
    try:
        raw = b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise MimeRefused("ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.") from None
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    if not mail["Subject"] and not mail["To"]:
        raise MimeRefused("ErrorMimeContentConversionFailed", "The MIME content could not be converted.")
    html = mail.get_body(preferencelist=("html",))
    plain = mail.get_body(preferencelist=("plain",))
    shown = html or plain
    message = {
        "subject": str(mail["Subject"] or ""),
        "toRecipients": [{"emailAddress": {"address": address}}
                         for _, address in email.utils.getaddresses([str(v) for v in mail.get_all("To", [])])],
        "body": {"contentType": "HTML" if html else "Text", "content": shown.get_content() if shown else ""},
        "internetMessageHeaders": [{"name": k, "value": str(v)} for k, v in mail.items()
                                   if k.lower().startswith("x-")],
    }
    return message, str(mail["Message-ID"] or ""), mail


def request_text(request: Any) -> str:
    """A sendMail request's message as text, whichever form it came in: the decoded MIME, or the JSON."""
    if is_mime_request(request.header("Content-Type")):
        return b64decode(request.body).decode("utf-8", "replace")
    return request.body.decode("utf-8", "replace")
