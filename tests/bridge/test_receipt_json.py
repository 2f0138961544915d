"""The inbound receipt built without the model is the model's own JSON, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gateway.bridge.models import InboundMessage, InboundReceipt, ReceiptStatus, inbound_receipt_json
from gateway.disclosure.document import canonical_json

_ids = st.from_regex(r"[A-Za-z0-9._:-]{1,40}", fullmatch=True)
_text = st.text(min_size=1, max_size=40)
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda t: t.replace(tzinfo=UTC, microsecond=0)
)


@given(
    message_id=_ids,
    sender=_text,
    business_id=st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    status=st.sampled_from(["delivered", "disclosure_stale", "rejected"]),
    reason=st.none() | _text,
    revision=st.integers(min_value=1, max_value=2**40),
    key_id=_text,
    at=_times,
)
def test_matches_the_model(
    message_id: str,
    sender: str,
    business_id: str,
    status: ReceiptStatus,
    reason: str | None,
    revision: int,
    key_id: str,
    at: datetime,
) -> None:
    """Whatever the values (unicode, no microseconds, any year), the bytes are the model's."""
    message = InboundMessage(
        message_id=message_id,
        sender=sender,
        business_id=business_id,
        key_id="k",
        sealed=b"x",
        sent_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    model = InboundReceipt(
        message_id=message_id,
        business_id=business_id,
        sender=sender,
        status=status,
        reason=reason,
        current_revision=revision,
        current_key_id=key_id,
        at=at,
    )
    built = inbound_receipt_json(
        message,
        status,
        revision=revision,
        key_id=key_id,
        reason=reason,
        at=at,
    )
    assert built == canonical_json(model.model_dump(mode="json"))
    assert InboundReceipt.model_validate_json(built) == model
