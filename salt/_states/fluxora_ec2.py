"""Security groups (in and out only what pillar lists), launch templates and VPC flow logs,
tagged.

Written on plain boto3: saltext-boto3 1.2.0's ``boto3_secgroup.present`` raises KeyError
'from_port' on an all-protocol egress rule, and it has no launch templates at all.
"""

from __future__ import annotations

import base64
from typing import Any

from salt.exceptions import CommandExecutionError

__virtualname__ = "fluxora_ec2"


def __virtual__() -> Any:
    if "fluxora_aws.client" not in __salt__:
        return (False, "fluxora_ec2 needs the fluxora_aws module (saltutil.sync_all) and boto3")
    return __virtualname__


def _u(name: str) -> Any:
    return __salt__[f"fluxora_aws.{name}"]


def _vpc(ec2: Any, vpc_id: str | None) -> str:
    """`vpc_id` (an id or `ref:vpc:<name>`), or the region's default VPC."""
    if vpc_id:
        return str(_u("resolve")(vpc_id, _u("resolver")(ec2.meta.region_name)))
    vpcs = _u("call")(
        "default VPC", ec2.describe_vpcs, Filters=[{"Name": "is-default", "Values": ["true"]}]
    )["Vpcs"]
    if not vpcs:
        raise CommandExecutionError("no vpc_id given and the region has no default VPC")
    return str(vpcs[0]["VpcId"])


def group_id(ec2: Any, name: str, vpc_id: str) -> str | None:
    groups = _u("call")(
        f"security group {name}",
        ec2.describe_security_groups,
        Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}],
    )
    found = groups["SecurityGroups"]
    return str(found[0]["GroupId"]) if found else None


def _permission(rule: dict[str, Any], ec2: Any, vpc_id: str) -> dict[str, Any]:
    port = int(rule["port"])
    perm: dict[str, Any] = {
        "IpProtocol": rule.get("protocol", "tcp"),
        "FromPort": port,
        "ToPort": int(rule.get("to_port", port)),
    }
    description = rule.get("description", "")
    if "cidr" in rule:
        perm["IpRanges"] = [{"CidrIp": rule["cidr"], "Description": description}]
    elif "prefix_list" in rule:
        perm["PrefixListIds"] = [
            {"PrefixListId": _prefix_list(ec2, rule["prefix_list"]), "Description": description}
        ]
    else:
        source = group_id(ec2, rule["source_group"], vpc_id)
        if source is None:
            raise CommandExecutionError(f"source security group {rule['source_group']} not found")
        perm["UserIdGroupPairs"] = [{"GroupId": source, "Description": description}]
    return perm


def _prefix_list(ec2: Any, service: str) -> str:
    """The id of AWS's prefix list of `service` (`s3`) in the client's region."""
    name = f"com.amazonaws.{ec2.meta.region_name}.{service}"
    found = _u("call")(
        f"prefix list {name}",
        ec2.describe_prefix_lists,
        Filters=[{"Name": "prefix-list-name", "Values": [name]}],
    )["PrefixLists"]
    if not found:
        raise CommandExecutionError(f"no prefix list {name}")
    return str(found[0]["PrefixListId"])


def _key(perm: dict[str, Any]) -> tuple[Any, ...]:
    """One comparable entry per (protocol, ports, source) of an IpPermission."""
    sources = [("cidr", r["CidrIp"], r.get("Description", "")) for r in perm.get("IpRanges", [])]
    sources += [
        ("group", g["GroupId"], g.get("Description", "")) for g in perm.get("UserIdGroupPairs", [])
    ]
    # A prefix list's description is not compared: moto does not keep it.
    sources += [("prefix-list", p["PrefixListId"], "") for p in perm.get("PrefixListIds", [])]
    return tuple(
        sorted(
            (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"), *source)
            for source in sources
        )
    )


def _split(perms: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(entry for perm in perms for entry in _key(perm))


def security_group_present(
    name: str,
    description: str,
    tags: dict[str, str],
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
    vpc_id: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Ensure group `name` allows exactly `ingress` in and exactly `egress` out (AWS's default
    "everything out" rule is removed: nothing leaves that pillar does not list).

    ingress, egress: [{port, [to_port], [protocol: tcp], cidr | source_group (a group name) |
    prefix_list (an AWS service: s3), description}]
    """
    try:
        ec2 = _u("client")("ec2", region)
        vpc = _vpc(ec2, vpc_id)
        perms = [_permission(rule, ec2, vpc) for rule in ingress or []]
        out = [_permission(rule, ec2, vpc) for rule in egress or []]
        desired = {
            "description": description,
            "ingress": _split(perms),
            "egress": _split(out),
            "tags": _u("check_tags")(dict(tags, Name=name)),
        }
    except CommandExecutionError as exc:
        return _u("refused")("security group", name, exc, bool(__opts__.get("test")))
    state: dict[str, Any] = {}

    def read() -> dict[str, Any] | None:
        found = group_id(ec2, name, vpc)
        if found is None:
            return None
        group = _u("call")("describe group", ec2.describe_security_groups, GroupIds=[found])
        group = group["SecurityGroups"][0]
        state.update(id=found, perms=group["IpPermissions"], out=group["IpPermissionsEgress"])
        return {
            "description": group["Description"],
            "ingress": _split(group["IpPermissions"]),
            "egress": _split(group["IpPermissionsEgress"]),
            "tags": _u("tag_dict")(group.get("Tags")),
        }

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        call = _u("call")
        if current is None:
            created = call(
                "create group",
                ec2.create_security_group,
                GroupName=name,
                Description=description,
                VpcId=vpc,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": _u("tag_list")(desired["tags"])}
                ],
            )
            described = call(
                "describe group", ec2.describe_security_groups, GroupIds=[created["GroupId"]]
            )["SecurityGroups"][0]
            # AWS gives a new group an allow-all egress rule: it goes in the egress step.
            state.update(id=created["GroupId"], perms=[], out=described["IpPermissionsEgress"])
        elif "description" in keys:
            raise CommandExecutionError(
                "a security group's description cannot change: "
                "rename the group or restore the description"
            )
        for key, revoke, authorize, now, wanted in (
            (
                "ingress",
                ec2.revoke_security_group_ingress,
                ec2.authorize_security_group_ingress,
                state["perms"],
                perms,
            ),
            (
                "egress",
                ec2.revoke_security_group_egress,
                ec2.authorize_security_group_egress,
                state["out"],
                out,
            ),
        ):
            if key in keys:
                _replace_rules(call, f"revoke {key}", revoke, state["id"], now)
                _replace_rules(call, f"authorize {key}", authorize, state["id"], wanted)
        if current is not None and "tags" in keys:
            call(
                "tags",
                ec2.create_tags,
                Resources=[state["id"]],
                Tags=_u("tag_list")(desired["tags"]),
            )

    return _u("converge")(name, "security group", read, desired, write, bool(__opts__.get("test")))


def _replace_rules(
    call: Any, what: str, method: Any, group: str, perms: list[dict[str, Any]]
) -> None:
    if perms:
        call(what, method, GroupId=group, IpPermissions=perms)


def _template_data(
    ec2: Any,
    vpc: str,
    image_id: str,
    instance_type: str,
    security_groups: list[str],
    instance_profile: str | None,
    user_data: str | None,
    tags: dict[str, str],
) -> dict[str, Any]:
    ids = []
    for group in sorted(security_groups):
        found = group_id(ec2, group, vpc)
        if found is None:
            raise CommandExecutionError(f"security group {group} not found")
        ids.append(found)
    data: dict[str, Any] = {
        "ImageId": image_id,
        "InstanceType": instance_type,
        "SecurityGroupIds": ids,
        "MetadataOptions": {"HttpTokens": "required"},  # IMDSv2 only
        "TagSpecifications": [
            {"ResourceType": kind, "Tags": _u("tag_list")(tags)} for kind in ("instance", "volume")
        ],
    }
    if instance_profile:
        data["IamInstanceProfile"] = {"Name": instance_profile}
    if user_data:
        data["UserData"] = base64.b64encode(user_data.encode()).decode()
    return data


def _view_template_data(data: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """Only the keys we set, shaped the same way (the API adds and reorders fields)."""
    view = {key: data.get(key) for key in like}
    if view.get("MetadataOptions"):
        view["MetadataOptions"] = {"HttpTokens": view["MetadataOptions"].get("HttpTokens")}
    if "SecurityGroupIds" in view:  # absent when a template has none (the DR copies)
        view["SecurityGroupIds"] = sorted(view["SecurityGroupIds"] or [])
    if view.get("TagSpecifications"):
        # Only the instance and volume tags we set (some servers add the template's own).
        view["TagSpecifications"] = [
            spec
            for spec in view["TagSpecifications"]
            if spec.get("ResourceType") in ("instance", "volume")
        ]
    if view.get("IamInstanceProfile"):
        view["IamInstanceProfile"] = {"Name": view["IamInstanceProfile"].get("Name")}
    return view


def launch_template_present(
    name: str,
    image_id: str,
    instance_type: str,
    tags: dict[str, str],
    security_groups: list[str] | None = None,
    instance_profile: str | None = None,
    user_data: str | None = None,
    vpc_id: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Ensure launch template `name`; a change makes a new version and makes it the default.

    Instances and volumes launched from it carry `tags`.
    """
    try:
        ec2 = _u("client")("ec2", region)
        tags = _u("check_tags")(tags)
        vpc = _vpc(ec2, vpc_id)
        data = _template_data(
            ec2,
            vpc,
            image_id,
            instance_type,
            list(security_groups or []),
            instance_profile,
            user_data,
            tags,
        )
    except CommandExecutionError as exc:
        return _u("refused")("launch template", name, exc, bool(__opts__.get("test")))
    desired = {"data": data, "tags": tags}
    call = _u("call")

    def read() -> dict[str, Any] | None:
        found = call(
            "describe templates",
            ec2.describe_launch_templates,
            Filters=[{"Name": "launch-template-name", "Values": [name]}],
        )["LaunchTemplates"]
        if not found:
            return None
        version = call(
            "default version",
            ec2.describe_launch_template_versions,
            LaunchTemplateName=name,
            Versions=["$Default"],
        )["LaunchTemplateVersions"][0]
        return {
            "data": _view_template_data(version["LaunchTemplateData"], data),
            "tags": _u("tag_dict")(found[0].get("Tags")),
        }

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        if current is None:
            call(
                "create template",
                ec2.create_launch_template,
                LaunchTemplateName=name,
                LaunchTemplateData=data,
                TagSpecifications=[
                    {"ResourceType": "launch-template", "Tags": _u("tag_list")(tags)}
                ],
            )
            return
        if "data" in keys:
            new = call(
                "new version",
                ec2.create_launch_template_version,
                LaunchTemplateName=name,
                LaunchTemplateData=data,
            )
            number = str(new["LaunchTemplateVersion"]["VersionNumber"])
            call(
                "default version",
                ec2.modify_launch_template,
                LaunchTemplateName=name,
                DefaultVersion=number,
            )
        if "tags" in keys:
            template_id = call(
                "describe templates", ec2.describe_launch_templates, LaunchTemplateNames=[name]
            )["LaunchTemplates"][0]["LaunchTemplateId"]
            call("tags", ec2.create_tags, Resources=[template_id], Tags=_u("tag_list")(tags))

    return _u("converge")(name, "launch template", read, desired, write, bool(__opts__.get("test")))


def flow_log_present(
    name: str,
    bucket: str,
    tags: dict[str, str],
    vpc_id: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Ensure the VPC (default: the region's default VPC) logs all its traffic to S3 `bucket`
    (under AWSLogs/, S3's own layout); the flow log is tagged Name=`name`."""
    try:
        ec2 = _u("client")("ec2", region)
        vpc = _vpc(ec2, vpc_id)
        tags = _u("check_tags")(dict(tags, Name=name))
    except CommandExecutionError as exc:
        return _u("refused")("flow log", name, exc, bool(__opts__.get("test")))
    destination = f"arn:aws:s3:::{bucket}"
    desired = {"destination": destination, "traffic": "ALL", "tags": tags}
    call = _u("call")

    def read() -> dict[str, Any] | None:
        found = call(
            "describe flow logs",
            ec2.describe_flow_logs,
            Filters=[{"Name": "resource-id", "Values": [vpc]}],
        )["FlowLogs"]
        mine = [f for f in found if _u("tag_dict")(f.get("Tags")).get("Name") == name]
        if not mine:
            return None
        return {
            "destination": mine[0].get("LogDestination"),
            "traffic": mine[0].get("TrafficType"),
            "tags": _u("tag_dict")(mine[0].get("Tags")),
            "id": mine[0]["FlowLogId"],
        }

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        if current is not None and keys == ["tags"]:
            call("tags", ec2.create_tags, Resources=[current["id"]], Tags=_u("tag_list")(tags))
            return
        if current is not None:  # destination or traffic: a flow log cannot be modified
            call("delete flow log", ec2.delete_flow_logs, FlowLogIds=[current["id"]])
        created = call(
            f"create flow log {name}",
            ec2.create_flow_logs,
            ResourceIds=[vpc],
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="s3",
            LogDestination=destination,
            TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": _u("tag_list")(tags)}],
        )
        # A refused flow log is an "Unsuccessful" item in a successful answer, not an error.
        for failed in created.get("Unsuccessful", []):
            raise CommandExecutionError(f"not created: {failed['Error']['Message']}")

    return _u("converge")(name, "flow log", read, desired, write, bool(__opts__.get("test")))
