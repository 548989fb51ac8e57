"""Worker-side example: hold ECS task scale-in protection while a job runs.

preheat (like ECS service scaling and the MI optimizer) will not stop a protected task, so a
worker sets protection before it starts a job and clears it right after. The ECS agent
injects ECS_AGENT_URI into every task, Managed Instances included. Standard library only.
"""

import json
import os
import urllib.request

import boto3  # only for the SQS loop below

AGENT = os.environ.get("ECS_AGENT_URI")  # absent outside ECS: protection is a no-op then

# The longest job, plus margin. The message stays invisible this long and the task protected
# no longer (protection expiry <= visibility timeout; both must cover the longest job).
VISIBILITY_TIMEOUT_S = 90 * 60
PROTECTION_MINUTES = VISIBILITY_TIMEOUT_S // 60
assert PROTECTION_MINUTES * 60 <= VISIBILITY_TIMEOUT_S


def set_protection(enabled: bool, expires_minutes: int = 120) -> None:
    """PUT $ECS_AGENT_URI/task-protection/v1/state; expiry bounds a crashed worker's hold."""
    if not AGENT:
        return
    body = {"ProtectionEnabled": enabled}
    if enabled:
        body["ExpiresInMinutes"] = expires_minutes  # 1..2880
    req = urllib.request.Request(
        f"{AGENT}/task-protection/v1/state",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        answer = json.load(r)
    if "failure" in answer:
        raise RuntimeError(f"task protection: {answer['failure']}")


def handle(message: dict) -> None:
    ...  # transcribe, render, infer: the GPU work


def main() -> None:
    sqs = boto3.client("sqs")
    queue_url = os.environ["QUEUE_URL"]
    while True:
        got = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=20,
            VisibilityTimeout=VISIBILITY_TIMEOUT_S,
        ).get("Messages", [])
        for m in got:
            # Protect at once: between receive and protect the task holds a message but looks
            # idle to ECS (preheat still counts it from the in-flight messages). The protection
            # must not outlive the message's visibility: once the message is visible again
            # another worker may take it, and this task would be held for nothing.
            set_protection(True, expires_minutes=PROTECTION_MINUTES)
            try:
                handle(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            finally:
                set_protection(False)
        # Do not exit on an empty queue: preheat decides when workers go (a self-exiting
        # worker under desiredCount > 0 restarts in a loop).


if __name__ == "__main__":
    main()
