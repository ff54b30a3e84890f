"""Gavel's Python SDK: a participant's session (`CallClient`, signalling only: no audio or video
of its own), its event handlers in Daily's and VideoSDK's shapes, host actions, the server API
(`ServerApi`) and access tokens (`create_token`)."""

from .client import CallClient
from .errors import GavelError
from .handlers import EventHandler, MeetingEventHandler, ParticipantEventHandler
from .participant import Participant, Stream
from .server_api import ServerApi
from .tokens import create_token

__all__ = [
    "CallClient",
    "EventHandler",
    "GavelError",
    "MeetingEventHandler",
    "Participant",
    "ParticipantEventHandler",
    "ServerApi",
    "Stream",
    "create_token",
]
