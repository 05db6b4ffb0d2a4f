"""Auto Scaling groups on launch templates, with the scaling limits from pillar, tagged.

Written on plain boto3: saltext-boto3 1.2.0's ``boto3_asg.present`` crashes with an inline
launch configuration and has no launch-template support.

Desired capacity is set when the group is created and otherwise left alone: after that it is
the scaling engine's (fluxora-orch) to change, so a highstate never undoes a scale-out.
"""

from __future__ import annotations

from typing import Any

from salt.exceptions import CommandExecutionError

__virtualname__ = "fluxora_asg"


def __virtual__() -> Any:
    if "fluxora_aws.client" not in __salt__:
        return (False, "fluxora_asg needs the fluxora_aws module (saltutil.sync_all) and boto3")
    return __virtualname__


def _u(name: str) -> Any:
    return __salt__[f"fluxora_aws.{name}"]


def _settings(group: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The group's settings as we manage them; a field the API does not report (moto keeps no
    DefaultInstanceWarmup) cannot be compared and counts as desired."""
    template = group.get("LaunchTemplate") or {}
    return {
        "launch_template": {
            "name": template.get("LaunchTemplateName"),
            "version": template.get("Version"),
        },
        "min_size": group["MinSize"],
        "max_size": group["MaxSize"],
        "subnets": sorted(filter(None, group.get("VPCZoneIdentifier", "").split(","))),
        "default_cooldown": group.get("DefaultCooldown"),
        "default_instance_warmup": group.get(
            "DefaultInstanceWarmup", desired["default_instance_warmup"]
        ),
        "protect_from_scale_in": group.get("NewInstancesProtectedFromScaleIn", False),
        "health_check_grace_period": group.get("HealthCheckGracePeriod"),
    }


def _api_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "LaunchTemplate": {
            "LaunchTemplateName": settings["launch_template"]["name"],
            "Version": settings["launch_template"]["version"],
        },
        "MinSize": settings["min_size"],
        "MaxSize": settings["max_size"],
        "VPCZoneIdentifier": ",".join(settings["subnets"]),
        "DefaultCooldown": settings["default_cooldown"],
        "DefaultInstanceWarmup": settings["default_instance_warmup"],
        "NewInstancesProtectedFromScaleIn": settings["protect_from_scale_in"],
        "HealthCheckGracePeriod": settings["health_check_grace_period"],
    }


def _tags(name: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
            "Key": key,
            "Value": value,
            "PropagateAtLaunch": True,
        }
        for key, value in sorted(tags.items())
    ]


def group_present(
    name: str,
    launch_template: str,
    min_size: int,
    max_size: int,
    desired_capacity: int,
    subnets: list[str],
    tags: dict[str, str],
    default_cooldown: int = 300,
    default_instance_warmup: int = 300,
    protect_from_scale_in: bool = False,
    health_check_grace_period: int = 300,
    region: str | None = None,
) -> dict[str, Any]:
    """Ensure group `name` runs the default version of `launch_template` within min/max, in
    `subnets` (ids or `ref:subnet:<name>`; their zones are the group's).

    Tags propagate to the instances the group launches.
    """
    ret = {"name": name, "result": False, "comment": "", "changes": {}}
    if not int(min_size) <= int(desired_capacity) <= int(max_size):
        ret["comment"] = (
            f"Auto Scaling group {name}: desired {desired_capacity} is outside "
            f"min {min_size} .. max {max_size}"
        )
        return ret
    try:
        asg = _u("client")("autoscaling", region)
        tags = _u("check_tags")(tags)
        subnet_ids = _u("resolve")(list(subnets), _u("resolver")(asg.meta.region_name))
    except CommandExecutionError as exc:
        return _u("refused")("Auto Scaling group", name, exc, bool(__opts__.get("test")))
    settings = {
        "launch_template": {"name": launch_template, "version": "$Default"},
        "min_size": int(min_size),
        "max_size": int(max_size),
        "subnets": sorted(subnet_ids),
        "default_cooldown": int(default_cooldown),
        "default_instance_warmup": int(default_instance_warmup),
        "protect_from_scale_in": bool(protect_from_scale_in),
        "health_check_grace_period": int(health_check_grace_period),
    }
    desired = {"settings": settings, "tags": tags}
    call = _u("call")

    def read() -> dict[str, Any] | None:
        groups = call(
            "describe group", asg.describe_auto_scaling_groups, AutoScalingGroupNames=[name]
        )["AutoScalingGroups"]
        if not groups:
            return None
        tags_now = _u("tag_dict")(groups[0].get("Tags"))
        return {"settings": _settings(groups[0], settings), "tags": tags_now}

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        if current is None:
            call(
                "create group",
                asg.create_auto_scaling_group,
                AutoScalingGroupName=name,
                DesiredCapacity=int(desired_capacity),
                Tags=_tags(name, tags),
                **_api_settings(settings),
            )
            return
        if "settings" in keys:
            call(
                "update group",
                asg.update_auto_scaling_group,
                AutoScalingGroupName=name,
                **_api_settings(settings),
            )
        if "tags" in keys:
            stale = sorted(set(current["tags"]) - set(tags))
            if stale:
                call(
                    "delete tags",
                    asg.delete_tags,
                    Tags=[
                        {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": key}
                        for key in stale
                    ],
                )
            call("tags", asg.create_or_update_tags, Tags=_tags(name, tags))

    return _u("converge")(
        name, "Auto Scaling group", read, desired, write, bool(__opts__.get("test"))
    )
