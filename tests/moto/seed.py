"""Seeds a moto account for iam-warden's tests, demo and benchmark.

usage: seed.py ENDPOINT drifted          an account that breaks every rule
       seed.py ENDPOINT compliant N      N users who break none
       seed.py ENDPOINT runner           an IAM user with an old key, for iam-warden to run as
       seed.py ENDPOINT restricted-runner    the same, allowed everything but iam:GetCredentialReport
       seed.py ENDPOINT quarantine       a console user without MFA, and no quarantine policy yet
       seed.py ENDPOINT unfixable        an old key, and a runner denied iam:UpdateAccessKey
       seed.py ENDPOINT targets          an account in spec with users for the event tests
       seed.py ENDPOINT expiring S       a key that reaches maxAge 90d in S seconds
       seed.py ENDPOINT old-keys N       N users, each with an old inactive key
       seed.py ENDPOINT old-active-keys N    N users, each with an old active key used yesterday
       seed.py ENDPOINT rollout          40 keys across every combination of age, last use and status
       seed.py ENDPOINT irsa             a role trusting an OIDC provider, assumed: its session's credentials
       seed.py ENDPOINT tampered V       a console user without MFA; the quarantine policy with V versions,
                                         the default one allowing everything
       seed.py ENDPOINT permissions      users with admin access, direct policies and escalation sets
       seed.py ENDPOINT passwords D      three console users, two of them created D days ago
       seed.py ENDPOINT support-role     a role with AWSSupportAccess (CIS 2.16)
       seed.py ENDPOINT cis              an account failing each of Prowler's CIS IAM checks iam-warden enforces
       seed.py ENDPOINT organization N   an Organization: N member accounts in OUs, each with the
                                         iam-warden role and a drifted user; one account left outside
       seed.py ENDPOINT organization-keys    the status of every member account's seeded key
       seed.py ENDPOINT organization-reactivate  every member account's seeded key made active again
       seed.py ENDPOINT organization-join OU     one more member account in OU, seeded as the others

Prints a JSON object naming what it made, for the caller to assert on.
"""

import json
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3

# The quarantine policy as iam-warden ships it, as an earlier pass would have created it.
DENY_POLICY = (Path(__file__).resolve().parents[2] / "src/quarantine/deny-without-mfa.json").read_text() \
    .replace("{partition}", "aws")
THUMBPRINT = "6938fd4d98bab03faadb97b34396831e3780aea1"
GITHUB = "token.actions.githubusercontent.com"


def github_trust(sub):
    """A role trust policy for GitHub Actions, the audience pinned, the subject under StringLike."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{GITHUB}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}, "StringLike": {f"{GITHUB}:sub": sub}}}]})


class Account:
    def __init__(self, endpoint, account_id=None):
        self.endpoint = endpoint
        self.account_id = account_id
        credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        if account_id:
            credentials = member_credentials(endpoint, account_id)
        session = boto3.session.Session(region_name="us-east-1", **credentials)
        self.iam = session.client("iam", endpoint_url=endpoint)
        self.s3 = session.client("s3", endpoint_url=endpoint)
        self.cloudtrail = session.client("cloudtrail", endpoint_url=endpoint)
        self.now = datetime.now(timezone.utc)

    def age(self, **body):
        """Back-dates through the test launcher's endpoint; times are days ago."""
        for field in ("create_date", "last_used", "password_last_used"):
            if field in body:
                body[field] = (self.now - timedelta(days=body[field])).isoformat()
        self.test_endpoint("age", body)

    def root(self, mfa, access_key=False):
        """The root user with this MFA ("none", "virtual", "hardware"), as the account summary shows it."""
        self.test_endpoint("root", {"mfa": mfa, "access_key": access_key})

    def support_role(self):
        """A role for incidents with AWS Support (CIS 2.16)."""
        self.iam.create_role(RoleName="aws-support", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}))
        self.iam.attach_role_policy(RoleName="aws-support", PolicyArn="arn:aws:iam::aws:policy/AWSSupportAccess")

    def access_analyzer(self, status="ACTIVE"):
        """An IAM Access Analyzer in the account's region (CIS 2.19); moto has none."""
        self.test_endpoint("access-analyzer", {"region": self.iam.meta.region_name, "status": status})

    def test_endpoint(self, name, body):
        if self.account_id:
            body["account"] = self.account_id
        request = urllib.request.Request(f"{self.endpoint}/_warden_test/{name}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request).read()

    def user(self, name, console=False, age_days=None, tags=None):
        self.iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
        if console:
            self.iam.create_login_profile(UserName=name, Password="Initial-Passw0rd!")
        if age_days is not None:
            self.age(user=name, create_date=age_days)

    def key(self, user, age_days, used_days_ago=None, active=True):
        key_id = self.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        aged = {"create_date": age_days}
        if used_days_ago is not None:
            aged["last_used"] = used_days_ago
        self.age(access_key_id=key_id, **aged)
        if not active:
            self.iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
        return key_id

    def key_for_new_user(self, user, **key):
        self.user(user)
        return self.key(user, **key)

    def mfa(self, user):
        serial = self.iam.create_virtual_mfa_device(VirtualMFADeviceName=user)["VirtualMFADevice"]["SerialNumber"]
        self.iam.enable_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1="123456",
                                   AuthenticationCode2="654321")

    def provider(self, url, client_ids, tags=None):
        return self.iam.create_open_id_connect_provider(
            Url=f"https://{url}", ClientIDList=client_ids, ThumbprintList=[THUMBPRINT],
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])["OpenIDConnectProviderArn"]

    def trail(self, name, multi_region=True, logging=False):
        bucket = f"{name}-logs"
        self.s3.create_bucket(Bucket=bucket)
        arn = self.cloudtrail.create_trail(Name=name, S3BucketName=bucket, IsMultiRegionTrail=multi_region)["TrailARN"]
        if logging:
            self.cloudtrail.start_logging(Name=name)
        return arn


def cis_account(account):
    """What CIS asks of the account that no API of iam-warden's makes: a role
    for AWS Support (2.16) and an active IAM Access Analyzer (2.19)."""
    account.support_role()
    account.access_analyzer()
    return {}


def drifted(account):
    """Every rule broken once, next to resources that must be left alone."""
    made = {"keys": {}, "providers": {}}
    keys = made["keys"]
    account.iam.update_account_password_policy(MinimumPasswordLength=8, RequireSymbols=False)

    account.user("alice")
    keys["alice-old"] = account.key("alice", age_days=120, used_days_ago=1)
    keys["alice-fresh"] = account.key("alice", age_days=3, used_days_ago=1)
    account.user("dave")
    keys["dave-never-used"] = account.key("dave", age_days=60)
    account.user("erin")
    keys["erin-inactive-old"] = account.key("erin", age_days=200, active=False)
    account.user("gina")
    keys["gina-expiring"] = account.key("gina", age_days=80, used_days_ago=2)
    account.user("svc-platform", tags={"iam-warden/exempt": "true"})
    keys["svc-platform-old"] = account.key("svc-platform", age_days=200, used_days_ago=1)

    account.user("bob", console=True, age_days=3)
    account.user("carol", console=True)
    account.user("break-glass", console=True, age_days=10)
    # frank was quarantined by an earlier pass and has since enrolled MFA.
    account.user("frank", console=True, age_days=10)
    account.mfa("frank")
    deny_arn = account.iam.create_policy(PolicyName="iam-warden-deny-without-mfa", Path="/iam-warden/",
                                         PolicyDocument=DENY_POLICY)["Policy"]["Arn"]
    account.iam.attach_user_policy(UserName="frank", PolicyArn=deny_arn)
    made["deny_policy_arn"] = deny_arn

    providers = made["providers"]
    providers["github"] = account.provider(GITHUB, ["sts.amazonaws.com"])
    providers["eks"] = account.provider("oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF", ["sts.amazonaws.com"])
    providers["rogue"] = account.provider("rogue.example.com", ["sts.amazonaws.com"], tags={"owner": "nobody"})

    made["trail"] = account.trail("org-trail", multi_region=True, logging=False)
    # Any GitHub repository in the world can assume it; the one beside it is scoped to the organisation.
    account.iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=github_trust("repo:*"))
    account.iam.create_role(RoleName="ci", AssumeRolePolicyDocument=github_trust("repo:my-org/*"))
    return made


def compliant(account, count):
    """Users a full scan should pass over: fresh keys, console users with MFA."""
    for n in range(count):
        name = f"user-{n:05d}"
        account.user(name, console=(n % 10 == 0))
        if n % 10 == 0:
            account.mfa(name)
        account.iam.create_access_key(UserName=name)
    return {"users": count}


def runner(account):
    """The identity iam-warden runs as, whose own old key it must not touch."""
    account.user("warden-runner")
    created = account.iam.create_access_key(UserName="warden-runner")["AccessKey"]
    account.age(access_key_id=created["AccessKeyId"], create_date=120, last_used=1)
    return {"access_key_id": created["AccessKeyId"], "secret_access_key": created["SecretAccessKey"]}


def restricted_runner(account, denied="iam:GetCredentialReport"):
    """A runner allowed everything but one action."""
    made = runner(account)
    account.iam.put_user_policy(UserName="warden-runner", PolicyName="all-but-one", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                      {"Effect": "Deny", "Action": denied, "Resource": "*"}],
    }))
    return made


def unfixable(account):
    """An old key the runner may not deactivate: its reconciles fail."""
    account.user("victim")
    made = {"victim_key": account.key("victim", age_days=120, used_days_ago=1)}
    made.update(restricted_runner(account, denied="iam:UpdateAccessKey"))
    return made


def targets(account):
    """An account in spec, holding what the event tests act on."""
    made = {
        "mallory_key": account.key_for_new_user("mallory", age_days=100, active=False),
        "compliant_key": account.key_for_new_user("compliant", age_days=5, used_days_ago=1),
    }
    account.mfa("compliant")
    account.iam.create_login_profile(UserName="compliant", Password="Initial-Passw0rd!")
    made["github"] = account.provider("token.actions.githubusercontent.com", ["sts.amazonaws.com"])
    return made


def expiring(account, seconds):
    """A key that reaches maxAge 90d the given number of seconds from now."""
    return {"key": account.key_for_new_user("soon", age_days=90 - seconds / 86400, used_days_ago=1)}


def old_keys(account, count):
    """Users with an old key each, inactive, for events to reactivate."""
    return {"keys": {f"burst-{n:03d}": account.key_for_new_user(f"burst-{n:03d}", age_days=100, active=False)
                     for n in range(count)}}


def old_active_keys(account, count):
    """Users with a key past maxAge 90d, in use: each is a violation to fix."""
    return {"keys": {f"old-{n:03d}": account.key_for_new_user(f"old-{n:03d}", age_days=100, used_days_ago=1)
                     for n in range(count)}}


def rollout(account):
    """The keys a first rollout meets: every age, last use and status, one per user."""
    ages = {5: [None, 1 / 24], 31: [None, 1 / 24, 20], 46: [None, 1 / 24, 20], 60: [None, 1 / 24, 20],
            100: [None, 1 / 24, 20, 100], 200: [None, 1 / 24, 20, 100, 190]}
    keys = []
    for age, uses in ages.items():
        for used in uses:
            for active in (True, False):
                user = f"rollout-{len(keys):02d}"
                account.user(user)
                key = account.key(user, age_days=age, used_days_ago=used, active=active)
                keys.append({"user": user, "key": key, "age_days": age, "last_used_days": used, "active": active})
    return {"keys": keys}


def irsa(account):
    """The role iam-warden runs as through IRSA, trusting a cluster issuer the
    policy does not list; and a second, unrelated rogue provider."""
    cluster = account.provider("oidc.eks.eu-west-1.amazonaws.com/id/CLUSTER", ["sts.amazonaws.com"])
    rogue = account.provider("rogue.example.com", ["sts.amazonaws.com"])
    issuer = "oidc.eks.eu-west-1.amazonaws.com/id/CLUSTER"
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": cluster}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:sub": "system:serviceaccount:iam-warden:iam-warden",
                                       f"{issuer}:aud": "sts.amazonaws.com"}}}]}
    role = account.iam.create_role(RoleName="iam-warden", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    sts = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                region_name="us-east-1").client("sts", endpoint_url=account.endpoint)
    session = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="iam-warden")["Credentials"]
    return {"cluster_provider": cluster, "rogue_provider": rogue, "access_key_id": session["AccessKeyId"],
            "secret_access_key": session["SecretAccessKey"], "session_token": session["SessionToken"]}


def hub(account):
    """An Organization's hub account, as the deploy kit makes it: the pod's
    role iam-warden-central on the cluster's issuer (its trust pins only the
    audience), and the member role iam-warden that it assumes here as in
    every account. Returns the central role's session."""
    issuer = "oidc.eks.eu-west-1.amazonaws.com/id/CLUSTER"
    cluster = account.provider(issuer, ["sts.amazonaws.com"])
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": cluster}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:aud": "sts.amazonaws.com"}}}]}
    role = account.iam.create_role(RoleName="iam-warden-central", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    seed_member(account)
    sts = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                region_name="us-east-1").client("sts", endpoint_url=account.endpoint)
    session = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="iam-warden")["Credentials"]
    return {"cluster_provider": cluster, "access_key_id": session["AccessKeyId"],
            "secret_access_key": session["SecretAccessKey"], "session_token": session["SessionToken"]}


def tampered(account, versions):
    """Someone made the quarantine policy allow everything before iam-warden attaches it."""
    account.user("bob", console=True, age_days=3)
    arn = account.iam.create_policy(PolicyName="iam-warden-deny-without-mfa", Path="/iam-warden/",
                                    PolicyDocument=DENY_POLICY)["Policy"]["Arn"]
    allow_all = json.dumps({"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    for n in range(1, versions):
        account.iam.create_policy_version(PolicyArn=arn, PolicyDocument=allow_all if n == versions - 1 else DENY_POLICY,
                                          SetAsDefault=n == versions - 1)
    return {"policy_arn": arn}


def allowing(*actions):
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]})


def permissions(account):
    """What a user may do, every way it can be given, next to what must be left alone."""
    iam = account.iam
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    account.user("admin-attached")
    iam.attach_user_policy(UserName="admin-attached", PolicyArn=admin)
    account.user("admin-inline")
    iam.put_user_policy(UserName="admin-inline", PolicyName="everything", PolicyDocument=allowing("*"))
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=admin)
    for member in ("admin-grouped", "operator"):
        account.user(member)
        iam.add_user_to_group(GroupName="admins", UserName=member)
    # operator is an admin through the group too, but exempt: the group is shared.
    account.user("versions")
    versions = iam.create_policy(PolicyName="policy-versions", PolicyDocument=allowing("iam:CreatePolicyVersion"))
    iam.attach_user_policy(UserName="versions", PolicyArn=versions["Policy"]["Arn"])
    account.user("lambda-deployer")
    iam.put_user_policy(UserName="lambda-deployer", PolicyName="deploy",
                        PolicyDocument=allowing("iam:PassRole", "lambda:CreateFunction"))
    account.user("reader")
    reader = iam.create_policy(PolicyName="s3-reader", PolicyDocument=allowing("s3:GetObject"))
    iam.attach_user_policy(UserName="reader", PolicyArn=reader["Policy"]["Arn"])
    account.user("break-glass")
    iam.attach_user_policy(UserName="break-glass", PolicyArn=admin)
    iam.create_group(GroupName="developers")
    iam.put_group_policy(GroupName="developers", PolicyName="read", PolicyDocument=allowing("s3:Get*"))
    account.user("developer")
    iam.add_user_to_group(GroupName="developers", UserName="developer")
    return {"versions_policy": versions["Policy"]["Arn"], "reader_policy": reader["Policy"]["Arn"]}


def passwords(account, days):
    """Console passwords set long ago, and one set now."""
    for name in ("old-password-1", "old-password-2"):
        account.user(name, console=True, age_days=days)
        account.mfa(name)
    account.user("new-password", console=True)
    account.mfa("new-password")
    return {}


def cis(account):
    """An account failing each Prowler check of the CIS IAM section that
    iam-warden enforces, one identity per failure where it can."""
    iam = account.iam
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    cloudshell = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess"
    iam.update_account_password_policy(MinimumPasswordLength=8)
    # A console password unused for 60 days, and no MFA.
    account.user("idle-console", console=True, age_days=400)
    account.age(user="idle-console", password_last_used=60)
    # Two active keys, in use; a key not rotated in 120 days; a key unused for 50 days.
    account.user("two-keys")
    account.key("two-keys", age_days=20, used_days_ago=1)
    account.key("two-keys", age_days=10, used_days_ago=1)
    account.key_for_new_user("old-key", age_days=120, used_days_ago=1)
    account.key_for_new_user("unused-key", age_days=60, used_days_ago=50)
    # Policies on users: a managed one, CloudShell's, and an inline admin one.
    account.user("direct")
    reader = iam.create_policy(PolicyName="s3-reader", PolicyDocument=allowing("s3:GetObject"))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="direct", PolicyArn=reader)
    iam.attach_user_policy(UserName="direct", PolicyArn=cloudshell)
    account.user("admin-inline")
    iam.put_user_policy(UserName="admin-inline", PolicyName="everything", PolicyDocument=allowing("*"))
    # A group with AdministratorAccess and an inline admin policy, and a member.
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=admin)
    iam.put_group_policy(GroupName="admins", PolicyName="everything", PolicyDocument=allowing("*"))
    account.user("operator")
    iam.add_user_to_group(GroupName="admins", UserName="operator")
    # A role with AdministratorAccess, a customer *:* policy, an inline one and CloudShell's.
    # Assumed by people of the account, not a service: Prowler judges only those.
    iam.create_role(RoleName="ci", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}))
    everything = iam.create_policy(PolicyName="everything", PolicyDocument=allowing("*"))["Policy"]["Arn"]
    for arn in (admin, everything, cloudshell):
        iam.attach_role_policy(RoleName="ci", PolicyArn=arn)
    iam.put_role_policy(RoleName="ci", PolicyName="everything", PolicyDocument=allowing("*"))
    body, key = self_signed("expired.example.com", account.now - timedelta(days=1))
    iam.upload_server_certificate(ServerCertificateName="expired", CertificateBody=body, PrivateKey=key)
    return {}


def self_signed(name, expires):
    """A PEM certificate for `name` that expires at `expires`, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(expires - timedelta(days=365)).not_valid_after(expires)
                   .sign(key, hashes.SHA256()))
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return pem, private


def certificates(account):
    """Server certificates stored in IAM: one expired yesterday, one valid for 30 days."""
    now = datetime.now(timezone.utc)
    made = {}
    for name, expires in (("expired", now - timedelta(days=1)), ("valid", now + timedelta(days=30))):
        body, key = self_signed(f"{name}.example.com", expires)
        account.iam.upload_server_certificate(ServerCertificateName=name, CertificateBody=body, PrivateKey=key,
                                              CertificateChain=body)
        made[name] = body.strip()
    return made


def member_credentials(endpoint, account_id):
    """An account of the Organization as iam-warden reaches it: through its
    role, which moto lets anyone assume, its state kept apart by account."""
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/iam-warden", RoleSessionName="seed")
    c = assumed["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


def organization_join(account, unit):
    """A new member account, seeded as `organization` seeds each (the role,
    and user `drifted` with a 120-day-old active key) while it is still in
    the root, then moved into `unit`, as an account factory does."""
    org = boto3.client("organizations", endpoint_url=account.endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    root = org.list_roots()["Roots"][0]["Id"]
    created = org.create_account(Email="joined@example.com", AccountName="joined")["CreateAccountStatus"]
    account_id = created["AccountId"]
    seed_member(Account(account.endpoint, account_id))
    org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=unit)
    return {"account": account_id}


def seed_member(member):
    member.iam.create_role(RoleName="iam-warden", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}))
    member.key_for_new_user("drifted", age_days=120, used_days_ago=1)


def organization(account, count):
    """Member accounts spread over OU workloads, its child OU workloads/team-a,
    and OU sandbox; in each, the iam-warden role (as the StackSet makes it) and
    user `drifted` with a 120-day-old active key. One more account sits in the
    root, outside every OU."""
    org = boto3.client("organizations", endpoint_url=account.endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    workloads = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    team = org.create_organizational_unit(ParentId=workloads, Name="team-a")["OrganizationalUnit"]["Id"]
    sandbox = org.create_organizational_unit(ParentId=root, Name="sandbox")["OrganizationalUnit"]["Id"]
    made = {"root": root, "ous": {"workloads": workloads, "team-a": team, "sandbox": sandbox},
            "accounts": {}, "outside": None}
    for n in range(count + 1):
        name = f"member-{n:03d}"
        created = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        account_id = created["AccountId"]
        if n == count:
            made["outside"] = account_id
        else:
            ou = (workloads, team, sandbox)[n % 3]
            org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=ou)
            made["accounts"][account_id] = ou
        seed_member(Account(account.endpoint, account_id))
    return made


def organization_keys(account):
    """Each member account's `drifted` key status, by account id."""
    org = boto3.client("organizations", endpoint_url=account.endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    statuses = {}
    for page in org.get_paginator("list_accounts").paginate():
        for found in page["Accounts"]:
            member = Account(account.endpoint, found["Id"])
            try:
                keys = member.iam.list_access_keys(UserName="drifted")["AccessKeyMetadata"]
            except member.iam.exceptions.NoSuchEntityException:
                continue
            statuses[found["Id"]] = keys[0]["Status"]
    return statuses


def organization_reactivate(account):
    """Each member's `drifted` key active again, by hand; their ids by account."""
    keys = {}
    for account_id in organization_keys(account):
        member = Account(account.endpoint, account_id)
        key = member.iam.list_access_keys(UserName="drifted")["AccessKeyMetadata"][0]["AccessKeyId"]
        member.iam.update_access_key(UserName="drifted", AccessKeyId=key, Status="Active")
        keys[account_id] = key
    return keys


def quarantine(account):
    account.user("bob", console=True, age_days=3)
    return {}


def main():
    endpoint, scenario, *rest = sys.argv[1:]
    account = Account(endpoint)
    scenarios = {"drifted": drifted, "runner": runner, "restricted-runner": restricted_runner, "quarantine": quarantine,
                 "unfixable": unfixable, "targets": targets,
                 "expiring": lambda a: expiring(a, float(rest[0])),
                 "old-keys": lambda a: old_keys(a, int(rest[0])),
                 "old-active-keys": lambda a: old_active_keys(a, int(rest[0])),
                 "rollout": rollout, "irsa": irsa, "cis": cis,
                 "cis-account": cis_account, "certificates": certificates, "hub": hub, "permissions": permissions,
                 "passwords": lambda a: passwords(a, float(rest[0])),
                 "tampered": lambda a: tampered(a, int(rest[0])),
                 "compliant": lambda a: compliant(a, int(rest[0])),
                 "organization": lambda a: organization(a, int(rest[0])),
                 "organization-keys": organization_keys,
                 "organization-reactivate": organization_reactivate,
                 "organization-join": lambda a: organization_join(a, rest[0])}
    print(json.dumps(scenarios[scenario](account)))


if __name__ == "__main__":
    main()
