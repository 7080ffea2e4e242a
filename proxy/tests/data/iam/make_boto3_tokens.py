"""One-off generator of the boto3 token vectors in boto3_tokens.json.

Run by hand (tests never need Python): `pip install boto3; python3
make_boto3_tokens.py > boto3_tokens.json`. It freezes botocore's clock and
uses fixed, made-up credentials, so the output is deterministic; the proxy's
tests check that the Rust verifier accepts each token at its time and that
`generate_token` reproduces it byte for byte.
"""

import datetime
import json
import sys
from unittest import mock

import boto3
import botocore
import botocore.auth

CASES = [
    # name, host, port, user, region, key id, secret, session token, time
    ("plain", "mydb.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com", 5432,
     "alice", "us-east-1", "AKIAIOSFODNN7EXAMPLE",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None,
     datetime.datetime(2026, 3, 14, 15, 9, 26)),
    ("session_token_and_odd_user", "127.0.0.1", 6432,
     "report user+1@x.y/z", "eu-west-1", "ASIAQEXAMPLEEXAMPLE7",
     "ab+c/def==ghijklmnopqrstuvwxyz0123456789",
     "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc/def=",
     datetime.datetime(2025, 12, 31, 23, 59, 59)),
    ("port_443", "localhost", 443, "sextant", "ap-southeast-2",
     "AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", None,
     datetime.datetime(2024, 2, 29, 0, 0, 0)),
]


def main():
    out = []
    for name, host, port, user, region, akid, secret, token, when in CASES:
        session = boto3.session.Session(
            aws_access_key_id=akid,
            aws_secret_access_key=secret,
            aws_session_token=token,
            region_name=region,
        )
        client = session.client("rds")
        with mock.patch.object(botocore.auth, "get_current_datetime",
                               return_value=when):
            signed = client.generate_db_auth_token(
                DBHostname=host, Port=port, DBUsername=user, Region=region)
        out.append({
            "name": name,
            "host": host,
            "port": port,
            "user": user,
            "region": region,
            "access_key_id": akid,
            "secret_access_key": secret,
            "session_token": token,
            "unix_time": int(when.replace(tzinfo=datetime.timezone.utc).timestamp()),
            "token": signed,
        })
    json.dump({"generator": f"boto3 {boto3.__version__} / botocore {botocore.__version__}",
               "tokens": out}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
