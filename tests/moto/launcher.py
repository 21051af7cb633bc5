"""Test-only moto server with one extra endpoint to age IAM resources.

moto has no API to make a key or user look old, and iam-warden's rules are
about age. This wraps moto's WSGI app and adds POST /_warden_test/age, which
the daemon never knows about. It binds 127.0.0.1 on the given port (0: a free
one) and prints "PORT <n>" once it accepts connections.

Body of /_warden_test/age, times in RFC 3339:
  {"access_key_id": "AKIA...", "create_date": "...", "last_used": "..."}
  {"user": "alice", "create_date": "..."}   (also ages the login profile)
"""

import argparse
import json
import sys
from datetime import datetime

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import AccessKeyLastUsed, iam_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

AGE_PATH = "/_warden_test/age"


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def age(body):
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    if "access_key_id" in body:
        key = iam.access_keys[body["access_key_id"]]
        if "create_date" in body:
            key.create_date = parse_time(body["create_date"])
        if "last_used" in body:
            key.last_used = AccessKeyLastUsed(parse_time(body["last_used"]), "iam", "us-east-1")
    elif "user" in body:
        iam.users[body["user"]].create_date = parse_time(body["create_date"])
    else:
        raise KeyError("name access_key_id or user")


class WithAgeing:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != AGE_PATH:
            return self.app(environ, start_response)
        try:
            age(json.loads(Request(environ).get_data()))
            response = Response("{}", status=200, content_type="application/json")
        except (KeyError, ValueError) as error:
            response = Response(json.dumps({"error": repr(error)}), status=400, content_type="application/json")
        return response(environ, start_response)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    app = WithAgeing(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
