"""A CloudTrail trail: every region, log-file validation, global service events, logging on,
delivered to a bucket whose own policy admits CloudTrail, tagged.

Written on plain boto3: saltext-boto3 1.2.0 has no CloudTrail state.
"""

from __future__ import annotations

from typing import Any

from salt.exceptions import CommandExecutionError

__virtualname__ = "fluxora_cloudtrail"


def __virtual__() -> Any:
    if "fluxora_aws.client" not in __salt__:
        return (False, "fluxora_cloudtrail needs the fluxora_aws module and boto3")
    return __virtualname__


def _u(name: str) -> Any:
    return __salt__[f"fluxora_aws.{name}"]


def _read(trail: Any, name: str) -> dict[str, Any] | None:
    call = _u("call")
    found = call("describe trails", trail.describe_trails, trailNameList=[name])["trailList"]
    if not found:
        return None
    current = found[0]
    status = call("trail status", trail.get_trail_status, Name=name)
    tags = call("trail tags", trail.list_tags, ResourceIdList=[current["TrailARN"]])
    tag_list = tags["ResourceTagList"][0].get("TagsList", []) if tags["ResourceTagList"] else []
    return {
        "bucket": current.get("S3BucketName"),
        "prefix": current.get("S3KeyPrefix", ""),
        "multi_region": current.get("IsMultiRegionTrail", False),
        "log_file_validation": current.get("LogFileValidationEnabled", False),
        "global_events": current.get("IncludeGlobalServiceEvents", False),
        "logging": status.get("IsLogging", False),
        "tags": _u("tag_dict")(tag_list),
        "arn": current["TrailARN"],
    }


def _settings(desired: dict[str, Any]) -> dict[str, Any]:
    return {
        "S3BucketName": desired["bucket"],
        "S3KeyPrefix": desired["prefix"],
        "IsMultiRegionTrail": desired["multi_region"],
        "EnableLogFileValidation": desired["log_file_validation"],
        "IncludeGlobalServiceEvents": desired["global_events"],
    }


def _writer(trail: Any, name: str, desired: dict[str, Any]) -> Any:
    call = _u("call")
    settings = ("bucket", "prefix", "multi_region", "log_file_validation", "global_events")

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        if current is None:
            created = call(
                f"create trail {name}",
                trail.create_trail,
                Name=name,
                TagsList=_u("tag_list")(desired["tags"]),
                **_settings(desired),
            )
            current = {"arn": created["TrailARN"], "tags": desired["tags"]}
        elif any(key in settings for key in keys):
            call(f"update trail {name}", trail.update_trail, Name=name, **_settings(desired))
        if current.get("tags") != desired["tags"]:
            call(
                "tag trail",
                trail.add_tags,
                ResourceId=current["arn"],
                TagsList=_u("tag_list")(desired["tags"]),
            )
        if "logging" in keys:
            call(f"start logging {name}", trail.start_logging, Name=name)

    return write


def trail_present(
    name: str, bucket: str, tags: dict[str, str], prefix: str = "", region: str | None = None
) -> dict[str, Any]:
    """Ensure trail `name` (in `region`, its home) records every region into `bucket`/`prefix`
    with log-file validation, and is logging."""
    try:
        trail = _u("client")("cloudtrail", region)
        desired = {
            "bucket": bucket,
            "prefix": prefix,
            "multi_region": True,
            "log_file_validation": True,
            "global_events": True,
            "logging": True,
            "tags": _u("check_tags")(tags),
        }
    except CommandExecutionError as exc:
        return _u("refused")("trail", name, exc, bool(__opts__.get("test")))

    def read() -> dict[str, Any] | None:
        view = _read(trail, name)
        return None if view is None else {key: view[key] for key in (*desired, "arn")}

    return _u("converge")(
        name, "trail", read, desired, _writer(trail, name, desired), bool(__opts__.get("test"))
    )
