"""E-mail, the fallback channel: one message per notification over SMTP (smtplib).

SMTP's reply codes say what to do (RFC 5321 4.2.1): 4xx is a transient failure (retry),
5xx a permanent one (the dead letters, with the server's words). A connection that fails or
drops is retried. A refused login (535) or a server without the STARTTLS we were told to use is
our configuration, not the message: retried and logged, never dead-lettered.

SMTP has no retry key: a crash after the server took the message and before the outbox said so
sends it again. The ``Message-ID`` is derived from the notification's retry key, so both copies
carry the same id and mail clients that collapse duplicates show one.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from notify.notification import Notification
from notify.sending import Outcome, Refused, Retry, Sent
from notify.settings import SmtpSettings

log = logging.getLogger(__name__)


def build_message(notification: Notification, sender: str, retry_key: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.address
    message["Subject"] = notification.title
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{retry_key}@isanfarm.notify>"
    message.set_content(notification.text)
    return message


def classify_reply(code: int, text: str) -> Outcome:
    """What an SMTP error reply means for this message."""
    if 400 <= code < 500:
        return Retry(f"SMTP {code}: {text}")
    if 500 <= code < 600:
        return Refused(f"SMTP {code}: {text}")
    return Retry(f"SMTP {code} (unexpected): {text}")


def _reply_text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


class EmailSender:
    """One SMTP session per message: e-mail is the fallback, rare enough not to pool."""

    def __init__(self, settings: SmtpSettings) -> None:
        if settings.host is None:
            raise ValueError("smtp.host is not set: put the mail server in ISANFARM_SMTP_HOST")
        self._settings = settings

    def send(self, notification: Notification, retry_key: str) -> Outcome:
        s = self._settings
        message = build_message(notification, s.sender, retry_key)
        try:
            with smtplib.SMTP(str(s.host), s.port, timeout=s.timeout_s) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    password = s.password.get_secret_value() if s.password else ""
                    smtp.login(s.username, password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (550, b"recipient refused"))
            return classify_reply(code, _reply_text(reply))
        except smtplib.SMTPAuthenticationError as exc:
            reason = f"SMTP login refused ({exc.smtp_code}): check ISANFARM_SMTP_USERNAME/PASSWORD"
            log.error(reason)
            return Retry(reason, misconfigured=True)
        except smtplib.SMTPNotSupportedError as exc:
            reason = f"SMTP server cannot do that ({exc}): check ISANFARM_SMTP_STARTTLS"
            log.error(reason)
            return Retry(reason, misconfigured=True)
        except smtplib.SMTPResponseException as exc:
            return classify_reply(exc.smtp_code, _reply_text(exc.smtp_error))
        except (smtplib.SMTPException, OSError) as exc:
            return Retry(f"SMTP server unreachable ({type(exc).__name__}: {exc})")
        return Sent()

    def close(self) -> None:
        """Nothing held between messages."""
