"""Drives a running iam-warden daemon through the emulator, as a person would.

usage: events.py ENDPOINT create-queue           prints the URL of a queue with a dead-letter queue
       events.py ENDPOINT drift QUEUE_URL        makes two violations and fixes a role's trust policy,
                                                 sends their events, and times each fix
       events.py ENDPOINT organization QUEUE_URL AUDITED_OU
                                                 reactivates each member account's old key by hand,
                                                 forwards its event, and times each fix; keys in the
                                                 audited OU must stay active

Each event is a CloudTrail record in the EventBridge envelope, as an
EventBridge rule would deliver it to the queue.
"""

import json
import sys
import time
import uuid
from datetime import datetime, timezone

import boto3

import seed
from seed import github_trust

THUMBPRINT = "6938fd4d98bab03faadb97b34396831e3780aea1"


def clients(endpoint):
    session = boto3.session.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1")
    return session.client("iam", endpoint_url=endpoint), session.client("sqs", endpoint_url=endpoint)


def create_queue(sqs):
    dlq = sqs.create_queue(QueueName="iam-warden-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    return sqs.create_queue(QueueName="iam-warden-events",
                            Attributes={"VisibilityTimeout": "30", "RedrivePolicy": redrive})["QueueUrl"]


def event(name, request, response, event_id=None, account="123456789012"):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam", "account": account, "time": now, "region": "us-east-1",
        "detail": {
            "eventVersion": "1.08", "eventTime": now, "eventSource": "iam.amazonaws.com", "eventName": name,
            "awsRegion": "us-east-1", "eventID": event_id or str(uuid.uuid4()), "eventType": "AwsApiCall",
            "userIdentity": {"type": "IAMUser", "userName": "intruder",
                             "arn": "arn:aws:iam::123456789012:user/intruder"},
            "requestParameters": request, "responseElements": response,
        },
    })


def timed(label, send, fixed):
    started = time.monotonic()
    send()
    while not fixed():
        if time.monotonic() - started > 30:
            print(f"  {label}: NOT fixed within 30 s")
            return False
        time.sleep(0.01)
    print(f"  {label}: fixed {1000 * (time.monotonic() - started):.0f} ms after its event was sent")
    return True


def drift(iam, sqs, queue_url):
    arn = iam.create_open_id_connect_provider(Url="https://rogue.example.com", ClientIDList=["sts.amazonaws.com"],
                                              ThumbprintList=[THUMBPRINT])["OpenIDConnectProviderArn"]
    print("created OIDC provider rogue.example.com, an issuer the policy does not allow")

    def provider_gone():
        return arn not in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]

    ok = timed("rogue OIDC provider deleted",
               lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=event(
                   "CreateOpenIDConnectProvider", {"url": "https://rogue.example.com"},
                   {"openIDConnectProviderArn": arn})),
               provider_gone)

    key = next(k for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"] if k["Status"] == "Inactive")
    iam.update_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"], Status="Active")
    print(f"reactivated alice's 120-day-old key {key['AccessKeyId']} by hand")

    def key_inactive():
        keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
        return any(k["AccessKeyId"] == key["AccessKeyId"] and k["Status"] == "Inactive" for k in keys)

    ok &= timed("old key deactivated again",
                lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=event(
                    "UpdateAccessKey", {"userName": "alice", "accessKeyId": key["AccessKeyId"], "status": "Active"},
                    None)),
                key_inactive)

    narrowed = "repo:my-org/deploy:ref:refs/heads/main"
    iam.update_assume_role_policy(RoleName="deploy", PolicyDocument=github_trust(narrowed))
    print(f"the owner of role deploy, quarantined for trusting repo:*, narrows it to {narrowed}")

    def released():
        attached = iam.list_attached_role_policies(RoleName="deploy")["AttachedPolicies"]
        return not any(p["PolicyName"] == "iam-warden-deny-all" for p in attached)

    ok &= timed("quarantine of role deploy lifted",
                lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=event(
                    "UpdateAssumeRolePolicy", {"roleName": "deploy"}, None)),
                released)

    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    iam.create_user(UserName="contractor")
    iam.attach_user_policy(UserName="contractor", PolicyArn=admin)
    print("created user contractor and attached AdministratorAccess to it directly")
    admin_event = str(uuid.uuid4())

    def detached():
        return not iam.list_attached_user_policies(UserName="contractor")["AttachedPolicies"]

    ok &= timed("admin policy detached",
                lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=event(
                    "AttachUserPolicy", {"userName": "contractor", "policyArn": admin}, None, admin_event)),
                detached)
    print(f"admin event {admin_event}")

    iam.create_group(GroupName="operators")
    iam.create_user(UserName="oncall")
    iam.add_user_to_group(GroupName="operators", UserName="oncall")
    iam.attach_group_policy(GroupName="operators", PolicyArn=admin)
    print("created group operators with member oncall, and attached AdministratorAccess to the group")

    def group_detached():
        return (not iam.list_attached_group_policies(GroupName="operators")["AttachedPolicies"]
                and bool(iam.get_group(GroupName="operators")["Users"]))

    ok &= timed("admin policy detached from the group, its member kept",
                lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=event(
                    "AttachGroupPolicy", {"groupName": "operators", "policyArn": admin}, None)),
                group_detached)

    iam.put_role_policy(RoleName="ci", PolicyName="everything", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    print("put an inline policy allowing everything on role ci")

    def role_fixed():
        return not iam.list_role_policies(RoleName="ci")["PolicyNames"]

    ok &= timed("admin inline policy deleted from the role, journaled first",
                lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=event(
                    "PutRolePolicy", {"roleName": "ci", "policyName": "everything"}, None)),
                role_fixed)
    return ok


def organization(endpoint, sqs, queue_url, audited_ou):
    """Each member's `drifted` key reactivated and its event forwarded, as the
    member's EventBridge rule would: enforced accounts are fixed, the audited
    OU's are left as they are."""
    org = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="demo", aws_secret_access_key="demo")
    ok = True
    audited = []
    for account_id, key in seed.organization_reactivate(seed.Account(endpoint)).items():
        parent = org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
        iam = seed.Account(endpoint, account_id).iam

        def status():
            return iam.list_access_keys(UserName="drifted")["AccessKeyMetadata"][0]["Status"]

        def send():
            body = event("UpdateAccessKey", {"userName": "drifted", "accessKeyId": key, "status": "Active"}, None,
                         account=account_id)
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)

        if parent == audited_ou:
            send()
            audited.append((account_id, status))
        elif parent.startswith("ou-"):
            print(f"account {account_id}: its 120-day-old key made active again by hand")
            ok &= timed(f"account {account_id}: deactivated again", send, lambda: status() == "Inactive")
    time.sleep(2)
    for account_id, status in audited:
        print(f"account {account_id}, audited OU: key still {status()} two seconds after its event (audit mode)")
        ok &= status() == "Active"
    return ok


def main():
    endpoint, command, *rest = sys.argv[1:]
    iam, sqs = clients(endpoint)
    if command == "create-queue":
        print(create_queue(sqs))
    elif command == "organization":
        sys.exit(0 if organization(endpoint, sqs, rest[0], rest[1]) else 1)
    else:
        sys.exit(0 if drift(iam, sqs, rest[0]) else 1)


if __name__ == "__main__":
    main()
