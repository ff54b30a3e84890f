"""AWS's own Python SDK (boto3's `chime-sdk-meetings` client) against a live Gavel: every served
operation, each validation rule of seed 004 (update_attendee_capabilities) with the exception
class boto3 raises, and a live attendee (a native WebSocket client joined with its JoinToken)
whose capabilities are lowered and who is deleted. See docs/compat-chime.md."""

import asyncio
import datetime
import json
import re
import uuid
from unittest import mock

import boto3
import botocore.auth
import pytest
import websockets
from botocore.config import Config
from botocore.exceptions import ParamValidationError

from gavel_native import HTTP, KEY, SECRET, WS, Participant, native_token

GUID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")


def client(key=KEY, secret=SECRET, region="us-east-1", validate=True):
    return boto3.client(
        "chime-sdk-meetings",
        endpoint_url=HTTP,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
    )


@pytest.fixture(scope="module")
def chime():
    return client()


def caps(audio="SendReceive", video="SendReceive", content="SendReceive"):
    return {"Audio": audio, "Video": video, "Content": content}


ALL = caps()


def new_meeting(chime, video=None, content=None, max_count=None):
    features = {}
    if video:
        features["Video"] = {"MaxResolution": video}
    if content:
        features["Content"] = {"MaxResolution": content}
    if max_count:
        features["Attendee"] = {"MaxCount": max_count}
    return chime.create_meeting(
        ClientRequestToken=str(uuid.uuid4()),
        MediaRegion="eu-west-1",
        ExternalMeetingId=f"standup {uuid.uuid4().hex[:8]}",
        MeetingFeatures=features,
    )["Meeting"]


def raises(chime, exception, call, **kwargs):
    """Asserts that the call raises the modeled exception `exception` (by class)."""
    with pytest.raises(getattr(chime.exceptions, exception)) as info:
        getattr(chime, call)(**kwargs)
    error = info.value.response["Error"]
    assert error["Code"] == exception
    assert error["Message"]
    assert info.value.response["ResponseMetadata"]["RequestId"]
    return info.value


# ----- meetings -----


def test_meeting_lifecycle(chime):
    token = str(uuid.uuid4())
    request = dict(
        ClientRequestToken=token,
        MediaRegion="us-east-1",
        ExternalMeetingId="Weekly «sync» #1",
        MeetingHostId="host-user",
        TenantIds=["tenant-1"],
        Tags=[{"Key": "team", "Value": "blue"}],
        NotificationsConfiguration={"SnsTopicArn": "arn:aws:sns:us-east-1:1:topic"},
        MeetingFeatures={"Audio": {"EchoReduction": "AVAILABLE"}, "Attendee": {"MaxCount": 50}},
    )
    meeting = chime.create_meeting(**request)["Meeting"]
    mid = meeting["MeetingId"]
    assert GUID.match(mid)
    assert meeting["ExternalMeetingId"] == "Weekly «sync» #1"
    assert meeting["MediaRegion"] == "us-east-1"
    assert meeting["MeetingHostId"] == "host-user"
    assert meeting["TenantIds"] == ["tenant-1"]
    assert meeting["MeetingArn"].startswith("arn:aws:chime:us-east-1:") and mid in meeting["MeetingArn"]
    assert meeting["MeetingFeatures"] == {
        "Audio": {"EchoReduction": "AVAILABLE"},
        "Video": {"MaxResolution": "HD"},
        "Content": {"MaxResolution": "FHD"},
        "Attendee": {"MaxCount": 50},
    }
    assert meeting["MediaPlacement"]["SignalingUrl"].endswith("/v1/rtc")
    assert chime.get_meeting(MeetingId=mid)["Meeting"] == meeting
    assert chime.get_meeting(MeetingId=mid.upper())["Meeting"]["MeetingId"] == mid

    # ClientRequestToken is an idempotency token: a retry gets the same meeting; the same token
    # for a different request is a conflict.
    assert chime.create_meeting(**request)["Meeting"]["MeetingId"] == mid
    raises(chime, "ConflictException", "create_meeting", **{**request, "ExternalMeetingId": "other"})

    chime.delete_meeting(MeetingId=mid)
    raises(chime, "NotFoundException", "get_meeting", MeetingId=mid)
    raises(chime, "NotFoundException", "delete_meeting", MeetingId=mid)
    raises(chime, "NotFoundException", "create_attendee", MeetingId=mid, ExternalUserId="late")


def test_meeting_validation(chime):
    base = dict(ClientRequestToken=str(uuid.uuid4()), MediaRegion="us-east-1", ExternalMeetingId="ok")
    for bad in [
        {"ExternalMeetingId": "aws:reserved"},
        {"ExternalMeetingId": "AWS:Reserved"},
        {"ExternalMeetingId": "semi;colon"},
        {"MediaRegion": "mars-north"},
        {"MeetingHostId": "aws:host"},
        {"ClientRequestToken": "spaces are not allowed"},
        {"TenantIds": ["aaaa"]},
        {"Tags": [{"Key": "bad key!", "Value": "v"}]},
        {"NotificationsConfiguration": {"SqsQueueArn": "not-an-arn"}},
        # FHD video and UHD content need an explicit MaxCount of at most 25.
        {"MeetingFeatures": {"Video": {"MaxResolution": "FHD"}}},
        {"MeetingFeatures": {"Content": {"MaxResolution": "UHD"}, "Attendee": {"MaxCount": 26}}},
    ]:
        raises(chime, "BadRequestException", "create_meeting", **{**base, **bad})
    fhd = chime.create_meeting(
        **{**base, "MeetingFeatures": {"Video": {"MaxResolution": "FHD"}, "Attendee": {"MaxCount": 25}}}
    )["Meeting"]
    assert fhd["MeetingFeatures"]["Video"] == {"MaxResolution": "FHD"}
    raises(chime, "BadRequestException", "get_meeting", MeetingId="not-a-guid")
    raises(chime, "NotFoundException", "get_meeting", MeetingId=str(uuid.uuid4()))
    # Lengths are checked by the server too (botocore checks them first unless told not to).
    lax = client(validate=False)
    raises(lax, "BadRequestException", "create_meeting", **{**base, "ExternalMeetingId": "x"})
    raises(lax, "BadRequestException", "create_meeting", **{**base, "MeetingFeatures": {"Attendee": {"MaxCount": 0}}})
    chime.delete_meeting(MeetingId=fhd["MeetingId"])


def test_create_meeting_with_attendees(chime):
    r = chime.create_meeting_with_attendees(
        ClientRequestToken=str(uuid.uuid4()),
        MediaRegion="us-west-2",
        ExternalMeetingId="with attendees",
        MeetingFeatures={"Video": {"MaxResolution": "None"}},
        Attendees=[
            {"ExternalUserId": "alice"},
            {"ExternalUserId": "bob", "Capabilities": caps("Receive", "None", "None")},
            {"ExternalUserId": "aws:carol"},
            # The meeting has no video: Video Receive is refused for this attendee alone.
            {"ExternalUserId": "dave", "Capabilities": caps("SendReceive", "Receive", "None")},
        ],
    )
    mid = r["Meeting"]["MeetingId"]
    assert r["Meeting"]["MeetingFeatures"]["Video"] == {"MaxResolution": "None"}
    by_user = {a["ExternalUserId"]: a for a in r["Attendees"]}
    assert set(by_user) == {"alice", "bob"}
    # Seed 004: no video but content → default Video Receive, Content SendReceive.
    assert by_user["alice"]["Capabilities"] == caps("SendReceive", "Receive", "SendReceive")
    assert by_user["bob"]["Capabilities"] == caps("Receive", "None", "None")
    errors = {e["ExternalUserId"]: e for e in r["Errors"]}
    assert set(errors) == {"aws:carol", "dave"}
    assert all(e["ErrorCode"] == "BadRequest" and e["ErrorMessage"] for e in errors.values())
    listed = chime.list_attendees(MeetingId=mid)["Attendees"]
    assert {a["ExternalUserId"] for a in listed} == {"alice", "bob"}
    chime.delete_meeting(MeetingId=mid)


# ----- attendees -----


def test_attendee_operations(chime):
    mid = new_meeting(chime)["MeetingId"]
    a = chime.create_attendee(MeetingId=mid, ExternalUserId="user-1")["Attendee"]
    assert GUID.match(a["AttendeeId"])
    assert a["ExternalUserId"] == "user-1"
    assert a["Capabilities"] == ALL, "all SendReceive by default"
    assert a["JoinToken"]
    # ExternalUserId is an idempotency token within the meeting.
    again = chime.create_attendee(MeetingId=mid, ExternalUserId="user-1")["Attendee"]
    assert again == a
    assert chime.get_attendee(MeetingId=mid, AttendeeId=a["AttendeeId"])["Attendee"] == a

    batch = chime.batch_create_attendee(
        MeetingId=mid,
        Attendees=[
            {"ExternalUserId": f"user-{i}", "Capabilities": caps("SendReceive", "Receive", "None")}
            for i in range(2, 7)
        ]
        + [{"ExternalUserId": "aws:nope"}, {"ExternalUserId": "bad*char"}],
    )
    assert [x["ExternalUserId"] for x in batch["Attendees"]] == [f"user-{i}" for i in range(2, 7)]
    assert all(x["Capabilities"] == caps("SendReceive", "Receive", "None") for x in batch["Attendees"])
    assert sorted(e["ExternalUserId"] for e in batch["Errors"]) == ["aws:nope", "bad*char"]

    # Paging: max-results and next-token.
    seen, token = [], None
    while True:
        kwargs = {"MeetingId": mid, "MaxResults": 2}
        if token:
            kwargs["NextToken"] = token
        page = chime.list_attendees(**kwargs)
        assert len(page["Attendees"]) <= 2
        seen += [x["ExternalUserId"] for x in page["Attendees"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == [f"user-{i}" for i in range(1, 7)]
    raises(chime, "BadRequestException", "list_attendees", MeetingId=mid, NextToken="garbage")
    raises(client(validate=False), "BadRequestException", "list_attendees", MeetingId=mid, MaxResults=101)

    chime.delete_attendee(MeetingId=mid, AttendeeId=a["AttendeeId"])
    raises(chime, "NotFoundException", "get_attendee", MeetingId=mid, AttendeeId=a["AttendeeId"])
    raises(chime, "NotFoundException", "delete_attendee", MeetingId=mid, AttendeeId=a["AttendeeId"])
    raises(chime, "BadRequestException", "get_attendee", MeetingId=mid, AttendeeId="nope")
    assert "user-1" not in [x["ExternalUserId"] for x in chime.list_attendees(MeetingId=mid)["Attendees"]]
    # A deleted attendee's ExternalUserId can be used again, for a new attendee.
    fresh = chime.create_attendee(MeetingId=mid, ExternalUserId="user-1")["Attendee"]
    assert fresh["AttendeeId"] != a["AttendeeId"]
    chime.delete_meeting(MeetingId=mid)


def test_external_user_id_rules(chime):
    mid = new_meeting(chime)["MeetingId"]
    for bad in ["aws:x1", "AWS:x1", "Aws:x1", "a*b", "tab;semi"]:
        raises(chime, "BadRequestException", "create_attendee", MeetingId=mid, ExternalUserId=bad)
    # botocore checks the length before sending; the server checks it too.
    with pytest.raises(ParamValidationError):
        chime.create_attendee(MeetingId=mid, ExternalUserId="x")
    lax = client(validate=False)
    for bad in ["x", "y" * 65]:
        raises(lax, "BadRequestException", "create_attendee", MeetingId=mid, ExternalUserId=bad)
    raises(lax, "BadRequestException", "create_attendee", MeetingId=mid)
    for ok in ["Zoë «x» [1]/{2}|'\"#", "a" * 64, "with space", "user@example.com"]:
        assert chime.create_attendee(MeetingId=mid, ExternalUserId=ok)["Attendee"]["ExternalUserId"] == ok
    chime.delete_meeting(MeetingId=mid)


def test_attendee_limit(chime):
    mid = new_meeting(chime, max_count=2)["MeetingId"]
    chime.create_attendee(MeetingId=mid, ExternalUserId="one")
    chime.create_attendee(MeetingId=mid, ExternalUserId="two")
    raises(chime, "LimitExceededException", "create_attendee", MeetingId=mid, ExternalUserId="three")
    # An existing attendee is still returned (idempotent), and batches report the limit per item.
    assert chime.create_attendee(MeetingId=mid, ExternalUserId="two")["Attendee"]["ExternalUserId"] == "two"
    r = chime.batch_create_attendee(MeetingId=mid, Attendees=[{"ExternalUserId": "three"}])
    assert r["Attendees"] == [] and r["Errors"][0]["ErrorCode"] == "ResourceLimitExceeded"
    chime.delete_meeting(MeetingId=mid)


# ----- seed 004: capabilities -----


def test_seed_004_video_none_rejects_video_capabilities(chime):
    mid = new_meeting(chime, video="None")["MeetingId"]
    for v in ["SendReceive", "Send", "Receive"]:
        raises(chime, "BadRequestException", "create_attendee", MeetingId=mid, ExternalUserId=f"v-{v}",
               Capabilities=caps("SendReceive", v, "None"))
    a = chime.create_attendee(MeetingId=mid, ExternalUserId="ok", Capabilities=caps("SendReceive", "None", "Send"))
    aid = a["Attendee"]["AttendeeId"]
    for v in ["SendReceive", "Send", "Receive"]:
        raises(chime, "BadRequestException", "update_attendee_capabilities", MeetingId=mid, AttendeeId=aid,
               Capabilities=caps("SendReceive", v, "None"))
        raises(chime, "BadRequestException", "batch_update_attendee_capabilities_except", MeetingId=mid,
               ExcludedAttendeeIds=[{"AttendeeId": aid}], Capabilities=caps("SendReceive", v, "None"))
    # Refused updates changed nothing.
    assert chime.get_attendee(MeetingId=mid, AttendeeId=aid)["Attendee"]["Capabilities"] == caps(
        "SendReceive", "None", "Send")
    # Defaults when Video is None and Content is not: Video Receive, Content SendReceive.
    d = chime.create_attendee(MeetingId=mid, ExternalUserId="defaults")["Attendee"]
    assert d["Capabilities"] == caps("SendReceive", "Receive", "SendReceive")
    chime.delete_meeting(MeetingId=mid)


def test_seed_004_content_none_rejects_content_capabilities(chime):
    mid = new_meeting(chime, content="None")["MeetingId"]
    for c in ["SendReceive", "Send", "Receive"]:
        raises(chime, "BadRequestException", "create_attendee", MeetingId=mid, ExternalUserId=f"c-{c}",
               Capabilities=caps("SendReceive", "SendReceive", c))
    d = chime.create_attendee(MeetingId=mid, ExternalUserId="defaults")["Attendee"]
    assert d["Capabilities"] == caps("SendReceive", "SendReceive", "None")
    for c in ["SendReceive", "Send", "Receive"]:
        raises(chime, "BadRequestException", "update_attendee_capabilities", MeetingId=mid,
               AttendeeId=d["AttendeeId"], Capabilities=caps("None", "Receive", c))
    # Both None: the defaults give audio only.
    both = new_meeting(chime, video="None", content="None")["MeetingId"]
    only_audio = chime.create_attendee(MeetingId=both, ExternalUserId="audio")["Attendee"]
    assert only_audio["Capabilities"] == caps("SendReceive", "None", "None")
    chime.delete_meeting(MeetingId=mid)
    chime.delete_meeting(MeetingId=both)


def test_seed_004_content_receive_needs_video_receive(chime):
    mid = new_meeting(chime)["MeetingId"]
    aid = chime.create_attendee(MeetingId=mid, ExternalUserId="user")["Attendee"]["AttendeeId"]
    for video, content in [("Send", "SendReceive"), ("Send", "Receive"), ("None", "SendReceive"), ("None", "Receive")]:
        raises(chime, "BadRequestException", "update_attendee_capabilities", MeetingId=mid, AttendeeId=aid,
               Capabilities=caps("SendReceive", video, content))
        raises(chime, "BadRequestException", "create_attendee", MeetingId=mid, ExternalUserId=f"{video}-{content}",
               Capabilities=caps("SendReceive", video, content))
    # Video receiving with content not receiving is fine, and so is content that only sends.
    for video, content in [("Receive", "None"), ("Receive", "Send"), ("SendReceive", "Receive"), ("None", "Send")]:
        r = chime.update_attendee_capabilities(MeetingId=mid, AttendeeId=aid,
                                               Capabilities=caps("Receive", video, content))
        assert r["Attendee"]["Capabilities"] == caps("Receive", video, content)
        assert r["Attendee"]["AttendeeId"] == aid
    raises(chime, "NotFoundException", "update_attendee_capabilities", MeetingId=mid,
           AttendeeId=str(uuid.uuid4()), Capabilities=ALL)
    with pytest.raises(ParamValidationError):
        chime.update_attendee_capabilities(MeetingId=mid, AttendeeId=aid, Capabilities={"Audio": "None"})
    raises(client(validate=False), "BadRequestException", "update_attendee_capabilities", MeetingId=mid,
           AttendeeId=aid, Capabilities={"Audio": "None"})
    raises(client(validate=False), "BadRequestException", "update_attendee_capabilities", MeetingId=mid,
           AttendeeId=aid, Capabilities=caps("Loud"))
    chime.delete_meeting(MeetingId=mid)


def test_batch_update_capabilities_except(chime):
    mid = new_meeting(chime)["MeetingId"]
    ids = [chime.create_attendee(MeetingId=mid, ExternalUserId=f"u{i}")["Attendee"]["AttendeeId"] for i in range(4)]
    chime.batch_update_attendee_capabilities_except(
        MeetingId=mid,
        ExcludedAttendeeIds=[{"AttendeeId": ids[0]}, {"AttendeeId": str(uuid.uuid4())}],
        Capabilities=caps("Receive", "Receive", "None"),
    )
    got = {a["AttendeeId"]: a["Capabilities"] for a in chime.list_attendees(MeetingId=mid)["Attendees"]}
    assert got[ids[0]] == ALL
    assert all(got[i] == caps("Receive", "Receive", "None") for i in ids[1:])
    raises(chime, "BadRequestException", "batch_update_attendee_capabilities_except", MeetingId=mid,
           ExcludedAttendeeIds=[{"AttendeeId": "not-a-guid"}], Capabilities=ALL)
    raises(chime, "NotFoundException", "batch_update_attendee_capabilities_except", MeetingId=str(uuid.uuid4()),
           ExcludedAttendeeIds=[{"AttendeeId": ids[0]}], Capabilities=ALL)
    chime.delete_meeting(MeetingId=mid)


# ----- a live attendee -----


async def assert_token_void(token):
    """The join is refused in-band (`unauthenticated`) and the socket closes (1008)."""
    async with websockets.connect(f"{WS}/v1/rtc?access_token={token}") as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert first["type"] == "error" and first["error"]["code"] == "unauthenticated", first
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 1008


async def live_attendee(chime):
    mid = new_meeting(chime)["MeetingId"]
    host = await Participant.connect(native_token(mid, "host", role="host"))
    created = chime.create_attendee(MeetingId=mid, ExternalUserId="live-user")["Attendee"]
    aid = created["AttendeeId"]
    other = chime.create_attendee(MeetingId=mid, ExternalUserId="other-user")["Attendee"]

    # The JoinToken joins the native WebSocket as the attendee.
    att = await Participant.connect(created["JoinToken"])
    me = att.joined["self"]
    assert me["identity"] == aid
    assert me["name"] == "live-user"
    assert me["attributes"] == {"chime.external_user_id": "live-user"}
    assert sorted(me["permissions"]["can_send"]) == ["camera", "microphone", "screen_audio", "screen_video"]
    await host.wait_for("participant_joined")
    sids = {}
    for source in ["microphone", "camera", "screen_video"]:
        r = await att.request("publish_track", source=source)
        assert r["ok"], r
        sids[source] = r["track"]["sid"]

    # Lowering Send unpublishes that kind live; the attendee is told.
    r = chime.update_attendee_capabilities(MeetingId=mid, AttendeeId=aid,
                                           Capabilities=caps("Receive", "SendReceive", "None"))
    assert r["Attendee"]["Capabilities"] == caps("Receive", "SendReceive", "None")
    for who in [att, host]:
        for source in ["microphone", "screen_video"]:
            e = await who.wait_for("track_unpublished", track_sid=sids[source])
            assert e["reason"] == "permission" and e["identity"] == aid
    changed = await att.wait_for("permissions_changed")
    assert changed["permissions"]["can_send"] == ["camera"]
    assert sorted(changed["permissions"]["can_receive"]) == ["camera", "microphone"]
    assert changed["by"] == f"chime:{KEY}"
    refused = await att.request("publish_track", source="microphone")
    assert not refused["ok"] and refused["error"]["code"] == "permission_denied"
    assert chime.get_attendee(MeetingId=mid, AttendeeId=aid)["Attendee"]["Capabilities"] == caps(
        "Receive", "SendReceive", "None")

    # Raising it again lets the attendee publish again.
    chime.update_attendee_capabilities(MeetingId=mid, AttendeeId=aid, Capabilities=ALL)
    await att.wait_for("permissions_changed")
    assert (await att.request("publish_track", source="microphone"))["ok"]

    # Everyone but the excluded attendee: this one is lowered (camera off), the other is not.
    chime.batch_update_attendee_capabilities_except(
        MeetingId=mid, ExcludedAttendeeIds=[{"AttendeeId": other["AttendeeId"]}],
        Capabilities=caps("SendReceive", "Receive", "None"))
    e = await att.wait_for("track_unpublished", track_sid=sids["camera"])
    assert e["reason"] == "permission"
    assert (await att.wait_for("permissions_changed"))["permissions"]["can_send"] == ["microphone"]
    assert chime.get_attendee(MeetingId=mid, AttendeeId=other["AttendeeId"])["Attendee"]["Capabilities"] == ALL

    # The capabilities hold when the attendee joins again.
    await att.close()
    await host.wait_for("participant_left")
    att = await Participant.connect(created["JoinToken"])
    assert att.joined["self"]["permissions"]["can_send"] == ["microphone"]
    await host.wait_for("participant_joined")

    # DeleteAttendee disconnects it and voids its JoinToken.
    chime.delete_attendee(MeetingId=mid, AttendeeId=aid)
    left = await att.wait_for("room_left")
    assert left["reason"] == "kicked" and left["by"] == f"chime:{KEY}"
    assert (await host.wait_for("participant_left"))["identity"] == aid
    await assert_token_void(created["JoinToken"])

    # DeleteMeeting ends the session for everyone still in it.
    joined = await Participant.connect(other["JoinToken"])
    chime.delete_meeting(MeetingId=mid)
    for who in [host, joined]:
        assert (await who.wait_for("room_left"))["reason"] == "ended"
    await assert_token_void(other["JoinToken"])
    for p in [att, host, joined]:
        await p.close()


def test_live_attendee(chime):
    asyncio.run(live_attendee(chime))


# ----- Signature Version 4 -----


def test_signatures(chime):
    raises(client(secret="wrong-secret"), "ForbiddenException", "get_meeting", MeetingId=str(uuid.uuid4()))
    raises(client(key="unknown-key"), "UnauthorizedException", "get_meeting", MeetingId=str(uuid.uuid4()))
    # Any region in the credential scope is accepted.
    mid = new_meeting(client(region="ap-southeast-2"))["MeetingId"]
    # A signature made 20 minutes ago is stale.
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=past):
        raises(chime, "ForbiddenException", "get_meeting", MeetingId=mid)
    chime.delete_meeting(MeetingId=mid)
