"""IAM roles with inline least-privilege policies, an optional instance profile, and tags.

A role's policies are owned whole: inline policies and attached managed policies alike. One
attached out of band (an `AdministratorAccess` added by hand) shows as a change of
`managed_policies` in a `test=True` run and is detached by the next apply.

Policies may name resources as `ref:<kind>:<name>` (see fluxora_aws.resolve): the real ARN is
looked up when the state runs, so a policy never needs a wildcard for an id AWS assigns.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from salt.exceptions import CommandExecutionError

__virtualname__ = "fluxora_iam"


def __virtual__() -> Any:
    if "fluxora_aws.client" not in __salt__:
        return (False, "fluxora_iam needs the fluxora_aws module (saltutil.sync_all) and boto3")
    return __virtualname__


def _u(name: str) -> Any:
    return __salt__[f"fluxora_aws.{name}"]


def _doc(value: Any) -> Any:
    """A policy document as returned by IAM (possibly URL-encoded JSON) as a dict."""
    if isinstance(value, str):
        return json.loads(urllib.parse.unquote(value))
    return value


def _read(iam: Any, name: str, instance_profile: bool) -> dict[str, Any] | None:
    call = _u("call")
    try:
        role = call(f"role {name}", iam.get_role, RoleName=name)["Role"]
    except CommandExecutionError as exc:
        if _u("error_code")(exc) == "NoSuchEntity":
            return None
        raise
    names = call("inline policies", iam.list_role_policies, RoleName=name)["PolicyNames"]
    policies = {
        policy: _doc(
            call(f"policy {policy}", iam.get_role_policy, RoleName=name, PolicyName=policy)[
                "PolicyDocument"
            ]
        )
        for policy in names
    }
    tags = call("role tags", iam.list_role_tags, RoleName=name)["Tags"]
    attached = call("attached policies", iam.list_attached_role_policies, RoleName=name)
    view = {
        "assume_role_policy": _doc(role["AssumeRolePolicyDocument"]),
        "policies": policies,
        "managed_policies": sorted(p["PolicyArn"] for p in attached["AttachedPolicies"]),
        "tags": _u("tag_dict")(tags),
    }
    if instance_profile:
        profiles = call("instance profiles", iam.list_instance_profiles_for_role, RoleName=name)
        view["instance_profile"] = [p["InstanceProfileName"] for p in profiles["InstanceProfiles"]]
    return view


def _write_policies(
    iam: Any, name: str, current: dict[str, Any] | None, wanted: dict[str, Any]
) -> None:
    call = _u("call")
    for policy, document in sorted(wanted.items()):
        if (current or {}).get("policies", {}).get(policy) != document:
            call(
                f"put policy {policy}",
                iam.put_role_policy,
                RoleName=name,
                PolicyName=policy,
                PolicyDocument=json.dumps(document),
            )
    for policy in sorted(set((current or {}).get("policies", {})) - set(wanted)):
        call(f"delete policy {policy}", iam.delete_role_policy, RoleName=name, PolicyName=policy)


def _write_managed(iam: Any, name: str, current: dict[str, Any] | None, wanted: list[str]) -> None:
    call = _u("call")
    attached = set((current or {}).get("managed_policies", []))
    for arn in sorted(attached - set(wanted)):
        call(f"detach policy {arn}", iam.detach_role_policy, RoleName=name, PolicyArn=arn)
    for arn in sorted(set(wanted) - attached):
        call(f"attach policy {arn}", iam.attach_role_policy, RoleName=name, PolicyArn=arn)


def _writer(iam: Any, name: str, desired: dict[str, Any]) -> Any:
    call = _u("call")

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        trust = json.dumps(desired["assume_role_policy"])
        if current is None:
            call(
                f"create role {name}",
                iam.create_role,
                RoleName=name,
                AssumeRolePolicyDocument=trust,
                Tags=_u("tag_list")(desired["tags"]),
            )
        elif "assume_role_policy" in keys:
            call("trust policy", iam.update_assume_role_policy, RoleName=name, PolicyDocument=trust)
        if "policies" in keys:
            _write_policies(iam, name, current, desired["policies"])
        if "managed_policies" in keys:
            _write_managed(iam, name, current, desired["managed_policies"])
        if current is not None and "tags" in keys:
            stale = sorted(set(current["tags"]) - set(desired["tags"]))
            if stale:
                call("untag role", iam.untag_role, RoleName=name, TagKeys=stale)
            call("tag role", iam.tag_role, RoleName=name, Tags=_u("tag_list")(desired["tags"]))
        if "instance_profile" in keys:
            _ensure_profile(iam, name, desired["tags"])

    return write


def _ensure_profile(iam: Any, name: str, tags: dict[str, str]) -> None:
    call = _u("call")
    try:
        profile = call("instance profile", iam.get_instance_profile, InstanceProfileName=name)
        roles = [role["RoleName"] for role in profile["InstanceProfile"]["Roles"]]
    except CommandExecutionError as exc:
        if _u("error_code")(exc) != "NoSuchEntity":
            raise
        call(
            "create instance profile",
            iam.create_instance_profile,
            InstanceProfileName=name,
            Tags=_u("tag_list")(tags),
        )
        roles = []
    if name not in roles:
        call(
            "profile role",
            iam.add_role_to_instance_profile,
            InstanceProfileName=name,
            RoleName=name,
        )


def role_present(
    name: str,
    assume_role_policy: dict[str, Any],
    tags: dict[str, str],
    policies: dict[str, dict[str, Any]] | None = None,
    managed_policies: list[str] | None = None,
    instance_profile: bool = False,
    region: str | None = None,
) -> dict[str, Any]:
    """Ensure role `name` with exactly `policies` inline and exactly `managed_policies` (ARNs)
    attached: any other inline or attached policy is removed.

    instance_profile: also an instance profile of the same name holding the role (for EC2).
    region: where `ref:asg:` and other regional references are looked up.
    """
    try:
        iam = _u("client")("iam", region)
        desired: dict[str, Any] = {
            "assume_role_policy": assume_role_policy,
            "policies": _u("resolve")(dict(policies or {}), _u("resolver")(region)),
            "managed_policies": sorted(managed_policies or []),
            "tags": _u("check_tags")(tags),
        }
        if instance_profile:
            desired["instance_profile"] = [name]
    except CommandExecutionError as exc:
        return _u("refused")("role", name, exc, bool(__opts__.get("test")))
    return _u("converge")(
        name,
        "role",
        lambda: _read(iam, name, instance_profile),
        desired,
        _writer(iam, name, desired),
        bool(__opts__.get("test")),
    )
