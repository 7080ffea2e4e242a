#!/usr/bin/env python3
"""One-off: signs ingest requests with botocore's SigV4Auth (the signer of
boto3 and the AWS CLI) so the ingest service's verifier is checked against
an independent implementation. Writes vectors.json beside this script.

    python3 make_vectors.py     # botocore 1.43 made the committed file
"""
import datetime
import gzip
import json
import os
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AT = datetime.datetime(2024, 5, 1, 12, 30, 0, tzinfo=datetime.timezone.utc)
KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
TEMP = ("ASIAQEXAMPLEEXAMPLE7", "tempSecretKeyEXAMPLE0123456789abcdefABCD", "IQoJb3JpZ2luX2VjEXAMPLETOKEN")


def sign(name, body, headers, key, table="orders", token=None):
    creds = Credentials(key[0], key[1], token)
    url = f"http://ingest.example:8080/v1/tables/{table}/events"
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=AT):
        botocore.auth.SigV4Auth(creds, "sextant-ingest", "us-east-1").add_auth(request)
    sent = {k.lower(): v for k, v in request.headers.items()}
    sent["host"] = "ingest.example:8080"
    return {
        "name": name,
        "table": table,
        "path": f"/v1/tables/{table}/events",
        "headers": sent,
        "body_hex": body.hex(),
        "now": int(AT.timestamp()),
    }


ndjson = b'{"id": "a", "ts_ms": 1}\n{"id": "b", "ts_ms": 2}\n'
vectors = [
    sign("ndjson", ndjson, {"Content-Type": "application/x-ndjson"}, KEY),
    sign("gzip", gzip.compress(ndjson, mtime=0),
         {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, KEY),
    sign("json  with  spaces", b'[{"id": "c", "ts_ms": 3}]',
         {"Content-Type": "application/json;   charset=utf-8"}, KEY),
    sign("session token", ndjson, {"Content-Type": "application/x-ndjson"}, TEMP, token=TEMP[2]),
    sign("denied table", ndjson, {"Content-Type": "application/x-ndjson"}, KEY, table="secret"),
]
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json"), "w") as f:
    json.dump(vectors, f, indent=1)
    f.write("\n")
