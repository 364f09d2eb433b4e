#!/usr/bin/env python3
"""Smoke test of a deployed shadowscale stack on a LocalStack-compatible endpoint.

    AWS_ENDPOINT_URL=http://localhost:4566 python3 localstack/smoke.py [--stack ShadowScale]

It detects what answers at the endpoint and does what that can do:

- every kind: the stack's outputs, the table's keys, the functions' runtime
  and environment (docs/CONTRACTS.md), the Kinesis event source mapping,
  the EC2 state-change rules and schedules, the shadow launch template with
  the agent's user data, and a stream round trip (PutRecords, then
  GetRecords from every shard);
- LocalStack (Lambda runs the functions): starts a "live" instance, sends
  its EC2 "running" event (PutEvents) and mutations (PutRecords), and waits
  for a shadow instance and for history items in the table;
- moto server (no Lambda execution, a rule with a Lambda target makes
  PutEvents fail): creates the enrolled demo Auto Scaling group (moto
  launches its live instance), builds the EC2 "running" event EventBridge
  would send for it, and runs the real launch bootstrap (make build; the
  one for this machine's architecture) under the Lambda Runtime Interface
  Emulator with the deployed function's environment; then checks the
  shadow and its record. The emulator is $AWS_LAMBDA_RIE, else
  .cache/tools/aws-lambda-rie (where the e2e harness and
  localstack/run-moto.sh install it), PATH or $GOPATH/bin. Without it, or
  without the bootstrap, that part is skipped with a message
  (SMOKE_RIE=1: a failure instead; SMOKE_RIE=0: always skipped).

Exit status 1 when a check fails. Needs only python3 and boto3.
"""

import argparse
import base64
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import boto3
from botocore.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# docs/CONTRACTS.md: which variables each function gets.
COMMON = {"SHADOWSCALE_STACK", "SHADOWSCALE_TABLE", "SHADOWSCALE_GROUPS", "SHADOWSCALE_NAMESPACE", "LOG_LEVEL"}
SHADOWING = {"SHADOWSCALE_POOLS", "SHADOWSCALE_SHADOW_CPU_FRACTION", "SHADOWSCALE_SHADOW_MEMORY_FRACTION",
             "SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES", "SHADOWSCALE_SHADOW_EXCLUDE_BURSTABLE",
             "SHADOWSCALE_SHADOW_REPLACEMENTS_PER_HOUR"}
AGENT = {"SHADOWSCALE_AGENT_PORT", "SHADOWSCALE_AGENT_SECRET_ARN", "SHADOWSCALE_AGENT_KMS_KEY"}
EXPECTED_ENV = {
    "launch": COMMON | SHADOWING,
    "terminate": COMMON | SHADOWING,
    "fanout": COMMON | AGENT | {"SHADOWSCALE_DLQ_URL", "SHADOWSCALE_DLQ_BUCKET", "SHADOWSCALE_ROUTE_TTL"},
    "forecaster": COMMON | {"SHADOWSCALE_MODE"},  # SHADOWSCALE_POLICY only when set
    "reconciler": COMMON | SHADOWING | AGENT,
}
OUTPUTS = ["TableName", "StreamName", "DeadLetterQueueUrl", "DeadLetterBucketName", "AgentSecretName", "ShadowLaunchTemplateId", "ShadowLaunchTemplateX86Id",
           "ShadowSecurityGroupId", "PlaneSecurityGroupId", "ShadowPools", "LiveAgentUserData",
           "LaunchFunctionName", "TerminateFunctionName", "FanoutFunctionName", "ForecasterFunctionName",
           "ReconcilerFunctionName"]


def record_pk(live):
    """The partition of a live instance's shadow record (docs/DYNAMODB.md):
    SHADOW#<FNV-1a 32 of the live instance id mod 16, two digits>."""
    h = 0x811C9DC5
    for b in live.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "SHADOW#%02d" % (h % 16)


class Smoke:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"  ok    {name}")
        else:
            self.failed += 1
            print(f"  FAIL  {name}: {detail}")
        return ok

    def skip(self, name, reason):
        self.skipped += 1
        print(f"  skip  {name}: {reason}")


def endpoint_kind(endpoint):
    """localstack, moto or aws (no endpoint override)."""
    if not endpoint:
        return "aws"
    for path, kind in (("/_localstack/health", "localstack"), ("/moto-api/config", "moto")):
        try:
            with urllib.request.urlopen(endpoint.rstrip("/") + path, timeout=3) as r:
                if 200 <= r.status < 300:
                    return kind
        except (urllib.error.URLError, OSError, ValueError):
            pass
    return "unknown"


def mutation_records(resource, n, first_seq=1):
    """Mutations in the wire format of shared/domain/mutation (version 1)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for i in range(n):
        m = {"v": 1, "resource": resource, "seq": first_seq + i, "op": "put", "key": f"smoke/{i}",
             "value": base64.b64encode(f"value {i}".encode()).decode(), "ts": now}
        out.append({"Data": json.dumps(m).encode(), "PartitionKey": resource})
    return out


def state_event(instance_id, state, account, region):
    """An EC2 Instance State-change Notification, shaped as EventBridge delivers it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": account,
        "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }


def scheduled_event(account, region, rule):
    """A scheduled EventBridge event, shaped as a rate() rule delivers it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"],
        "detail": {},
    }


def function_env(fns, fn, region):
    """The deployed function's environment, pointed at the endpoint."""
    env = dict(fns[fn]["Environment"]["Variables"])
    env.update({"AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"], "AWS_REGION": region,
                "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
                "AWS_LAMBDA_FUNCTION_NAME": fns[fn]["FunctionName"]})
    return env


def find_rie():
    for cand in (os.environ.get("AWS_LAMBDA_RIE"), os.path.join(REPO, ".cache", "tools", "aws-lambda-rie"),
                 shutil.which("aws-lambda-rie"), os.path.join(REPO, "build", "bin", "aws-lambda-rie"),
                 os.path.join(os.path.expanduser("~"), "go", "bin", "aws-lambda-rie")):
        if cand and os.access(cand, os.X_OK):
            return cand
    try:
        gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True, check=True).stdout.strip()
        cand = os.path.join(gopath, "bin", "aws-lambda-rie")
        if os.access(cand, os.X_OK):
            return cand
    except (OSError, subprocess.CalledProcessError):
        pass
    return None


def host_bootstrap(fn):
    """The function's bootstrap built for this machine (make build): amd64 or arm64."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return os.path.join(REPO, "build", "lambda-amd64", fn, "bootstrap")
    if machine in ("aarch64", "arm64"):
        return os.path.join(REPO, "build", "lambda", fn, "bootstrap")
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def invoke_under_rie(rie, bootstrap, env, event, timeout=60):
    """Runs bootstrap under the Runtime Interface Emulator, posts event, returns (status, body, logs)."""
    api, rapid = free_port(), free_port()
    full = dict(os.environ)
    full.update(env)
    full["AWS_LAMBDA_FUNCTION_NAME"] = env.get("AWS_LAMBDA_FUNCTION_NAME", "launch")
    logf = tempfile.TemporaryFile()
    proc = subprocess.Popen([rie, "--runtime-interface-emulator-address", f"127.0.0.1:{api}",
                             "--runtime-api-address", f"127.0.0.1:{rapid}", bootstrap],
                            env=full, stdout=logf, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{api}/2015-03-31/functions/function/invocations"
        deadline = time.time() + timeout
        while True:
            try:
                req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    status, body = r.status, r.read().decode(errors="replace")
                break
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read().decode(errors="replace")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.time() > deadline or proc.poll() is not None:
                    status, body = 0, "emulator did not answer"
                    break
                time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.seek(0)
        logs = logf.read().decode(errors="replace")
        logf.close()
    return status, body, logs


def shadows_of(ec2, live_id):
    res = ec2.describe_instances(Filters=[
        {"Name": "tag:shadowscale:live-instance", "Values": [live_id]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ])
    return [i for r in res["Reservations"] for i in r["Instances"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack", default=os.environ.get("STACK_NAME", "ShadowScale"))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("SMOKE_TIMEOUT", "120")),
                    help="seconds to wait for a shadow and history on LocalStack")
    ap.add_argument("--mutations", type=int, default=20)
    args = ap.parse_args()

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    region = os.environ.setdefault("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    kind = endpoint_kind(endpoint)
    print(f"smoke: stack {args.stack} at {endpoint or 'AWS'} ({kind})")
    if kind == "unknown":
        print(f"smoke: nothing LocalStack- or moto-like answers at {endpoint}", file=sys.stderr)
        return 1

    cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"})
    client = lambda name: boto3.client(name, region_name=region, config=cfg)  # noqa: E731
    cfn, ddb, kin, lam = client("cloudformation"), client("dynamodb"), client("kinesis"), client("lambda")
    ec2, events, sm = client("ec2"), client("events"), client("secretsmanager")
    t = Smoke()

    stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
    t.check("stack complete", stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack["StackStatus"])
    out = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
    missing = [k for k in OUTPUTS if not out.get(k)]
    if not t.check("stack outputs", not missing, f"missing {missing}"):
        print(f"smoke: {t.passed} passed, {t.failed} failed, {t.skipped} skipped")
        return 1
    account = stack["StackId"].split(":")[4]

    # The table.
    table = ddb.describe_table(TableName=out["TableName"])["Table"]
    keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
    t.check("table keys pk (HASH), sk (RANGE)", keys == {"pk": "HASH", "sk": "RANGE"}, keys)
    t.check("table on demand", table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST",
            table.get("BillingModeSummary"))
    ttl = ddb.describe_time_to_live(TableName=out["TableName"])["TimeToLiveDescription"]
    if kind == "moto":
        t.skip("table TTL expires_at", "moto's CloudFormation does not apply TimeToLiveSpecification")
    else:
        t.check("table TTL expires_at", ttl.get("AttributeName") == "expires_at", ttl)

    # The stream.
    summary = kin.describe_stream_summary(StreamName=out["StreamName"])["StreamDescriptionSummary"]
    t.check("stream active", summary["StreamStatus"] == "ACTIVE", summary["StreamStatus"])
    if kind == "moto":
        t.skip("stream on demand and encrypted", "moto's CloudFormation ignores StreamModeDetails and StreamEncryption")
    else:
        t.check("stream on demand", summary.get("StreamModeDetails", {}).get("StreamMode") == "ON_DEMAND", summary.get("StreamModeDetails"))
        t.check("stream encrypted", summary.get("EncryptionType") == "KMS", summary.get("EncryptionType"))

    # The functions.
    fns = {}
    for fn in EXPECTED_ENV:
        name = out[fn.capitalize() + "FunctionName"]
        conf = lam.get_function_configuration(FunctionName=name)
        fns[fn] = conf
        env = set((conf.get("Environment") or {}).get("Variables", {}))
        extra = env - EXPECTED_ENV[fn] - ({"SHADOWSCALE_POLICY"} if fn == "forecaster" else set())
        t.check(f"{fn}: provided.al2023, handler bootstrap",
                conf.get("Runtime") == "provided.al2023" and conf.get("Handler") == "bootstrap",
                (conf.get("Runtime"), conf.get("Handler")))
        t.check(f"{fn}: environment as in docs/CONTRACTS.md", EXPECTED_ENV[fn] <= env and not extra,
                f"missing {sorted(EXPECTED_ENV[fn] - env)}, unexpected {sorted(extra)}")
    fanout_env = fns["fanout"]["Environment"]["Variables"]
    t.check("fanout route cache: routeCacheSeconds' default (30s)", fanout_env.get("SHADOWSCALE_ROUTE_TTL") == "30s",
            fanout_env.get("SHADOWSCALE_ROUTE_TTL"))
    stack_env = fns["launch"]["Environment"]["Variables"]
    t.check("SHADOWSCALE_STACK is the stack name", stack_env.get("SHADOWSCALE_STACK") == args.stack, stack_env.get("SHADOWSCALE_STACK"))
    try:
        pools = json.loads(stack_env["SHADOWSCALE_POOLS"])
        t.check("SHADOWSCALE_POOLS is JSON with subnets per AZ",
                pools and all(p.get("subnets") and p.get("capacity", 0) > 0 for p in pools.values()), pools)
    except (KeyError, ValueError) as e:
        pools = {}
        t.check("SHADOWSCALE_POOLS is JSON with subnets per AZ", False, e)

    # The Kinesis mapping.
    maps = lam.list_event_source_mappings(FunctionName=out["FanoutFunctionName"])["EventSourceMappings"]
    if t.check("fanout has one event source mapping", len(maps) == 1, maps):
        m = maps[0]
        # Retried until a day below the stream's retention (7 days by
        # default), then written whole to the dead-letter bucket.
        want = {"BatchSize": 500, "MaximumBatchingWindowInSeconds": 0, "ParallelizationFactor": 4,
                "BisectBatchOnFunctionError": True, "MaximumRetryAttempts": -1, "MaximumRecordAgeInSeconds": 6 * 24 * 3600,
                "FunctionResponseTypes": ["ReportBatchItemFailures"]}
        got = {k: m.get(k) for k in want}
        t.check("mapping settings", got == want, got)
        dest = m.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", "")
        t.check("mapping on-failure is the dead-letter bucket", dest == "arn:aws:s3:::" + out["DeadLetterBucketName"], dest)

    # The dead-letter bucket (oversized letters, the mapping's on-failure records).
    try:
        client("s3").head_bucket(Bucket=out["DeadLetterBucketName"])
        t.check("dead-letter bucket exists", True)
    except Exception as e:  # noqa: BLE001 (any failure is the check's)
        t.check("dead-letter bucket exists", False, e)

    # The rules.
    patterns, schedules = [], []
    for r in events.list_rules(NamePrefix=args.stack)["Rules"]:
        if r.get("EventPattern"):
            patterns.append(json.loads(r["EventPattern"]))
        if r.get("ScheduleExpression"):
            schedules.append(r["ScheduleExpression"])
    states = sorted(tuple(sorted(p.get("detail", {}).get("state", []))) for p in patterns
                    if p.get("source") == ["aws.ec2"] and p.get("detail-type") == ["EC2 Instance State-change Notification"])
    t.check("EC2 state-change rule (shutting-down, terminated)",
            states == [("shutting-down", "terminated")], states)
    asg = sorted(p.get("detail-type", [""])[0] for p in patterns if p.get("source") == ["aws.autoscaling"])
    t.check("Auto Scaling rules (launch and terminate successful)",
            asg == ["EC2 Instance Launch Successful", "EC2 Instance Terminate Successful"], asg)
    t.check("schedules rate(1 minute), rate(5 minutes)", sorted(schedules) == ["rate(1 minute)", "rate(5 minutes)"], schedules)

    # The shadow launch template.
    lt = ec2.describe_launch_template_versions(LaunchTemplateId=out["ShadowLaunchTemplateId"],
                                               Versions=["$Latest"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    ud = base64.b64decode(lt.get("UserData", "")).decode(errors="replace")
    t.check("launch template user data runs the agent, enrolled with the stack's KMS key (no master key)",
            "shadow-agent --port" in ud and "--data-dir" in ud and "--kms-key " + out["AgentEnrollmentKeyArn"] in ud
            and "--secret-arn" not in ud, ud[:200])
    # The enrollment key seals for one instance's ARN and opens only under
    # it (what the agents rely on; IAM's part is checked by infra/'s tests).
    # Not DescribeKey: moto 5 fails it on a key its CloudFormation made.
    kms = client("kms")
    arn = lambda i: out["AgentEnrollmentKeyArn"].split(":key/")[0].replace(":kms:", ":ec2:") + ":instance/" + i  # noqa: E731
    try:
        blob = kms.encrypt(KeyId=out["AgentEnrollmentKeyArn"], Plaintext=b"enrollment",
                           EncryptionContext={"shadowscale-instance": arn("i-0smoke")})["CiphertextBlob"]
        got = kms.decrypt(CiphertextBlob=blob, KeyId=out["AgentEnrollmentKeyArn"],
                          EncryptionContext={"shadowscale-instance": arn("i-0smoke")})["Plaintext"]
        t.check("agent enrollment key seals for an instance", got == b"enrollment", got)
        try:
            kms.decrypt(CiphertextBlob=blob, KeyId=out["AgentEnrollmentKeyArn"],
                        EncryptionContext={"shadowscale-instance": arn("i-0other")})
            t.check("another instance's context cannot open it", False, "decrypted")
        except kms.exceptions.InvalidCiphertextException:
            t.check("another instance's context cannot open it", True)
    except (kms.exceptions.NotFoundException, kms.exceptions.InvalidCiphertextException) as e:
        t.check("agent enrollment key seals for an instance", False, e)
    t.check("launch template uses the shadow security group", out["ShadowSecurityGroupId"] in lt.get("SecurityGroupIds", []),
            lt.get("SecurityGroupIds"))

    # The agent key.
    try:
        sm.describe_secret(SecretId=out["AgentSecretName"])
        t.check("agent key secret exists", True)
    except sm.exceptions.ResourceNotFoundException:
        if kind == "moto":
            # moto's CloudFormation skips AWS::SecretsManager::Secret: make
            # what CloudFormation would have made, for the functions below.
            sm.create_secret(Name=out["AgentSecretName"], SecretString=uuid.uuid4().hex + uuid.uuid4().hex)
            t.skip("agent key secret exists", "moto's CloudFormation skips Secrets Manager: created it by name")
        else:
            t.check("agent key secret exists", False, "not found")

    # Stream round trip.
    resource = "i-smoke" + uuid.uuid4().hex[:10]
    records = mutation_records(resource, args.mutations)
    put = kin.put_records(StreamName=out["StreamName"], Records=records)
    t.check("PutRecords", put.get("FailedRecordCount", 0) == 0, put.get("FailedRecordCount"))
    got = []
    for shard in kin.list_shards(StreamName=out["StreamName"])["Shards"]:
        it = kin.get_shard_iterator(StreamName=out["StreamName"], ShardId=shard["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(20):
            r = kin.get_records(ShardIterator=it, Limit=1000)
            got += [json.loads(x["Data"]) for x in r["Records"] if x["PartitionKey"] == resource]
            it = r.get("NextShardIterator")
            if not it or (not r["Records"] and r.get("MillisBehindLatest", 0) == 0):
                break
    seqs = sorted(m["seq"] for m in got)
    t.check("stream round trip (GetRecords returns every mutation, in order per resource)",
            seqs == list(range(1, args.mutations + 1)), f"{len(got)} of {args.mutations}")

    if kind == "localstack":
        live_path_localstack(t, out, ec2, events, kin, ddb, args, account, region)
    elif kind == "moto":
        live_path_moto(t, out, fns, ec2, ddb, args, account, region)
    else:
        t.skip("launch event and history", "on AWS, EC2 sends the events itself: start an instance in an enrolled group")

    print(f"smoke: {t.passed} passed, {t.failed} failed, {t.skipped} skipped")
    return 1 if t.failed else 0


def demo_subnet(out, ec2):
    subnets = [s for s in (out.get("DemoLiveSubnetIds") or "").split(",") if s]
    if not subnets:
        return None, None
    sn = ec2.describe_subnets(SubnetIds=[subnets[0]])["Subnets"][0]
    return sn["SubnetId"], sn["AvailabilityZone"]


def check_shadow(t, ec2, out, live, az, stack):
    shadows = shadows_of(ec2, live)
    if not t.check("one shadow of the live instance", len(shadows) == 1, f"{len(shadows)} found"):
        return
    sh = shadows[0]
    tags = {x["Key"]: x["Value"] for x in sh.get("Tags", [])}
    t.check("shadow tags (role, stack)", tags.get("shadowscale:role") == "shadow" and tags.get("shadowscale:stack") == stack, tags)
    t.check("shadow in the live instance's AZ", sh["Placement"]["AvailabilityZone"] == az, sh["Placement"])
    pools = json.loads(out["ShadowPools"])
    t.check("shadow in a pool subnet of that AZ", sh.get("SubnetId") in pools.get(az, {}).get("subnets", []), sh.get("SubnetId"))


def live_path_localstack(t, out, ec2, events, kin, ddb, args, account, region):
    subnet, az = demo_subnet(out, ec2)
    if not subnet:
        t.skip("launch event", "no demo VPC (own VPC configured): start a live instance yourself")
        return
    image = ec2.describe_launch_template_versions(LaunchTemplateId=out["ShadowLaunchTemplateId"],
                                                  Versions=["$Latest"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"]
    group = os.environ.get("DEMO_GROUP", "shadowscale-demo")
    live = ec2.run_instances(ImageId=image, InstanceType="m6g.large", MinCount=1, MaxCount=1, SubnetId=subnet,
                             TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                 {"Key": "Name", "Value": "shadowscale-smoke-live"},
                                 {"Key": "aws:autoscaling:groupName", "Value": group}]}])["Instances"][0]["InstanceId"]
    print(f"smoke: live instance {live} in {az} (group {group})")
    # Auto Scaling's launch event (the stack's launch rule; the EC2
    # "running" rule is gone).
    res = events.put_events(Entries=[{
        "Source": "aws.autoscaling", "DetailType": "EC2 Instance Launch Successful",
        "Resources": [f"arn:aws:ec2:{region}:{account}:instance/{live}"],
        "Detail": json.dumps({"EC2InstanceId": live, "AutoScalingGroupName": group, "StatusCode": "InProgress",
                              "Origin": "EC2", "Destination": "AutoScalingGroup",
                              "Details": {"Availability Zone": az, "Subnet ID": subnet}}),
    }])
    t.check("PutEvents (launch successful)", res.get("FailedEntryCount", 0) == 0, res)
    deadline = time.time() + args.timeout
    while time.time() < deadline and not shadows_of(ec2, live):
        time.sleep(2)
    check_shadow(t, ec2, out, live, az, args.stack)

    kin.put_records(StreamName=out["StreamName"], Records=mutation_records(live, args.mutations))
    deadline = time.time() + args.timeout
    items = []
    while time.time() < deadline:
        items = ddb.scan(TableName=out["TableName"], Limit=500).get("Items", [])
        if any(live in json.dumps(i) and "hist" in json.dumps(i).lower() for i in items):
            break
        time.sleep(2)
    t.check("history items for the live instance's mutations", any(live in json.dumps(i) and "hist" in json.dumps(i).lower() for i in items),
            f"{len(items)} items in the table, none a history item naming {live}")


def live_path_moto(t, out, fns, ec2, ddb, args, account, region):
    subnet, az = demo_subnet(out, ec2)
    if not subnet:
        t.skip("launch path", "no demo VPC (own VPC configured)")
        return
    asg = boto3.client("autoscaling", region_name=region)
    group = os.environ.get("DEMO_GROUP", "shadowscale-demo")
    image = ec2.describe_launch_template_versions(LaunchTemplateId=out["ShadowLaunchTemplateId"],
                                                  Versions=["$Latest"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"]
    lt = ec2.create_launch_template(LaunchTemplateName=f"{group}-live-{uuid.uuid4().hex[:6]}",
                                    LaunchTemplateData={"ImageId": image, "InstanceType": "m6g.large",
                                                        "SecurityGroupIds": [out["DemoLiveSecurityGroupId"]]},
                                    TagSpecifications=[{"ResourceType": "launch-template", "Tags": [
                                        {"Key": "shadowscale:enrolled", "Value": "true"}]}])
    # The demo group: enrolled by its tag (and by name in the stack), with
    # its per-instance capacity, as an operator would set it up.
    tag = lambda k, v: {"Key": k, "Value": v, "PropagateAtLaunch": False,  # noqa: E731
                        "ResourceId": group, "ResourceType": "auto-scaling-group"}
    asg.create_auto_scaling_group(AutoScalingGroupName=group, MinSize=0, MaxSize=4, DesiredCapacity=1,
                                  LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplate"]["LaunchTemplateId"]},
                                  VPCZoneIdentifier=subnet,
                                  Tags=[tag("shadowscale:enrolled", "true"), tag("shadowscale:per-instance", "600")])
    insts = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    if not t.check("enrolled Auto Scaling group launched its live instance", len(insts) == 1, insts):
        return
    live = insts[0]["InstanceId"]
    print(f"smoke: live instance {live} of group {group} in {az}")

    mode = os.environ.get("SMOKE_RIE", "auto")
    bootstrap = host_bootstrap("launch")
    rie = find_rie()
    if mode == "0":
        t.skip("launch function under the emulator", "SMOKE_RIE=0")
        return
    if not bootstrap or not os.access(bootstrap, os.X_OK) or not rie:
        why = (f"needs {os.path.relpath(bootstrap, REPO) if bootstrap else 'a bootstrap for ' + platform.machine()} (make build) "
               "and aws-lambda-rie (make localstack-moto installs it into .cache/tools); moto runs no Lambda code itself")
        if mode == "1":
            t.check("launch function under the emulator", False, why)
        else:
            t.skip("launch function under the emulator", why)
        t.skip("history items", "the fan-out needs agents and Lambda execution: covered by `make e2e`, not here")
        return
    env = function_env(fns, "launch", region)
    start = time.time()
    status, body, logs = invoke_under_rie(rie, bootstrap, env, state_event(live, "running", account, region))
    print(f"smoke: launch under the emulator ({os.path.relpath(rie, REPO) if rie.startswith(REPO) else rie}) "
          f"answered in {time.time() - start:.1f} s: {body[:300]}")
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    t.check("launch function under the emulator answered ensured",
            status == 200 and answer.get("outcome") == "ensured" and answer.get("live") == live,
            f"HTTP {status}: {body[:300]}\n{logs[-1500:]}")
    check_shadow(t, ec2, out, live, az, args.stack)
    shadows = shadows_of(ec2, live)
    rec = ddb.get_item(TableName=out["TableName"], Key={"pk": {"S": record_pk(live)}, "sk": {"S": "LIVE#" + live}},
                       ConsistentRead=True).get("Item", {})
    t.check("shadow record in the table (active, names the shadow)",
            rec.get("status", {}).get("S") == "active" and bool(shadows)
            and rec.get("shadow_id", {}).get("S") == shadows[0]["InstanceId"] and rec.get("group", {}).get("S") == group,
            rec)
    # A second delivery of the same event (EventBridge is at-least-once) gives no second shadow.
    status, body, logs = invoke_under_rie(rie, bootstrap, env, state_event(live, "running", account, region))
    t.check("a repeated running event gives no second shadow",
            status == 200 and len(shadows_of(ec2, live)) == 1, f"HTTP {status}: {body[:300]}; {len(shadows_of(ec2, live))} shadows")
    t.skip("history items", "the fan-out needs agents on the instances: covered by `make e2e`, not here")

    # The forecaster with the stack's environment: it finds the demo group
    # (enrolled, its per-instance capacity from the tag) and forecasts it;
    # with no history yet it observes no minute, and reports no error.
    fbootstrap = host_bootstrap("forecaster")
    if not fbootstrap or not os.access(fbootstrap, os.X_OK):
        t.skip("forecaster under the emulator", f"no bootstrap for {platform.machine()} (make build)")
        return
    status, body, logs = invoke_under_rie(rie, fbootstrap, function_env(fns, "forecaster", region),
                                          scheduled_event(account, region, args.stack + "-ForecasterSchedule"))
    print(f"smoke: forecaster under the emulator answered: {body[:300]}")
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    groups = {g.get("group"): g for g in answer.get("groups") or []}
    t.check("forecaster under the emulator forecasts the demo group without error",
            status == 200 and group in groups and not groups[group].get("error"),
            f"HTTP {status}: {body[:400]}\n{logs[-1500:]}")


if __name__ == "__main__":
    sys.exit(main())
