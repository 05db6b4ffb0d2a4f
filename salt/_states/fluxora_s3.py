"""S3 buckets for backups, artifacts and logs: versioning, default encryption, no public
access, lifecycle, replication to a bucket in another region, server access logs to a log
bucket, a bucket policy (log buckets: who may deliver), object ownership, tags.

Written on plain boto3 because saltext-boto3 1.2.0's ``boto3_s3_bucket.present`` is not
idempotent (ACL owner, lifecycle defaults, RequestPayment) and wants lifecycle as a list.
"""

from __future__ import annotations

import json
from typing import Any

from salt.exceptions import CommandExecutionError

__virtualname__ = "fluxora_s3"

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def __virtual__() -> Any:
    if "fluxora_aws.client" not in __salt__:
        return (False, "fluxora_s3 needs the fluxora_aws module (saltutil.sync_all) and boto3")
    return __virtualname__


def _u(name: str) -> Any:
    return __salt__[f"fluxora_aws.{name}"]


def _lifecycle_rules(lifecycle: dict[str, Any]) -> list[dict[str, Any]]:
    rule: dict[str, Any] = {
        "ID": "fluxora-retention",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    if lifecycle.get("transition_days"):
        rule["Transitions"] = [
            {
                "Days": int(lifecycle["transition_days"]),
                "StorageClass": lifecycle.get("storage_class", "STANDARD_IA"),
            }
        ]
    if lifecycle.get("expire_days"):
        rule["Expiration"] = {"Days": int(lifecycle["expire_days"])}
    if lifecycle.get("noncurrent_expire_days"):
        rule["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(lifecycle["noncurrent_expire_days"])
        }
    return [rule]


def _view_lifecycle(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the fields we set, so that defaults a server adds do not read as drift."""
    keep = (
        "ID",
        "Status",
        "Filter",
        "AbortIncompleteMultipartUpload",
        "Transitions",
        "Expiration",
        "NoncurrentVersionExpiration",
    )
    view = []
    for rule in rules:
        item = {key: rule[key] for key in keep if key in rule}
        if item.get("Filter") in ({}, {"Prefix": ""}):
            item["Filter"] = {"Prefix": ""}
        view.append(item)
    return view


def _replication(replication: dict[str, Any], s3_region: str) -> dict[str, Any]:
    role = _u("resolver")(s3_region)("iam-role", replication["role"])
    return {
        "Role": role,
        "Rules": [
            {
                "ID": "fluxora-dr-copy",
                "Priority": 1,
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                # A delete in the primary region must not delete the DR copy.
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "Destination": {
                    "Bucket": f"arn:aws:s3:::{replication['destination']}",
                    "StorageClass": replication.get("storage_class", "STANDARD"),
                },
            }
        ],
    }


def _view_replication(config: dict[str, Any]) -> dict[str, Any]:
    keep = ("ID", "Priority", "Status", "Filter", "DeleteMarkerReplication", "Destination")
    rules = [{key: rule[key] for key in keep if key in rule} for rule in config.get("Rules", [])]
    for rule in rules:
        rule["Destination"] = {
            key: rule["Destination"][key]
            for key in ("Bucket", "StorageClass")
            if key in rule["Destination"]
        }
    return {"Role": config.get("Role"), "Rules": rules}


def _read_optional(what: str, func: Any, missing: tuple[str, ...], **kwargs: Any) -> Any:
    try:
        return _u("call")(what, func, **kwargs)
    except CommandExecutionError as exc:
        if _u("error_code")(exc) in missing:
            return None
        raise


def _view_logging(enabled: dict[str, Any] | None) -> dict[str, str] | None:
    if not enabled:
        return None
    return {"bucket": enabled["TargetBucket"], "prefix": enabled.get("TargetPrefix", "")}


def _read_policy(s3: Any, name: str, view: dict[str, Any]) -> None:
    policy = _read_optional("policy", s3.get_bucket_policy, ("NoSuchBucketPolicy",), Bucket=name)
    view["policy"] = json.loads(policy["Policy"]) if policy else None
    owner = _read_optional(
        "ownership",
        s3.get_bucket_ownership_controls,
        ("OwnershipControlsNotFoundError",),
        Bucket=name,
    )
    rules = (owner or {}).get("OwnershipControls", {}).get("Rules", [{}])
    view["ownership"] = rules[0].get("ObjectOwnership")


def _read(s3: Any, name: str, want_replication: bool) -> dict[str, Any] | None:
    call = _u("call")
    exists = _read_optional(f"bucket {name}", s3.head_bucket, ("404", "NoSuchBucket"), Bucket=name)
    if exists is None:
        return None
    versioning = call("versioning", s3.get_bucket_versioning, Bucket=name).get("Status", "Off")
    enc = _read_optional(
        "encryption",
        s3.get_bucket_encryption,
        ("ServerSideEncryptionConfigurationNotFoundError",),
        Bucket=name,
    )
    pab = _read_optional(
        "public access block",
        s3.get_public_access_block,
        ("NoSuchPublicAccessBlockConfiguration",),
        Bucket=name,
    )
    life = _read_optional(
        "lifecycle",
        s3.get_bucket_lifecycle_configuration,
        ("NoSuchLifecycleConfiguration",),
        Bucket=name,
    )
    tags = _read_optional("tags", s3.get_bucket_tagging, ("NoSuchTagSet",), Bucket=name)
    logging = call("access logging", s3.get_bucket_logging, Bucket=name).get("LoggingEnabled")
    view = {
        "versioning": versioning,
        "encryption": (enc or {})
        .get("ServerSideEncryptionConfiguration", {})
        .get("Rules", [{}])[0]
        .get("ApplyServerSideEncryptionByDefault"),
        "public_access_block": (pab or {}).get("PublicAccessBlockConfiguration"),
        "lifecycle": _view_lifecycle((life or {}).get("Rules", [])),
        "tags": _u("tag_dict")((tags or {}).get("TagSet")),
        "access_log": _view_logging(logging),
    }
    _read_policy(s3, name, view)
    if want_replication:
        repl = _read_optional(
            "replication",
            s3.get_bucket_replication,
            ("ReplicationConfigurationNotFoundError",),
            Bucket=name,
        )
        view["replication"] = _view_replication((repl or {}).get("ReplicationConfiguration", {}))
    return view


def _writer(s3: Any, name: str, region: str, desired: dict[str, Any]) -> Any:
    call = _u("call")

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        if current is None:
            location = (
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            call(f"create bucket {name}", s3.create_bucket, Bucket=name, **location)
        # Order matters: replication needs versioning first.
        for key in (
            "versioning",
            "encryption",
            "public_access_block",
            "ownership",
            "policy",
            "lifecycle",
            "tags",
            "replication",
            "access_log",
        ):
            if key in keys:
                _put(s3, name, key, desired[key], call)

    return write


# setting -> (the S3 call that writes it, its arguments besides Bucket)
_PUT: dict[str, tuple[str, Any]] = {
    "versioning": ("put_bucket_versioning", lambda v: {"VersioningConfiguration": {"Status": v}}),
    "encryption": (
        "put_bucket_encryption",
        lambda v: {
            "ServerSideEncryptionConfiguration": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": v}]
            }
        },
    ),
    "public_access_block": (
        "put_public_access_block",
        lambda v: {"PublicAccessBlockConfiguration": v},
    ),
    "lifecycle": (
        "put_bucket_lifecycle_configuration",
        lambda v: {"LifecycleConfiguration": {"Rules": v}},
    ),
    "tags": ("put_bucket_tagging", lambda v: {"Tagging": {"TagSet": _u("tag_list")(v)}}),
    "replication": ("put_bucket_replication", lambda v: {"ReplicationConfiguration": v}),
    "access_log": (
        "put_bucket_logging",
        lambda v: {
            "BucketLoggingStatus": (
                {"LoggingEnabled": {"TargetBucket": v["bucket"], "TargetPrefix": v["prefix"]}}
                if v
                else {}
            )
        },
    ),
    "policy": ("put_bucket_policy", lambda v: {"Policy": json.dumps(v)}),
    "ownership": (
        "put_bucket_ownership_controls",
        lambda v: {"OwnershipControls": {"Rules": [{"ObjectOwnership": v}]}},
    ),
}


def _put(s3: Any, name: str, key: str, value: Any, call: Any) -> None:
    if key == "policy" and value is None:
        call("delete policy", s3.delete_bucket_policy, Bucket=name)
        return
    method, arguments = _PUT[key]
    call(key, getattr(s3, method), Bucket=name, **arguments(value))


def bucket_present(
    name: str,
    region: str,
    tags: dict[str, str],
    lifecycle: dict[str, Any] | None = None,
    replication: dict[str, Any] | None = None,
    kms_key_id: str | None = None,
    access_log: dict[str, str] | None = None,
    policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Ensure bucket `name` exists in `region` with Fluxora's settings.

    lifecycle: {transition_days, storage_class, expire_days, noncurrent_expire_days}
    replication: {role: IAM role name, destination: bucket name, storage_class}
    kms_key_id: encrypt with this KMS key instead of S3-managed keys (AES256).
    access_log: {bucket, prefix}: server access logs go there (a bucket of the same region).
    policy: the bucket policy, owned whole (log buckets: the services that deliver to it).
    Objects always belong to the bucket owner (ACLs off).
    """
    try:
        tags = _u("check_tags")(tags)
        s3 = _u("client")("s3", region)
        encryption = (
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id}
            if kms_key_id
            else {"SSEAlgorithm": "AES256"}
        )
        desired: dict[str, Any] = {
            "versioning": "Enabled",
            "encryption": encryption,
            "public_access_block": PUBLIC_ACCESS_BLOCK,
            "lifecycle": _lifecycle_rules(lifecycle or {}),
            "tags": tags,
            "access_log": dict(access_log) if access_log else None,
            "policy": policy,
            "ownership": "BucketOwnerEnforced",
        }
        if replication:
            desired["replication"] = _replication(replication, region)
    except CommandExecutionError as exc:
        return _u("refused")("bucket", name, exc, bool(__opts__.get("test")))
    return _u("converge")(
        name,
        "bucket",
        lambda: _read(s3, name, bool(replication)),
        desired,
        _writer(s3, name, region, desired),
        bool(__opts__.get("test")),
    )
