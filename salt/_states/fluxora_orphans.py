"""Orphans: resources tagged as this environment's (ManagedBy and Environment as in pillar
`fluxora:tags`) that pillar no longer declares. Applied last by `aws` (aws/orphans.sls).

Covered: S3 buckets named `<env prefix>-*`, security groups, Auto Scaling groups and launch
templates. Under test=True (what a deploy plan runs) each orphan is listed as to be removed,
result None; an apply deletes them. Never deleted (the state fails naming them, after removing
the others): a bucket that still holds any object version or delete marker, an Auto Scaling
group with instances (and its launch template); the operator empties them or declares them
again. Anything without both of our tags is never looked at.
"""

from __future__ import annotations

from typing import Any

from salt.exceptions import CommandExecutionError

__virtualname__ = "fluxora_orphans"


def __virtual__() -> Any:
    if "fluxora_aws.client" not in __salt__:
        return (False, "fluxora_orphans needs the fluxora_aws module (saltutil.sync_all) and boto3")
    return __virtualname__


def _u(name: str) -> Any:
    return __salt__[f"fluxora_aws.{name}"]


def _ours(found: dict[str, str], tags: dict[str, str]) -> bool:
    return all(found.get(key) == tags[key] for key in ("ManagedBy", "Environment"))


def _bucket_tags(s3: Any, name: str) -> dict[str, str]:
    try:
        answer = _u("call")(f"tags of bucket {name}", s3.get_bucket_tagging, Bucket=name)
    except CommandExecutionError as exc:
        if _u("error_code")(exc) in ("NoSuchTagSet", "NoSuchBucket"):
            return {}
        raise
    return dict(_u("tag_dict")(answer.get("TagSet")))


def _orphan_buckets(
    prefix: str, tags: dict[str, str], declared: set[str], region: str
) -> list[dict[str, Any]]:
    """Only buckets named `<prefix>-*` are looked at: the deployer may read no other's tags."""
    s3 = _u("client")("s3", region)
    listed = _u("call")("list buckets", s3.list_buckets).get("Buckets", [])
    names = {b["Name"] for b in listed if b["Name"].startswith(f"{prefix}-")}
    orphans = []
    for name in sorted(names - declared):
        if _ours(_bucket_tags(s3, name), tags):
            location = _u("call")(f"bucket {name}", s3.get_bucket_location, Bucket=name)
            where = location.get("LocationConstraint") or "us-east-1"
            orphan = {"kind": "bucket", "name": name, "region": where}
            held = _versions(_u("client")("s3", where), name)
            if held:
                orphan["refuse"] = (
                    "not empty",
                    f"holds {held} object versions or delete markers (or more): "
                    "empty it yourself or declare it in pillar again",
                )
            orphans.append(orphan)
    return orphans


def _versions(s3: Any, name: str) -> int:
    """How many object versions and delete markers bucket `name` holds (up to one page)."""
    answer = _u("call")(
        f"versions in bucket {name}", s3.list_object_versions, Bucket=name, MaxKeys=1000
    )
    return len(answer.get("Versions", [])) + len(answer.get("DeleteMarkers", []))


def _orphan_groups(tags: dict[str, str], declared: set[str], region: str) -> list[dict[str, Any]]:
    ec2 = _u("client")("ec2", region)
    filters = [
        {"Name": f"tag:{key}", "Values": [tags[key]]} for key in ("ManagedBy", "Environment")
    ]
    found = _u("call")(
        f"security groups in {region}", ec2.describe_security_groups, Filters=filters
    )["SecurityGroups"]
    return [
        {"kind": "security group", "name": g["GroupName"], "region": region, "id": g["GroupId"]}
        for g in sorted(found, key=lambda g: g["GroupName"])
        if g["GroupName"] not in declared
    ]


def _all_pages(client: Any, operation: str) -> dict[str, Any]:
    return dict(client.get_paginator(operation).paginate().build_full_result())


def _orphan_scaling(tags: dict[str, str], declared: set[str], region: str) -> list[dict[str, Any]]:
    """Auto Scaling groups and launch templates (a group and its template share a name). A
    group with instances is refused (scale it to 0 first), and so is its template."""
    call = _u("call")
    asg = _u("client")("autoscaling", region)
    ec2 = _u("client")("ec2", region)
    groups = call(f"Auto Scaling groups in {region}", _all_pages, client=asg,
                  operation="describe_auto_scaling_groups")  # fmt: skip
    templates = call(f"launch templates in {region}", _all_pages, client=ec2,
                     operation="describe_launch_templates")  # fmt: skip
    orphans, busy = [], set()
    for group in groups["AutoScalingGroups"]:
        name = group["AutoScalingGroupName"]
        if name in declared or not _ours(_u("tag_dict")(group.get("Tags")), tags):
            continue
        orphan = {"kind": "Auto Scaling group", "name": name, "region": region}
        if group["Instances"] or group["DesiredCapacity"]:
            busy.add(name)
            orphan["refuse"] = (
                "has instances",
                f"has {len(group['Instances'])} instances (desired {group['DesiredCapacity']}): "
                "scale it to 0 yourself or declare it in pillar again",
            )
        orphans.append(orphan)
    for template in templates["LaunchTemplates"]:
        name = template["LaunchTemplateName"]
        if name in declared or not _ours(_u("tag_dict")(template.get("Tags")), tags):
            continue
        orphan = {"kind": "launch template", "name": name, "region": region}
        orphan["id"] = template["LaunchTemplateId"]
        if name in busy:
            orphan["refuse"] = ("its group has instances", "is its Auto Scaling group's")
        orphans.append(orphan)
    return sorted(orphans, key=lambda o: (o["kind"], o["name"]))


def _label(orphan: dict[str, Any]) -> str:
    label = f"{orphan['kind']} {orphan['name']} ({orphan['region']})"
    if "refuse" in orphan:
        label += f" [{orphan['refuse'][0]}: an apply refuses it]"
    return label


def _delete_buckets(buckets: list[dict[str, Any]]) -> None:
    for bucket in buckets:
        s3 = _u("client")("s3", bucket["region"])
        _u("call")(f"delete bucket {bucket['name']}", s3.delete_bucket, Bucket=bucket["name"])


def _delete_scaling_groups(groups: list[dict[str, Any]]) -> None:
    for group in groups:
        asg = _u("client")("autoscaling", group["region"])
        _u("call")(f"delete Auto Scaling group {group['name']}", asg.delete_auto_scaling_group,
                   AutoScalingGroupName=group["name"])  # fmt: skip


def _delete_templates(templates: list[dict[str, Any]]) -> None:
    for template in templates:
        ec2 = _u("client")("ec2", template["region"])
        _u("call")(f"delete launch template {template['name']}", ec2.delete_launch_template,
                   LaunchTemplateId=template["id"])  # fmt: skip


def _delete_groups(groups: list[dict[str, Any]]) -> None:
    """Revoke every rule of the orphan groups first (one may name another), then delete them."""
    call = _u("call")
    for group in groups:
        ec2 = _u("client")("ec2", group["region"])
        (found,) = call(
            f"security group {group['name']}", ec2.describe_security_groups, GroupIds=[group["id"]]
        )["SecurityGroups"]
        if found["IpPermissions"]:
            call("revoke ingress", ec2.revoke_security_group_ingress, GroupId=group["id"],
                 IpPermissions=found["IpPermissions"])  # fmt: skip
        if found["IpPermissionsEgress"]:
            call("revoke egress", ec2.revoke_security_group_egress, GroupId=group["id"],
                 IpPermissions=found["IpPermissionsEgress"])  # fmt: skip
    for group in groups:
        ec2 = _u("client")("ec2", group["region"])
        call(f"delete security group {group['name']}", ec2.delete_security_group,
             GroupId=group["id"])  # fmt: skip


# In this order: a group's template after the group, security groups after what launches into
# them.
_DELETE = (
    ("Auto Scaling group", _delete_scaling_groups),
    ("launch template", _delete_templates),
    ("security group", _delete_groups),
    ("bucket", _delete_buckets),
)


def _remove(orphans: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Delete the orphans not refused: (labels removed, reasons refused)."""
    refused = [
        f"{o['kind']} {o['name']} ({o['region']}) not deleted: it {o['refuse'][1]}"
        for o in orphans
        if "refuse" in o
    ]
    removed = []
    for kind, delete in _DELETE:
        these = [o for o in orphans if o["kind"] == kind and "refuse" not in o]
        delete(these)
        removed += [_label(o) for o in these]
    return removed, refused


def absent(
    name: str,
    tags: dict[str, str],
    regions: list[str],
    buckets: list[str],
    security_groups: list[str],
    scaling_groups: list[str],
) -> dict[str, Any]:
    """Remove the environment's orphans: buckets named `<name>-*`, and security groups, Auto
    Scaling groups and launch templates in `regions`, tagged ManagedBy and Environment as
    `tags` says, that are not in `buckets` / `security_groups` / `scaling_groups` (the names
    pillar declares; a group's launch template has its name). Under test=True, list them
    (result None)."""
    ret: dict[str, Any] = {"name": name, "result": True, "comment": "", "changes": {}}
    try:
        tags = _u("check_tags")(tags)
        orphans = _orphan_buckets(name, tags, set(buckets), regions[0])
        for region in regions:
            orphans += _orphan_scaling(tags, set(scaling_groups), region)
            orphans += _orphan_groups(tags, set(security_groups), region)
        if not orphans:
            ret["comment"] = "no orphans"
            return ret
        labels = [_label(orphan) for orphan in orphans]
        if __opts__.get("test"):
            ret.update(result=None, comment=f"orphans: {', '.join(labels)} would be removed",
                       changes={"orphans": labels})  # fmt: skip
            return ret
        removed, refused = _remove(orphans)
    except CommandExecutionError as exc:
        return {**ret, "result": False, "comment": f"orphans of {name}: {exc}"}
    comment = f"orphans removed: {', '.join(removed) or 'none'}"
    if refused:
        comment += "; refused: " + "; ".join(refused)
    ret.update(result=not refused, comment=comment,
               changes={"removed": removed} if removed else {})  # fmt: skip
    return ret
