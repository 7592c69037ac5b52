#!/usr/bin/python3
"""Writes tracking events to a Redis Stream exactly as an Open edX LMS does through the event bus.

Written independently of the service's consumer, from the producing side's sources:
- event-tracking backends/event_bus.py (EventBusRoutingBackend.send): TrackingLogData(name, timestamp, data, context)
  with data and context as json.dumps texts and the timestamp a datetime (strings parsed with
  "%Y-%m-%dT%H:%M:%S.%f%z");
- openedx-events: signal TRACKING_EVENT_EMITTED, type org.openedx.analytics.tracking.event.emitted.v1, data
  {"tracking_log": TrackingLogData}; Avro schema as in event_bus/avro/tests/schemas (datetime -> isoformat() string);
  serialize_event_data_to_bytes = fastavro.schemaless_writer (here: Debian's python3-avro, same binary encoding);
- event-bus-redis internal/producer.py, message.py, utils.py: XADD <prefix>-<topic> (MAXLEN ~ 10000) with the
  CloudEvent headers type, id, source, time, minorversion, sourcehost, sourcelib as fields, then event_data.

Needs Debian's python3-redis and python3-avro. Prints one JSON line per entry written.

Usage:
  event_bus_producer.py URL STREAM fixtures DIR               every DIR/*.json, in name order
  event_bus_producer.py URL STREAM bulk FIXTURE N START [MAXLEN]  N copies of FIXTURE, timestamps START+i microseconds
  event_bus_producer.py URL STREAM malformed FIXTURE           one entry per malformed case, then one good entry
"""
import io
import json
import os
import socket
import sys
import uuid
from datetime import datetime, timedelta, timezone

import avro.io
import avro.schema
import redis

EVENT_TYPE = "org.openedx.analytics.tracking.event.emitted.v1"
# openedx_events/event_bus/avro/tests/schemas/org+openedx+analytics+event_tracking+emitted+v1_schema.avsc
SCHEMA = avro.schema.parse(json.dumps({
    "name": "CloudEvent",
    "type": "record",
    "doc": "Avro Event Format for CloudEvents created with openedx_events/schema",
    "fields": [{
        "name": "tracking_log",
        "type": {
            "name": "TrackingLogData",
            "type": "record",
            "fields": [
                {"name": "name", "type": "string"},
                {"name": "timestamp", "type": "string"},
                {"name": "data", "type": "string"},
                {"name": "context", "type": "string"},
            ],
        },
    }],
    "namespace": EVENT_TYPE,
}))
WRITER = avro.io.DatumWriter(SCHEMA)
STREAM_MAX_LEN = 10_000  # event-bus-redis EVENT_BUS_REDIS_STREAM_MAX_LEN default


class DateTimeJSONEncoder(json.JSONEncoder):
    """event-tracking's encoder for data and context: datetimes as UTC isoformat."""

    def default(self, o):
        if isinstance(o, datetime):
            return o.astimezone(timezone.utc).isoformat()
        return super().default(o)


def tracking_log_of(event):
    """What EventBusRoutingBackend.send builds from a tracker event.

    Tracking-log-shaped events (event + time, as written to tracking.log) never reach the bus in that shape; they
    are first read the way ERB's log replay reads them (event -> data, time -> timestamp).
    """
    data = event.get("data", event.get("event"))
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            pass
    timestamp = event.get("timestamp") or event.get("time")
    if isinstance(timestamp, str):
        timestamp = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    return {
        "name": event.get("name"),
        "timestamp": timestamp.isoformat(),  # openedx-events DatetimeAvroSerializer
        "data": json.dumps(data, cls=DateTimeJSONEncoder),
        "context": json.dumps(event.get("context"), cls=DateTimeJSONEncoder),
    }


def avro_bytes(tracking_log):
    out = io.BytesIO()
    WRITER.write({"tracking_log": tracking_log}, avro.io.BinaryEncoder(out))
    return out.getvalue()


def headers(event_type=EVENT_TYPE):
    """EventsMetadata defaults as event-bus-redis writes them (utils.get_headers_from_metadata)."""
    return {
        "type": event_type.encode(),
        "id": str(uuid.uuid1()).encode(),
        "source": b"openedx/lms/web",
        "time": datetime.now(timezone.utc).isoformat().encode(),
        "minorversion": b"0",
        "sourcehost": socket.gethostname().encode(),
        "sourcelib": b"9.15.0",
    }


def entry(tracking_log):
    fields = headers()
    fields["event_data"] = avro_bytes(tracking_log)
    return fields


def add(client, stream, fields, maxlen=STREAM_MAX_LEN):
    return client.xadd(stream, fields, maxlen=maxlen, approximate=True).decode()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")


def fixtures(client, stream, directory):
    for name in sorted(f for f in os.listdir(directory) if f.endswith(".json")):
        with open(os.path.join(directory, name)) as f:
            event = json.load(f)
        log = tracking_log_of(event)
        emit({"file": name, "entry_id": add(client, stream, entry(log)), "tracking_log": log})


def bulk(client, stream, fixture, count, start, maxlen):
    with open(fixture) as f:
        event = json.load(f)
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    pipe = client.pipeline(transaction=False)
    first = last = None
    for i in range(count):
        event["timestamp"] = base + timedelta(microseconds=start + i)
        pipe.xadd(stream, entry(tracking_log_of(event)), maxlen=maxlen, approximate=True)
        if (i + 1) % 1000 == 0 or i + 1 == count:
            ids = [x.decode() for x in pipe.execute()]
            first = first or ids[0]
            last = ids[-1]
    emit({"count": count, "first_id": first, "last_id": last})


def malformed(client, stream, fixture):
    with open(fixture) as f:
        good = tracking_log_of(json.load(f))
    cases = []
    e = headers()
    e["event_data"] = b"\x02\xff\x00not avro"
    cases.append(("bad avro", e))
    cases.append(("missing event_data", headers()))
    e = headers("org.openedx.learning.course.enrollment.created.v1")
    e["event_data"] = b"\x00"
    cases.append(("other type", e))
    cases.append(("invalid JSON in data", entry(dict(good, data="{not json"))))
    cases.append(("invalid JSON in context", entry(dict(good, context="{\"user_id\": 3,"))))
    e = entry(good)
    del e["id"]
    cases.append(("missing id", e))
    cases.append(("empty timestamp", entry(dict(good, timestamp=""))))
    # A new event (its own statement id), to show the stream keeps flowing after the bad ones.
    cases.append(("good", entry(dict(good, timestamp="2031-01-01T00:00:00.000001+00:00"))))
    for case, fields in cases:
        emit({"case": case, "entry_id": add(client, stream, fields)})


def main():
    url, stream, mode = sys.argv[1:4]
    client = redis.Redis.from_url(url)
    if mode == "fixtures":
        fixtures(client, stream, sys.argv[4])
    elif mode == "bulk":
        maxlen = int(sys.argv[7]) if len(sys.argv) > 7 else STREAM_MAX_LEN
        bulk(client, stream, sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), maxlen)
    elif mode == "malformed":
        malformed(client, stream, sys.argv[4])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
