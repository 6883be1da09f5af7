"""The email a person or team gets when an admin makes them a Defender Experts contact."""

from __future__ import annotations

from html import escape

from bot.mail.ports import MailMessage
from bot.onboarding.model import Contact, Purpose
from cards.text import phone as phone_text

SERVICE = "Microsoft Defender Experts for XDR"

_MEANING = {
    Purpose.INCIDENT: (
        "Defender Experts will notify you about managed response actions and anything about an "
        "ongoing incident that needs an immediate response. Because these messages are urgent, "
        "please make sure you (or your team) can always be reached."
    ),
    Purpose.SERVICE_REVIEW: (
        "The Defender Experts service delivery team will engage with you for ongoing security "
        "briefings and service reviews, and may contact you with occasional queries and "
        "recommendations."
    ),
}


def contact_added(contact: Contact, added_by: str, *, message_id: str) -> MailMessage:
    """Tell a new contact what they were made a contact for, and what that means."""
    purpose = contact.purpose.label.lower()
    who = added_by.strip() or "An administrator"
    if contact.kind == "group":
        subject = f"Your team is now a Defender Experts contact for {purpose}"
        opening = (
            f"{who} added your team, {contact.name}, as a contact for {purpose} in the "
            f"{SERVICE} settings of your organization."
        )
    else:
        subject = f"You're now a Defender Experts contact for {purpose}"
        opening = (
            f"{who} added you as a contact for {purpose} in the {SERVICE} settings of your "
            "organization."
        )
    meaning = _MEANING[contact.purpose]
    phone = (
        f"Defender Experts may also call {phone_text(contact.phone)} for matters that need "
        "immediate attention."
        if contact.phone
        else ""
    )
    closing = (
        "You don't need to do anything now. If you think this is a mistake, ask your Global or "
        "Security Administrator to change the contacts in Settings > Defender Experts > "
        "Notification contacts."
    )
    greeting = f"Hello {contact.name},"
    text = "\n\n".join(
        p for p in (greeting, opening, f"What this means: {meaning}", phone, closing) if p
    )
    paragraphs = [
        f"<p>{escape(greeting)}</p>",
        f"<p>{escape(opening)}</p>",
        f"<p><strong>What this means:</strong> {escape(meaning)}</p>",
        f"<p>{escape(phone)}</p>" if phone else "",
        f"<p>{escape(closing)}</p>",
        f'<p style="color:#605e5c">{escape(SERVICE)}</p>',
    ]
    html = (
        '<html><body style="font-family:Segoe UI,Helvetica,Arial,sans-serif">'
        + "".join(p for p in paragraphs if p)
        + "</body></html>"
    )
    return MailMessage(
        message_id=message_id,
        to=(contact.mail,),
        names=(contact.name,),
        subject=subject,
        text=text + f"\n\n{SERVICE}\n",
        html=html,
    )
