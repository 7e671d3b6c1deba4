"""Publishes platform events to the local event bus, the way the enrollment platform would.

    .venv/bin/python tools/publish_event.py events/platform/application-submitted.json [...]

Each file is an EventBridge envelope (as under events/platform/); its source, detail-type and
detail are sent with PutEvents to the bus PLATFORM_EVENT_BUS (default enrollment-platform) at
AWS_ENDPOINT_URL. Any AWS client does the same; this one needs nothing but the project's .venv.
"""

import json
import os
import sys

import boto3


def main(paths):
    if not paths:
        sys.exit(__doc__)
    events = boto3.client(
        "events",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    bus = os.environ.get("PLATFORM_EVENT_BUS", "enrollment-platform")
    for path in paths:
        with open(path, encoding="utf-8") as f:
            envelope = json.load(f)
        answer = events.put_events(
            Entries=[
                {
                    "Source": envelope["source"],
                    "DetailType": envelope["detail-type"],
                    "Detail": json.dumps(envelope["detail"]),
                    "EventBusName": bus,
                }
            ]
        )
        print(f"{path}: {'published' if answer['FailedEntryCount'] == 0 else answer['Entries']}")


if __name__ == "__main__":
    main(sys.argv[1:])
