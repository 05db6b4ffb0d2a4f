"""An environment's network in one region: a VPC, its subnets, their route tables and an S3
gateway endpoint, tagged.

Private subnets route nowhere outside the VPC but to S3 (through the gateway endpoint: backups
and artifacts never cross the internet); public subnets (only where pillar asks for one) also
route to an internet gateway. Every part is named `<name>-<part>` by its Name tag, which is how
a second run finds it.

Written on plain boto3: saltext-boto3 1.2.0's VPC states need the dead boto v2 modules.
"""

from __future__ import annotations

from typing import Any

from salt.exceptions import CommandExecutionError

__virtualname__ = "fluxora_vpc"
TIERS = ("private", "public")


def __virtual__() -> Any:
    if "fluxora_aws.client" not in __salt__:
        return (False, "fluxora_vpc needs the fluxora_aws module (saltutil.sync_all) and boto3")
    return __virtualname__


def _u(name: str) -> Any:
    return __salt__[f"fluxora_aws.{name}"]


def _named(ec2: Any, what: str, name: str, vpc: str | None = None) -> dict[str, Any] | None:
    """The one resource of kind `what` (vpc, subnet, route-table, internet-gateway) tagged
    Name=`name` (in `vpc`), or None."""
    method, key = {
        "vpc": ("describe_vpcs", "Vpcs"),
        "subnet": ("describe_subnets", "Subnets"),
        "route-table": ("describe_route_tables", "RouteTables"),
        "internet-gateway": ("describe_internet_gateways", "InternetGateways"),
    }[what]
    filters = [{"Name": "tag:Name", "Values": [name]}]
    if vpc and what != "internet-gateway":
        filters.append({"Name": "vpc-id", "Values": [vpc]})
    found = _u("call")(f"{what} {name}", getattr(ec2, method), Filters=filters)[key]
    return found[0] if found else None


def _tag_spec(kind: str, tags: dict[str, str], name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": _u("tag_list")(dict(tags, Name=name))}]


def _read(ec2: Any, name: str, region: str) -> dict[str, Any] | None:
    vpc = _named(ec2, "vpc", name)
    if vpc is None:
        return None
    subnets = _u("call")(
        "subnets", ec2.describe_subnets, Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    )["Subnets"]
    view_subnets = {}
    for subnet in subnets:
        tags = _u("tag_dict")(subnet.get("Tags"))
        key = tags.get("Name", "").removeprefix(f"{name}-")
        view_subnets[key] = {
            "zone": subnet["AvailabilityZone"],
            "cidr": subnet["CidrBlock"],
            "tier": tags.get("Tier"),
        }
    return {
        "cidr": vpc["CidrBlock"],
        "subnets": view_subnets,
        "routes": _read_routes(ec2, name, vpc["VpcId"], view_subnets, subnets),
        "s3_endpoint": _read_endpoint(ec2, vpc["VpcId"], region),
        "tags": _u("tag_dict")(vpc.get("Tags")),
        "id": vpc["VpcId"],
    }


def _read_routes(
    ec2: Any, name: str, vpc: str, keys: dict[str, Any], subnets: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per tier: which subnets its route table serves, and whether it reaches the internet."""
    by_id = {
        s["SubnetId"]: _u("tag_dict")(s.get("Tags")).get("Name", "").removeprefix(f"{name}-")
        for s in subnets
    }
    routes = {}
    for tier in TIERS:
        table = _named(ec2, "route-table", f"{name}-{tier}", vpc)
        if table is None:
            continue
        served = sorted(by_id[a["SubnetId"]] for a in table["Associations"] if a.get("SubnetId"))
        internet = any(
            r.get("DestinationCidrBlock") == "0.0.0.0/0"
            and str(r.get("GatewayId", "")).startswith("igw-")
            for r in table["Routes"]
        )
        routes[tier] = {"subnets": served, "internet": internet}
    return routes


def _read_endpoint(ec2: Any, vpc: str, region: str) -> int:
    """How many route tables the VPC's S3 gateway endpoint serves."""
    found = _u("call")(
        "S3 endpoint",
        ec2.describe_vpc_endpoints,
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "service-name", "Values": [f"com.amazonaws.{region}.s3"]},
        ],
    )["VpcEndpoints"]
    return len(found[0].get("RouteTableIds", [])) if found else 0


def _desired(cidr: str, subnets: dict[str, dict[str, Any]], tags: dict[str, str]) -> dict[str, Any]:
    view = {
        key: {"zone": s["zone"], "cidr": s["cidr"], "tier": s.get("tier", "private")}
        for key, s in sorted(subnets.items())
    }
    bad = sorted(key for key, s in view.items() if s["tier"] not in TIERS)
    if bad:
        raise CommandExecutionError(f"subnet tier must be private or public: {', '.join(bad)}")
    tiers = sorted({s["tier"] for s in view.values()})
    routes = {
        tier: {
            "subnets": sorted(k for k, s in view.items() if s["tier"] == tier),
            "internet": tier == "public",
        }
        for tier in tiers
    }
    return {
        "cidr": cidr,
        "subnets": view,
        "routes": routes,
        "s3_endpoint": len(tiers),
        "tags": tags,
    }


class _Builder:
    """Creates what is missing, in dependency order; each step finds what exists first."""

    def __init__(self, ec2: Any, name: str, region: str, desired: dict[str, Any]) -> None:
        self.ec2, self.name, self.region, self.desired = ec2, name, region, desired
        self.call = _u("call")
        self.tags = desired["tags"]

    def vpc(self) -> str:
        found = _named(self.ec2, "vpc", self.name)
        if found is not None:
            if found["CidrBlock"] != self.desired["cidr"]:
                raise CommandExecutionError("a VPC's CIDR cannot change: make a new network")
            self.call(
                "tag VPC",
                self.ec2.create_tags,
                Resources=[found["VpcId"]],
                Tags=_u("tag_list")(dict(self.tags, Name=self.name)),
            )
            return str(found["VpcId"])
        created = self.call(
            "create VPC",
            self.ec2.create_vpc,
            CidrBlock=self.desired["cidr"],
            TagSpecifications=_tag_spec("vpc", self.tags, self.name),
        )["Vpc"]["VpcId"]
        for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
            self.call(
                attribute,
                self.ec2.modify_vpc_attribute,
                VpcId=created,
                **{attribute: {"Value": True}},
            )
        return str(created)

    def subnets(self, vpc: str) -> dict[str, str]:
        ids = {}
        for key, spec in self.desired["subnets"].items():
            name = f"{self.name}-{key}"
            found = _named(self.ec2, "subnet", name, vpc)
            if found is not None and found["CidrBlock"] != spec["cidr"]:
                raise CommandExecutionError(f"subnet {name}'s CIDR cannot change: add another")
            if found is None:
                tags = dict(self.tags, Tier=spec["tier"])
                found = self.call(
                    f"create subnet {name}",
                    self.ec2.create_subnet,
                    VpcId=vpc,
                    CidrBlock=spec["cidr"],
                    AvailabilityZone=spec["zone"],
                    TagSpecifications=_tag_spec("subnet", tags, name),
                )["Subnet"]
            ids[key] = str(found["SubnetId"])
        return ids

    def gateway(self, vpc: str) -> str:
        name = f"{self.name}-igw"
        found = _named(self.ec2, "internet-gateway", name)
        if found is None:
            found = self.call(
                "create internet gateway",
                self.ec2.create_internet_gateway,
                TagSpecifications=_tag_spec("internet-gateway", self.tags, name),
            )["InternetGateway"]
        if not any(a.get("VpcId") == vpc for a in found.get("Attachments", [])):
            self.call(
                "attach internet gateway",
                self.ec2.attach_internet_gateway,
                InternetGatewayId=found["InternetGatewayId"],
                VpcId=vpc,
            )
        return str(found["InternetGatewayId"])

    def route_table(self, vpc: str, tier: str, subnets: dict[str, str]) -> str:
        name = f"{self.name}-{tier}"
        table = _named(self.ec2, "route-table", name, vpc)
        if table is None:
            table = self.call(
                f"create route table {name}",
                self.ec2.create_route_table,
                VpcId=vpc,
                TagSpecifications=_tag_spec("route-table", self.tags, name),
            )["RouteTable"]
        served = {a.get("SubnetId") for a in table.get("Associations", [])}
        for key in self.desired["routes"][tier]["subnets"]:
            if subnets[key] not in served:
                self.call(
                    f"associate {key}",
                    self.ec2.associate_route_table,
                    RouteTableId=table["RouteTableId"],
                    SubnetId=subnets[key],
                )
        if tier == "public" and not any(
            r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table.get("Routes", [])
        ):
            self.call(
                "default route",
                self.ec2.create_route,
                RouteTableId=table["RouteTableId"],
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=self.gateway(vpc),
            )
        return str(table["RouteTableId"])

    def endpoint(self, vpc: str, tables: list[str]) -> None:
        service = f"com.amazonaws.{self.region}.s3"
        found = self.call(
            "S3 endpoint",
            self.ec2.describe_vpc_endpoints,
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "service-name", "Values": [service]},
            ],
        )["VpcEndpoints"]
        if not found:
            self.call(
                "create S3 endpoint",
                self.ec2.create_vpc_endpoint,
                VpcId=vpc,
                ServiceName=service,
                VpcEndpointType="Gateway",
                RouteTableIds=tables,
                TagSpecifications=_tag_spec("vpc-endpoint", self.tags, f"{self.name}-s3"),
            )
            return
        missing = sorted(set(tables) - set(found[0].get("RouteTableIds", [])))
        if missing:
            self.call(
                "S3 endpoint routes",
                self.ec2.modify_vpc_endpoint,
                VpcEndpointId=found[0]["VpcEndpointId"],
                AddRouteTableIds=missing,
            )

    def build(self) -> None:
        vpc = self.vpc()
        subnets = self.subnets(vpc)
        tables = [self.route_table(vpc, tier, subnets) for tier in self.desired["routes"]]
        self.endpoint(vpc, tables)


def network_present(
    name: str,
    cidr: str,
    subnets: dict[str, dict[str, Any]],
    tags: dict[str, str],
    region: str | None = None,
) -> dict[str, Any]:
    """Ensure VPC `name` (`cidr`) with `subnets` ({key: {zone, cidr, tier: private|public}}),
    a route table per tier and an S3 gateway endpoint on every route table. Subnets are added,
    never removed (instances may still run in one): take one out by hand once it is empty."""
    try:
        ec2 = _u("client")("ec2", region)
        region = region or ec2.meta.region_name
        desired = _desired(cidr, subnets, _u("check_tags")(dict(tags, Name=name)))
    except CommandExecutionError as exc:
        return _u("refused")("network", name, exc, bool(__opts__.get("test")))

    def read() -> dict[str, Any] | None:
        return _read(ec2, name, str(region))

    def write(current: dict[str, Any] | None, keys: list[str]) -> None:
        _Builder(ec2, name, str(region), desired).build()

    return _u("converge")(name, "network", read, desired, write, bool(__opts__.get("test")))
