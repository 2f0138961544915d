"""The outbound message built without the model is the model's own JSON, byte for byte."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gateway.bridge.models import OutboundMessage, outbound_message_json
from gateway.disclosure.document import canonical_json

_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda t: t.replace(tzinfo=UTC, microsecond=0)
)


@given(
    message_id=st.from_regex(r"[A-Za-z0-9._:-]{1,40}", fullmatch=True),
    business_id=st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    recipient=st.text(min_size=1, max_size=40),
    payload=st.binary(min_size=1, max_size=64).map(lambda b: base64.b64encode(b).decode()),
    content_type=st.from_regex(r"[A-Za-z0-9_.+-]{1,20}/[A-Za-z0-9_.+-]{1,20}", fullmatch=True),
    revision=st.integers(min_value=1, max_value=2**40),
    sent_at=_times,
)
def test_matches_the_model(
    message_id: str,
    business_id: str,
    recipient: str,
    payload: str,
    content_type: str,
    revision: int,
    sent_at: datetime,
) -> None:
    """Whatever the values (unicode recipients, no microseconds, any year), the bytes are the model's."""
    model = OutboundMessage(
        message_id=message_id,
        business_id=business_id,
        recipient=recipient,
        payload=payload,
        content_type=content_type,
        revision=revision,
        sent_at=sent_at,
    )
    built = outbound_message_json(
        message_id=message_id,
        business_id=business_id,
        recipient=recipient,
        payload=payload,
        content_type=content_type,
        revision=revision,
        sent_at=sent_at,
    )
    assert built == canonical_json(model.model_dump(mode="json"))
    assert OutboundMessage.model_validate_json(built) == model
