"""The Organization scenario of the benchmark: one daemon serving 100
accounts of 100 compliant users each, through each account's role.

Measures the first full resync of every account (wall time, IAM calls per
account), the idle footprint holding them all, and event-to-fix latency with
events spread over every account, each forwarded as a member's EventBridge
rule would (the envelope names the account).
"""

import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import bench
import events
import seed


def seed_member(member, users):
    """An account as compliant as the bench's single one, plus one user whose
    old key is inactive, for events to reactivate."""
    member.iam.create_role(RoleName="iam-warden", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}))
    member.iam.update_account_password_policy(
        MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True, RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True, AllowUsersToChangePassword=True, MaxPasswordAge=90,
        PasswordReusePrevention=24, HardExpiry=False)
    member.provider("token.actions.githubusercontent.com", ["sts.amazonaws.com"])
    # Bucket names are global: each account's trail logs to its own.
    bucket = f"trail-{member.account_id}"
    member.s3.create_bucket(Bucket=bucket)
    member.cloudtrail.create_trail(Name="org-trail", S3BucketName=bucket, IsMultiRegionTrail=True)
    member.cloudtrail.start_logging(Name="org-trail")
    bench.seed_users(member, users, 0)
    return member.key_for_new_user("burst", age_days=100, active=False)


def forwarded(account, key):
    body = json.loads(bench.announcement("burst", key))
    body["account"] = account
    return json.dumps(body)


def scenario(warden, policy, out, accounts=100, users=100):
    emulator = bench.Emulator()
    try:
        org = seed.boto3.client("organizations", endpoint_url=emulator.endpoint, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        org.create_organization(FeatureSet="ALL")
        root = org.list_roots()["Roots"][0]["Id"]
        unit = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
        members, keys = {}, []
        for n in range(accounts):
            created = org.create_account(Email=f"m{n}@example.com", AccountName=f"member-{n:03d}")
            account_id = created["CreateAccountStatus"]["AccountId"]
            org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=unit)
            members[account_id] = seed.Account(emulator.endpoint, account_id)
            keys.append((account_id, seed_member(members[account_id], users)))
            if n % 10 == 9:
                print(f"    seeded {n + 1} accounts", file=sys.stderr, flush=True)
        queue_url = events.create_queue(emulator.sqs)
        settings = Path(tempfile.mkdtemp()) / "settings.yaml"
        settings.write_text(f"accounts:\n  organization:\n    include: [{unit}]\n")
        started = time.monotonic()
        daemon = bench.Daemon(warden, emulator.endpoint, policy, queue_url, out / "daemon-organization.log",
                              config=settings)
        try:
            daemon.wait_for_log(lambda r: len(resynced(daemon)) >= accounts, seconds=900)
            wall = time.monotonic() - started
            iam_calls = iam_requests(daemon)
            print("  idle footprint holding every account, 60 s", file=sys.stderr, flush=True)
            idle = bench.idle(daemon)
            print("  events spread over every account, 10/s", file=sys.stderr, flush=True)
            latency = bench.timed_events(
                emulator, daemon, keys,
                lambda item: bench.reactivate(members[item[0]], "burst", item[1]),
                lambda item: emulator.sqs.send_message(QueueUrl=queue_url, MessageBody=forwarded(*item)),
                lambda _iam, item: bench.inactive(members[item[0]].iam, "burst", item[1]))
        finally:
            daemon.stop()
        print("  which accounts each of 3, then 4, replicas serves", file=sys.stderr, flush=True)
        moved = shard_move(warden, emulator.endpoint, policy, queue_url, settings, out)
        return {"accounts": accounts, "users_per_account": users, "first_resync_seconds": round(wall, 1),
                "iam_calls_per_account": round(iam_calls / accounts, 1), "idle": idle, "latency": latency,
                "fourth_replica_moves": moved}
    finally:
        emulator.stop()


def owners(warden, endpoint, policy, queue_url, settings, out, replicas):
    """Account id to the replica that serves it, as each replica's own start-up log says."""
    owner = {}
    for index in range(replicas):
        daemon = bench.Daemon(warden, endpoint, policy, queue_url, out / f"daemon-shard-{index}-of-{replicas}.log",
                              config=settings, shard=f"{index}/{replicas}")
        try:
            line = daemon.wait_for_log(lambda r: r.get("message") == "serving accounts")
        finally:
            daemon.stop()
        owner.update({account: index for account in line["ids"].split(",") if account})
    return owner


def shard_move(warden, endpoint, policy, queue_url, settings, out):
    """The share of accounts whose replica changes when a fourth joins three."""
    before = owners(warden, endpoint, policy, queue_url, settings, out, 3)
    after = owners(warden, endpoint, policy, queue_url, settings, out, 4)
    assert before.keys() == after.keys(), "every account is served by one replica either way"
    moved = [account for account in before if before[account] != after[account]]
    assert all(after[account] == 3 for account in moved), "accounts move only to the new replica"
    return round(len(moved) / len(before), 3)


def iam_requests(daemon):
    """IAM calls so far: the daemon's own counters, every operation and outcome."""
    page = urllib.request.urlopen(f"http://{daemon.address}/metrics").read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
               if line.startswith("iam_warden_aws_requests_total{") and 'service="iam"' in line)


def resynced(daemon):
    """Accounts whose full resync the daemon has logged."""
    accounts = set()
    for line in Path(daemon.log_path).read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("message") == "reconciled" and record.get("key") == "all" and record.get("account"):
            accounts.add(record["account"])
    return accounts


def rows(result):
    """The scenario's lines of the benchmark's table."""
    latency, idle = result["latency"], result["idle"]
    size = f"{result['accounts']} accounts × {result['users_per_account']} users"
    quantiles = f"{latency['p50_seconds']} / {latency['p99_seconds']} s"
    return [
        f"| {size}, compliant | first resync of every account: wall; IAM calls per account | "
        f"{result['first_resync_seconds']} s; {result['iam_calls_per_account']} | ≤ 15 IAM calls per account |",
        f"| {size} | idle daemon holding them all: RSS max | {idle['rss_mib_max']} MiB | ≤ 60 MB |",
        f"| {size}, events over every account, 10/s | event → fix p50 / p99 | {quantiles} | p99 < 1 s |",
        f"| {result['accounts']} accounts, 3 replicas become 4 | share of accounts that move (all to the new one) | "
        f"{result['fourth_replica_moves']:.0%} | ≤ 35 % (jump hash: about 25 %) |",
    ]
