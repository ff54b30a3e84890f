"""Verifies Gavel's webhooks with LiveKit's own WebhookReceiver (livekit-api).

Usage: verify_webhooks.py DIR — DIR holds NNN.body / NNN.auth pairs (a body and its
Authorization header, as a receiver got them). Every pair must verify with the key and secret
in GAVEL_KEY / GAVEL_SECRET and parse as a WebhookEvent; a tampered body must not verify; the
set must hold ann's join and leave in room `py`.
"""

import os
import pathlib
import sys

from livekit import api

verifier = api.TokenVerifier(os.environ["GAVEL_KEY"], os.environ["GAVEL_SECRET"])
receiver = api.WebhookReceiver(verifier)

seen = []
for body_path in sorted(pathlib.Path(sys.argv[1]).glob("*.body")):
    body = body_path.read_text()
    auth = body_path.with_suffix(".auth").read_text()
    event = receiver.receive(body, auth)
    assert event.id.startswith("EV_"), event
    assert event.room.name == "py", event
    seen.append((event.event, event.participant.identity))
    try:
        receiver.receive(body.replace('"py"', '"px"'), auth)
    except Exception:
        pass
    else:
        raise AssertionError("a tampered body verified")

print(seen)
assert ("room_started", "") in seen, seen
assert ("participant_joined", "ann") in seen, seen
assert ("participant_left", "ann") in seen, seen
