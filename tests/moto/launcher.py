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
    Marker (moto returns everything in one page), and names each managed
    policy and its PolicyId (moto leaves both out).
  - ListEntitiesForPolicy finds every user, group and role holding the
    policy, in pages of MaxItems (moto looks only at the first 100 users and
    roles, and never says there are more).
  - Names have no case: users, groups and roles are unique regardless of
    case, and found whatever the case asked for (moto compares exactly).
  - Quotas: 10 managed policies per user, group or role, and 50 tags per
    user, past which the call fails with LimitExceeded (moto has none).
  - A server certificate's Expiration is its certificate's notAfter (moto
    says 2012 for every one).
  - User permissions boundaries: PutUserPermissionsBoundary and
    DeleteUserPermissionsBoundary work, and GetUser and the authorization
    details show the boundary (moto implements them for roles only).
  - IAM Access Analyzer's ListAnalyzers answers, per account and region,
    with the analyzers set through the test endpoint below (moto has no
    Access Analyzer; an account starts with none, as on AWS).
  - ReceiveMessage is atomic: moto lets two concurrent receives race while
    one moves messages to the dead-letter queue, fails the other with a 500,
    and leaves the batch it had marked received delivered to nobody, each
    message one receive nearer the dead-letter queue. SQS never does that.

Test-only endpoints, bodies in JSON, times in RFC 3339, "account" optional:
  POST /_warden_test/age
    {"access_key_id": "AKIA...", "create_date": "...", "last_used": "..."}
    {"user": "alice", "create_date": "..."}   (also ages the login profile)
    {"user": "alice", "password_last_used": "..."}   as GetUser and the report show it
  POST /_warden_test/credential-report
    {"expire": true}   the next GenerateCredentialReport builds a new report
  POST /_warden_test/root
    {"mfa": "none" | "virtual" | "hardware", "access_key": true}
                       the root user as the account summary and the virtual
                       MFA devices show it (moto's root has neither, ever)
  POST /_warden_test/access-analyzer
    {"region": "us-east-1", "status": "ACTIVE" | "DISABLED" | null}
                       the region's one analyzer, or none (null)
  POST /_warden_test/lag
    {"seconds": 5}     reads lag writes by that long, as IAM's eventual
                       consistency can: GetRole shows a role's previous trust
                       policy, and ListAttachedUserPolicies leaves out a policy
                       attached since. 0 turns it off (the default).
"""

import argparse
import copy
import json
import os
import re
import sys
import threading
import time
from types import SimpleNamespace
from datetime import datetime, timedelta, timezone

# AWS's managed policies (AdministratorAccess, ...) always exist on AWS; moto
# has them only when asked, before it is imported.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult, EmptyResult
from moto.iam.exceptions import EntityAlreadyExists, LimitExceededException, NotFoundException, ReportNotPresentException
from moto.iam.models import AccessKeyLastUsed, IAMBackend, ManagedPolicy, get_account_id_from, iam_backends
from moto.iam.responses import IamResponse
from moto.sqs.models import SQSBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

TEST_PREFIX = "/_warden_test/"
REPORT_REUSE = timedelta(hours=4)


def parse_time(text):
    # IAM keeps whole seconds: a fraction would show where AWS never has one.
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None, microsecond=0)


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
# ManagedPolicyDetail's PolicyName and PolicyId, which moto's serializer
# looks for under these names.
ManagedPolicy.policy_name = property(lambda self: self.name)
ManagedPolicy.policy_id = property(lambda self: self.id)


def list_entities_for_policy(self):
    arn = self._get_param("PolicyArn")
    wanted = self._get_param("EntityFilter")
    prefix = self._get_param("PathPrefix") or "/"
    max_items = int(self._get_param("MaxItems") or 100)
    start = int(self._get_param("Marker") or 0)
    kinds = {"User": ("PolicyUsers", self.backend.users.values()),
             "Group": ("PolicyGroups", self.backend.groups.values()),
             "Role": ("PolicyRoles", self.backend.roles.values())}
    items = [(field, entity) for kind, (field, entities) in kinds.items()
             if wanted in (None, kind, "LocalManagedPolicy", "AWSManagedPolicy")
             for entity in entities if arn in entity.managed_policies and entity.path.startswith(prefix)]
    page = items[start:start + max_items]
    result = {field: [entity for f, entity in page if f == field] for field, _ in kinds.values()}
    result["IsTruncated"] = start + max_items < len(items)
    if result["IsTruncated"]:
        result["Marker"] = str(start + max_items)
    return ActionResult(result)


IamResponse.list_entities_for_policy = list_entities_for_policy


# ---- names have no case ----

class NoCase(dict):
    """A dict whose string keys are found whatever their case, as IAM finds names."""

    def _key(self, key):
        if isinstance(key, str) and not dict.__contains__(self, key):
            folded = key.lower()
            for existing in dict.keys(self):
                if isinstance(existing, str) and existing.lower() == folded:
                    return existing
        return key

    def __getitem__(self, key):
        return dict.__getitem__(self, self._key(key))

    def __contains__(self, key):
        return dict.__contains__(self, self._key(key))

    def __delitem__(self, key):
        dict.__delitem__(self, self._key(key))

    def get(self, key, default=None):
        return dict.get(self, self._key(key), default)

    def pop(self, key, *default):
        return dict.pop(self, self._key(key), *default)


moto_iam_init = IAMBackend.__init__


def iam_init(self, *args, **kwargs):
    moto_iam_init(self, *args, **kwargs)
    self.users = NoCase(self.users)
    self.groups = NoCase(self.groups)


def get_role(self, role_name):
    for role in self.get_roles():
        if role.name.lower() == role_name.lower():
            return role
    raise NotFoundException(f"Role {role_name} not found")


moto_create_role = IAMBackend.create_role


def create_role(self, role_name, *args, **kwargs):
    if any(role.name.lower() == role_name.lower() for role in self.get_roles()):
        raise EntityAlreadyExists(f"Role with name {role_name} already exists.")
    return moto_create_role(self, role_name, *args, **kwargs)


IAMBackend.__init__ = iam_init
IAMBackend.get_role = get_role
IAMBackend.create_role = create_role


# ---- quotas ----

MANAGED_POLICIES = 10
USER_TAGS = 50


def limited(attach, holder):
    def attach_within_quota(self, policy_arn, name):
        attached = holder(self, name).managed_policies
        if policy_arn not in attached and len(attached) >= MANAGED_POLICIES:
            raise LimitExceededException(f"Cannot exceed quota for PoliciesPerEntity: {MANAGED_POLICIES}")
        return attach(self, policy_arn, name)
    return attach_within_quota


moto_tag_user = IAMBackend.tag_user


def tag_user(self, name, tags):
    user = self.get_user(name)
    held = {tag["Key"] for tag in self.tagger.list_tags_for_resource(user.arn)["Tags"]}
    if len(held | {tag["Key"] for tag in tags}) > USER_TAGS:
        raise LimitExceededException("The number of tags has reached the maximum limit.")
    return moto_tag_user(self, name, tags)


IAMBackend.attach_user_policy = limited(IAMBackend.attach_user_policy, IAMBackend.get_user)
IAMBackend.attach_group_policy = limited(IAMBackend.attach_group_policy, IAMBackend.get_group)
IAMBackend.attach_role_policy = limited(IAMBackend.attach_role_policy, IAMBackend.get_role)
IAMBackend.tag_user = tag_user


# ---- user permissions boundaries ----

def boundary(arn):
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn} if arn else None


def put_user_permissions_boundary(self):
    user = self.backend.get_user(self._get_param("UserName"))
    user.permissions_boundary = boundary(self._get_param("PermissionsBoundary"))
    return EmptyResult()


def delete_user_permissions_boundary(self):
    self.backend.get_user(self._get_param("UserName")).permissions_boundary = None
    return EmptyResult()


IamResponse.put_user_permissions_boundary = put_user_permissions_boundary
IamResponse.delete_user_permissions_boundary = delete_user_permissions_boundary


# ---- ReceiveMessage, atomic ----

receiving = threading.Lock()
moto_receive_message = SQSBackend.receive_message


def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
    """One receive at a time takes messages; the long poll waits outside the lock."""
    deadline = time.time() + wait_seconds_timeout
    while True:
        with receiving:
            found = moto_receive_message(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
        left = deadline - time.time()
        if found or left <= 0:
            return found
        self.get_queue(queue_name).wait_for_messages(min(1, left))


SQSBackend.receive_message = receive_message


# ---- reads that lag writes ----

lag = {"seconds": 0}
# (account, role id) -> (the trust policy before the last update, when it changed)
previous_trust = {}
# (account, user name folded, policy ARN) -> when it was attached
attached_at = {}


def lagging():
    return lag["seconds"] > 0


def still_lagging(since):
    return time.time() - since < lag["seconds"]


moto_update_assume_role_policy = IAMBackend.update_assume_role_policy


def update_assume_role_policy(self, role_name, policy_document):
    role = self.get_role(role_name)
    previous_trust[(self.account_id, role.id)] = (role.assume_role_policy_document, time.time())
    return moto_update_assume_role_policy(self, role_name, policy_document)


def get_role_response(self):
    role = self.backend.get_role(self._get_param("RoleName"))
    before = previous_trust.get((self.backend.account_id, role.id))
    if lagging() and before and still_lagging(before[1]):
        role = copy.copy(role)
        role.assume_role_policy_document = before[0]
    return ActionResult({"Role": role})


moto_attach_user_policy = IAMBackend.attach_user_policy


def attach_user_policy(self, policy_arn, user_name):
    moto_attach_user_policy(self, policy_arn, user_name)
    attached_at[(self.account_id, user_name.lower(), policy_arn)] = time.time()


moto_list_attached_user_policies = IAMBackend.list_attached_user_policies


def list_attached_user_policies(self, user_name, *args, **kwargs):
    policies, marker = moto_list_attached_user_policies(self, user_name, *args, **kwargs)
    if lagging():
        def shown(policy):
            since = attached_at.get((self.account_id, user_name.lower(), policy.arn))
            return since is None or not still_lagging(since)
        policies = [p for p in policies if shown(p)]
    return policies, marker


IAMBackend.update_assume_role_policy = update_assume_role_policy
IamResponse.get_role = get_role_response
IAMBackend.attach_user_policy = attach_user_policy
IAMBackend.list_attached_user_policies = list_attached_user_policies


# A server certificate expires when its certificate says (moto says 2012 for every one).
def certificate_expiration(body):
    from cryptography import x509
    expires = x509.load_pem_x509_certificate(body.encode()).not_valid_after_utc
    return expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def with_expiration(response_method, metadata_of):
    def patched(self):
        result = response_method(self)
        for metadata in metadata_of(result.result):
            certificate = self.backend.get_server_certificate(metadata["ServerCertificateName"])
            metadata["Expiration"] = certificate_expiration(certificate.cert_body)
        return result
    return patched


IamResponse.upload_server_certificate = with_expiration(
    IamResponse.upload_server_certificate, lambda r: [r["ServerCertificateMetadata"]])
IamResponse.list_server_certificates = with_expiration(
    IamResponse.list_server_certificates, lambda r: r["ServerCertificateMetadataList"])
IamResponse.get_server_certificate = with_expiration(
    IamResponse.get_server_certificate, lambda r: [r["ServerCertificate"]["ServerCertificateMetadata"]])


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
        user = iam.users[body["user"]]
        if "create_date" in body:
            user.create_date = parse_time(body["create_date"])
        if "password_last_used" in body:
            user.password_last_used = parse_time(body["password_last_used"])
    else:
        raise KeyError("name access_key_id or user")


def credential_report(body):
    if body.get("expire"):
        reports.pop(body.get("account", DEFAULT_ACCOUNT_ID), None)


def root(body):
    iam = backend(body)
    account = body.get("account", DEFAULT_ACCOUNT_ID)
    mfa = body.get("mfa", "none")
    if mfa not in ("none", "virtual", "hardware"):
        raise ValueError(f"mfa: none, virtual or hardware, not {mfa}")
    iam.account_summary._account_mfa_enabled = int(mfa != "none")
    iam.account_summary._account_access_keys_present = int(bool(body.get("access_key")))
    serial = f"arn:aws:iam::{account}:mfa/root-account-mfa-device"
    iam.virtual_mfa_devices.pop(serial, None)
    if mfa == "virtual":
        device = iam.create_virtual_mfa_device("root-account-mfa-device", "/")
        device.enable_date = datetime.now(timezone.utc).replace(tzinfo=None)
        device.user = SimpleNamespace(arn=f"arn:aws:iam::{account}:root", name="<root_account>", user_name="<root_account>",
                                      id=account, user_id=account, path="/", create_date=device.enable_date)


# (account, region) -> the status of its one analyzer.
analyzers = {}
CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")


def access_analyzer(body):
    key = (body.get("account", DEFAULT_ACCOUNT_ID), body["region"])
    if body.get("status") is None:
        analyzers.pop(key, None)
    else:
        analyzers[key] = body["status"]


def list_analyzers(environ):
    """GET /analyzer of IAM Access Analyzer, signed for service access-analyzer."""
    credential = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not credential or credential.group(3) != "access-analyzer":
        return None
    access_key, region = credential.group(1), credential.group(2)
    key = (get_account_id_from(access_key), region)
    found = []
    if key in analyzers:
        found.append({"arn": f"arn:aws:access-analyzer:{region}:{key[0]}:analyzer/warden-test",
                      "name": "warden-test", "type": "ACCOUNT", "createdAt": "2026-01-01T00:00:00Z",
                      "status": analyzers[key]})
    return Response(json.dumps({"analyzers": found}), status=200, content_type="application/json")


def set_lag(body):
    lag["seconds"] = float(body["seconds"])


ENDPOINTS = {"age": age, "credential-report": credential_report, "root": root, "lag": set_lag,
             "access-analyzer": access_analyzer}


class WithTestEndpoints:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/analyzer":
            response = list_analyzers(environ)
            if response is not None:
                return response(environ, start_response)
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
