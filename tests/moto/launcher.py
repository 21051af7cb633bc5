"""Test-only moto server that behaves like AWS where iam-warden depends on it.

moto is an emulator, not AWS. Where it differs in a way that would hide a
bug, this launcher patches it to behave as AWS does, and it adds test-only
endpoints the daemon never knows about. It binds 127.0.0.1 on the given port
(0: a free one) and prints "PORT <n>" once it accepts connections.

Made to behave like AWS:
  - AWS's managed policies exist, as they always do on AWS.
  - The credential report is generated once and reused for 4 hours, with its
    true GeneratedTime (moto builds a fresh one on every call, dated 2015).
  - UpdateLoginProfile without a password keeps the profile and only sets the
    reset flag (moto deletes the password).
  - GetAccountAuthorizationDetails is paginated by MaxItems (default 100) and
    Marker (moto returns everything in one page).

Test-only endpoints, bodies in JSON, times in RFC 3339, "account" optional:
  POST /_warden_test/age
    {"access_key_id": "AKIA...", "create_date": "...", "last_used": "..."}
    {"user": "alice", "create_date": "..."}   (also ages the login profile)
  POST /_warden_test/credential-report
    {"expire": true}   the next GenerateCredentialReport builds a new report
"""

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone

# AWS's managed policies (AdministratorAccess, ...) always exist on AWS; moto
# has them only when asked, before it is imported.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.exceptions import ReportNotPresentException
from moto.iam.models import AccessKeyLastUsed, IAMBackend, iam_backends
from moto.iam.responses import IamResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

TEST_PREFIX = "/_warden_test/"
REPORT_REUSE = timedelta(hours=4)


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def backend(body):
    return iam_backends[body.get("account", DEFAULT_ACCOUNT_ID)]["aws"]


# ---- the credential report, reused for 4 hours as AWS does ----

# account id -> (generated at, CSV content)
reports = {}
build_report = IAMBackend.get_credential_report


def report_generated(self):
    report = reports.get(self.account_id)
    return report is not None and datetime.now(timezone.utc) - report[0] < REPORT_REUSE


def generate_report(self):
    if not report_generated(self):
        self.credential_report = True
        reports[self.account_id] = (datetime.now(timezone.utc), build_report(self))


def get_credential_report(self):
    if self.account_id not in reports:
        raise ReportNotPresentException("Credential report not present")
    return reports[self.account_id][1]


def get_credential_report_response(self):
    result = IamResponse_get_credential_report(self)
    generated = reports[self.backend.account_id][0]
    result.result["GeneratedTime"] = generated.strftime("%Y-%m-%dT%H:%M:%SZ")
    return result


IamResponse_get_credential_report = IamResponse.get_credential_report
IAMBackend.report_generated = report_generated
IAMBackend.generate_report = generate_report
IAMBackend.get_credential_report = get_credential_report
IamResponse.get_credential_report = get_credential_report_response


# ---- UpdateLoginProfile without a password keeps the password ----

moto_update_login_profile = IAMBackend.update_login_profile


def update_login_profile(self, user_name, password, password_reset_required):
    if password is None:
        password = self.get_user(user_name).password
    return moto_update_login_profile(self, user_name, password, password_reset_required)


IAMBackend.update_login_profile = update_login_profile


# ---- GetAccountAuthorizationDetails in pages, as AWS answers it ----

LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def paged_authorization_details(self):
    result = IamResponse_get_account_authorization_details(self)
    max_items = int(self._get_param("MaxItems") or 100)
    start = int(self._get_param("Marker") or 0)
    items = [(name, item) for name in LISTS for item in result.result[name]]
    page = items[start:start + max_items]
    for name in LISTS:
        result.result[name] = [item for kind, item in page if kind == name]
    result.result["IsTruncated"] = start + max_items < len(items)
    if result.result["IsTruncated"]:
        result.result["Marker"] = str(start + max_items)
    return result


IamResponse_get_account_authorization_details = IamResponse.get_account_authorization_details
IamResponse.get_account_authorization_details = paged_authorization_details


# ---- test-only endpoints ----

def age(body):
    iam = backend(body)
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


def credential_report(body):
    if body.get("expire"):
        reports.pop(body.get("account", DEFAULT_ACCOUNT_ID), None)


ENDPOINTS = {"age": age, "credential-report": credential_report}


class WithTestEndpoints:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(TEST_PREFIX):
            return self.app(environ, start_response)
        try:
            ENDPOINTS[path[len(TEST_PREFIX):]](json.loads(Request(environ).get_data() or b"{}"))
            response = Response("{}", status=200, content_type="application/json")
        except (KeyError, ValueError) as error:
            response = Response(json.dumps({"error": repr(error)}), status=400, content_type="application/json")
        return response(environ, start_response)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    app = WithTestEndpoints(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
