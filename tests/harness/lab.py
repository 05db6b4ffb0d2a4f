"""The environment lab: every topology host of staging or prod as its own salt-minion.

`Lab.up(env, ...)` makes, on this one machine:
- a bridge for the run and, per topology host (the DR region's too), a network namespace with
  the host's pillar address (its `topology` address, on-link routes to every network of the
  environment) and a second address in the run's own block on the bridge, which is where the
  master and moto listen: two runs never share an address the machine routes;
- per host, private mount, UTS and PID namespaces: the directories the states write
  (HOST_DIRS) are bind-mounted from the host's own directory, so the states run with their real
  paths and ports, and the host's hostname is its minion id; every process a state starts stays
  in them, and killing the namespace's first process ends them all; that first process is an
  init that reaps orphans (lab_init.py), as on a real host;
- a salt-master (pytest-salt-factories) named `salt` in every host's /etc/hosts, the moto server
  beside it at salt:4566 (the hosts' AWS endpoint), and one salt-minion per host whose id and
  grains are those of the topology, keys accepted.

`lab.down()` removes all of it. Names carry the run id (`fxl<run>...`), so scripts/leak-check
finds what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import attr
import yaml
from saltfactories.daemons.minion import SaltMinion

from tests.harness import moto
from tests.harness.processes import (
    HarnessError,
    ServerProcess,
    http_ok,
    start_server,
    wait_until,
)
from tests.harness.salt import FIXTURE_STATES, SALT_DIR

PILLAR = SALT_DIR / "pillar" / "fluxora"
LAB_INIT = Path(__file__).with_name("lab_init.py")
DOMAIN = "internal.fluxora.example"
MOTO_PORT = 4566
# Directory -> (owner, mode) of the fresh per-host copy; every other path is shared with the
# machine (packages, /usr, /etc/passwd). "copy" seeds it from the machine's own directory.
HOST_DIRS: dict[str, tuple[str, int, bool]] = {
    "/etc/postgresql": ("postgres", 0o755, False),
    "/var/lib/postgresql": ("postgres", 0o755, False),
    "/etc/redis": ("redis", 0o2770, True),
    "/var/lib/redis": ("redis", 0o750, False),
    "/etc/prometheus": ("root", 0o755, True),
    "/var/lib/prometheus": ("prometheus", 0o755, False),
    "/etc/fluxora": ("root", 0o755, False),
    "/var/lib/fluxora": ("root", 0o755, False),
    "/opt/fluxora": ("root", 0o755, False),
    "/srv": ("root", 0o755, False),
    "/etc/init.d": ("root", 0o755, True),
    "/etc/sysctl.d": ("root", 0o755, True),
    "/etc/ssh": ("root", 0o755, False),
    "/etc/etcd": ("root", 0o755, False),
    "/var/lib/etcd": ("root", 0o755, False),
    "/etc/patroni": ("root", 0o755, False),
    "/var/log": ("root", 0o755, False),
    "/run": ("root", 0o755, False),
}
# Inside the fresh /run and /var/log: what the packages' postinst made on the machine.
HOST_SUBDIRS: dict[str, tuple[str, str, int]] = {
    "/run/postgresql": ("postgres", "postgres", 0o2775),
    "/run/redis": ("redis", "redis", 0o2755),
    "/run/lock": ("root", "root", 0o1777),
    "/var/log/postgresql": ("root", "postgres", 0o1775),
    "/var/log/redis": ("redis", "adm", 0o2750),
    "/var/log/prometheus": ("prometheus", "prometheus", 0o755),
}


@dataclass(frozen=True)
class LabHost:
    name: str
    roles: tuple[str, ...]
    address: str
    lab_address: str  # in the run's block on the bridge: how the host reaches the master
    netns: str
    root: Path  # the host's own directories

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"


def topology(env: str) -> dict[str, dict[str, Any]]:
    """The hosts of `env` (name -> {roles, address}), from its pillar file."""
    doc = yaml.safe_load((PILLAR / f"{env}.sls").read_text())
    hosts = doc["fluxora"]["topology"]["hosts"]
    return {name: dict(spec) for name, spec in sorted(hosts.items())}


def env_networks(env: str) -> list[str]:
    """Every network of `env` (primary and DR region), as the hosts route them on-link."""
    aws = yaml.safe_load((PILLAR / f"{env}.sls").read_text())["fluxora"].get("aws", {})
    nets = [aws[key]["cidr"] for key in ("network", "dr_network") if key in aws]
    return sorted(nets)


def run_block(run_id: str, env: str) -> ipaddress.IPv4Network:
    """A /24 under 10.255/16 for this run and env that no route of the machine covers yet."""
    used = _output(["ip", "-4", "route", "show"])
    seed = int(hashlib.sha256(f"{run_id}/{env}".encode()).hexdigest(), 16)
    for step in range(250):
        block = ipaddress.IPv4Network(f"10.255.{(seed + step) % 250 + 1}.0/24")
        if str(block) not in used:
            return block
    raise HarnessError("no free /24 under 10.255.0.0/16 for the lab bridge")


def _ip(*args: str, netns: str | None = None) -> None:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


@dataclass
class Network:
    """The run's bridge and one network namespace per host."""

    bridge: str
    block: ipaddress.IPv4Network
    networks: list[str]
    namespaces: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return str(self.block[1])

    def create(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def attach(self, host: LabHost, index: int) -> None:
        veth = f"{self.bridge}h{index}"
        _ip("netns", "add", host.netns)
        self.namespaces.append(host.netns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("link", "set", "lo", "up", netns=host.netns)
        _ip("addr", "add", f"{host.address}/32", "dev", "eth0", netns=host.netns)
        _ip("addr", "add", f"{host.lab_address}/24", "dev", "eth0", netns=host.netns)
        _ip("link", "set", "eth0", "up", netns=host.netns)
        for net in self.networks:
            _ip("route", "add", net, "dev", "eth0", "src", host.address, netns=host.netns)

    def destroy(self) -> None:
        for netns in self.namespaces:
            kill_namespace(netns)
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)


def kill_namespace(netns: str) -> None:
    """SIGKILL every process left in `netns` (a host's own pid namespace dies with its first)."""
    for pid in _netns_pids(netns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def prepare_host_dirs(host: LabHost) -> None:
    for path, (owner, mode, copy) in HOST_DIRS.items():
        target = host.root / path.strip("/")
        if copy and Path(path).is_dir():
            shutil.copytree(path, target, symlinks=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
        shutil.chown(target, owner, owner if owner != "root" else "root")
        target.chmod(mode)
        Path(path).mkdir(parents=True, exist_ok=True)  # the mount point on the machine
    for path, (owner, group, mode) in HOST_SUBDIRS.items():
        target = host.root / path.strip("/")
        target.mkdir(parents=True, exist_ok=True)
        shutil.chown(target, owner, group)
        target.chmod(mode)


# The homes of the users whose services call AWS (the orchestrator, barman-cloud as postgres):
# on EC2 they use the instance profile; a lab host gives them moto's dummy keys and the lab's S3
# in ~/.aws (the services' init scripts start them with a cleared environment). Readable by
# all: the users may not exist yet (the states create fluxora), and the keys are moto's dummies.
INSTANCE_PROFILE_HOMES = ("/var/lib/fluxora", "/var/lib/postgresql")


def write_instance_profile(host: LabHost, endpoint: str) -> None:
    aws = moto.aws_environment(endpoint)
    files = {
        "credentials": (
            "[default]\n"
            f"aws_access_key_id = {aws['AWS_ACCESS_KEY_ID']}\n"
            f"aws_secret_access_key = {aws['AWS_SECRET_ACCESS_KEY']}\n"
        ),
        "config": f"[default]\nregion = {aws['AWS_REGION']}\nendpoint_url = {endpoint}\n",
    }
    for home in INSTANCE_PROFILE_HOMES:
        target = host.root / home.strip("/") / ".aws"
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        for name, text in files.items():
            (target / name).write_text(text)
            (target / name).chmod(0o644)


def hosts_file(hosts: Sequence[LabHost], master: str) -> str:
    lines = ["127.0.0.1 localhost", f"{master} salt salt.{DOMAIN}"]
    lines += [f"{host.address} {host.fqdn} {host.name}" for host in hosts]
    return "\n".join(lines) + "\n"


def host_init(host: LabHost, hosts_path: Path, environ: dict[str, str]) -> str:
    """The script that becomes the host: binds its directories, names it, runs its command."""
    lines = ["#!/bin/sh", "set -eu", f"hostname {host.name}"]
    for path in HOST_DIRS:
        lines.append(f"mount --bind {host.root / path.strip('/')} {path}")
    lines.append(f"mount --bind {hosts_path} /etc/hosts")
    lines += [f"export {key}='{value}'" for key, value in sorted(environ.items())]
    # An init that reaps (lab_init.py), as a real host has: the command is its child.
    lines.append(f'exec /usr/bin/python3 {LAB_INIT} "$@"')
    return "\n".join(lines) + "\n"


def host_wrapper(host: LabHost, init: Path) -> str:
    """`<wrapper> CMD...` runs CMD as the first process of a new lab host (its namespaces)."""
    return (
        "#!/bin/sh\n"
        f"exec ip netns exec {host.netns} unshare --mount --uts --pid --fork --kill-child "
        f'--mount-proc --propagation private {init} "$@"\n'
    )


@attr.s(kw_only=True, slots=True)
class LabMinion(SaltMinion):  # type: ignore[misc]
    """A salt-minion started as the first process of its lab host (`wrapper`)."""

    wrapper: str = attr.ib()

    def cmdline(self, *args: str) -> list[str]:
        return [self.wrapper, *super().cmdline(*args)]


def build_wheelhouse(target: Path) -> Path:
    """The checkout's wheel and every dependency's, for the hosts' pip (they have no index).

    The dependencies' wheels are kept between runs in a directory named by the digest of
    pyproject.toml (made under a temporary name, then renamed: runs never see half of one).
    """
    digest = hashlib.sha256((SALT_DIR.parent / "pyproject.toml").read_bytes()).hexdigest()[:16]
    deps = Path(f"/var/tmp/fluxora-lab-wheels-{digest}")
    if not deps.is_dir():
        partial = Path(f"{deps}.{os.getpid()}.partial")
        _pip_wheel(partial, str(SALT_DIR.parent))
        partial.rename(deps)
    target.mkdir(parents=True, exist_ok=True)
    for wheel in deps.glob("*.whl"):
        if not wheel.name.startswith("fluxora_infra-"):
            (target / wheel.name).symlink_to(wheel)
    _pip_wheel(target, "--no-deps", str(SALT_DIR.parent))
    return target


def _pip_wheel(target: Path, *args: str) -> None:
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(target), *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        raise HarnessError(f"pip wheel failed: {result.stderr[-2000:]}")


@dataclass
class Lab:
    env: str
    workdir: Path
    hosts: dict[str, LabHost]
    network: Network
    master: Any = None
    moto: ServerProcess | None = None
    minions: dict[str, Any] = field(default_factory=dict)
    started: list[Any] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def up(
        cls,
        env: str,
        *,
        factories: Any,
        workdir: Path,
        run_id: str,
        pillar_roots: Sequence[Path],
        gpg_keydir: Path,
        wheelhouse: Path,
        overrides: dict[str, Any],
    ) -> Lab:
        """Bring up `env`'s hosts, master and moto; on any failure everything made is removed.

        `wheelhouse` is a directory named fluxora-dist: its parent comes first in the master's
        file_roots, so it is salt://fluxora-dist, the release wheelhouse the states install
        from."""
        started = time.monotonic()
        lab = cls.plan(env, workdir, run_id)
        try:
            lab.make_hosts(wheelhouse)
            lab.start_moto()
            lab.start_master(factories, pillar_roots, gpg_keydir, overrides, wheelhouse.parent)
            lab.start_minions()
            lab.wait_targetable()
        except BaseException:
            lab.down()
            raise
        lab.timings["up_seconds"] = time.monotonic() - started
        return lab

    @classmethod
    def plan(cls, env: str, workdir: Path, run_id: str) -> Lab:
        block = run_block(run_id, env)
        network = Network(f"fxl{run_id[:6]}{env[0]}", block, env_networks(env))
        hosts = {
            name: LabHost(
                name=name,
                roles=tuple(spec["roles"]),
                address=spec["address"],
                lab_address=str(block[10 + index]),
                netns=f"fxl-{run_id}-{name}",
                root=workdir / "hosts" / name,
            )
            for index, (name, spec) in enumerate(topology(env).items())
        }
        return cls(env, workdir, hosts, network)

    @property
    def aws_endpoint(self) -> str:
        """moto as the test process reaches it (the hosts use http://salt:4566)."""
        return f"http://{self.network.gateway}:{MOTO_PORT}"

    def make_hosts(self, wheelhouse: Path) -> None:
        self.network.create()
        hosts_path = self.workdir / "hosts.txt"
        hosts_path.write_text(hosts_file(list(self.hosts.values()), self.network.gateway))
        environ = {
            **moto.aws_environment(f"http://salt:{MOTO_PORT}"),
            "FLUXORA_TEST_RUN": os.environ.get("FLUXORA_TEST_RUN", ""),
            # The hosts have no package index: pip installs from the run's wheelhouse.
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(wheelhouse),
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        }
        for index, host in enumerate(self.hosts.values()):
            self.network.attach(host, index)
            prepare_host_dirs(host)
            write_instance_profile(host, f"http://salt:{MOTO_PORT}")
            init = host.root.parent / f"{host.name}.init"
            init.write_text(host_init(host, hosts_path, environ))
            wrapper = host.root.parent / f"{host.name}.enter"
            wrapper.write_text(host_wrapper(host, init))
            for script in (init, wrapper):
                script.chmod(0o755)

    def start_moto(self) -> None:
        url = self.aws_endpoint
        binary = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        self.moto = start_server(
            "moto_server",
            [binary or "moto_server", "-H", self.network.gateway, "-p", str(MOTO_PORT)],
            self.workdir / "moto.log",
            url,
            ready=http_ok(f"{url}/moto-api/data.json"),
        )

    def start_master(
        self,
        factories: Any,
        pillar_roots: Sequence[Path],
        gpg_keydir: Path,
        overrides: dict[str, Any],
        files: Path,
    ) -> None:
        lab_pillar = self.workdir / "lab-overrides.yaml"
        lab_pillar.write_text(yaml.safe_dump(overrides))
        config = {
            "interface": self.network.gateway,
            "file_roots": {
                "base": [str(files), str(SALT_DIR / "states"), str(SALT_DIR), str(FIXTURE_STATES)]
            },
            "pillar_roots": {"base": [*map(str, pillar_roots), str(SALT_DIR / "pillar")]},
            # What only the lab changes (one kernel clock for every host, ...): merged last.
            "ext_pillar": [{"cmd_yaml": f"cat {lab_pillar}"}],
            "gpg_keydir": str(gpg_keydir),
            "gpg_decrypt_must_succeed": True,
            "runner_dirs": [str(SALT_DIR / "_runners")],
            "fileserver_backend": ["roots"],
            # How long `salt` waits for minions' answers: a busy 2-core machine needs more than
            # the default 5 s for a lab host in its namespaces.
            "timeout": 60,
            # How long the master waits for minions to say a job still runs (default 10 s: under
            # load orch.deploy's first step ended "No minions responded" while they worked).
            "gather_job_timeout": 60,
        }
        factory = factories.salt_master_daemon(f"lab-{self.env}", overrides=config)
        context = factory.started(start_timeout=60)
        context.__enter__()
        self.started.append(context)
        self.master = factory

    def start_minions(self) -> None:
        for host in self.hosts.values():
            factory = self.master.salt_minion_daemon(
                host.name,
                factory_class=LabMinion,
                wrapper=str(host.root.parent / f"{host.name}.enter"),
                overrides={
                    "master": "salt",
                    "disable_modules": ["systemd_service"],
                    # Sorted, as fluxora.common keeps them: grains in the minion config
                    # win over what grains.present writes, so another order never settles.
                    "grains": {"fluxora": {"env": self.env, "roles": sorted(host.roles)}},
                },
            )
            context = factory.started(start_timeout=120)
            context.__enter__()
            self.started.append(context)
            self.minions[host.name] = factory

    def wait_targetable(self, timeout: float = 300) -> None:
        """Until every host answers `test.ping` targeted by its environment's pillar, as
        orch.deploy targets them (`I@fluxora:env:ENV`): the master has its key and has cached
        its pillar. A minion that says it started may not be there yet on a busy machine."""
        cli = self.salt_cli()

        def answered() -> bool:
            result = cli.run("-I", "test.ping", minion_tgt=f"fluxora:env:{self.env}")
            found = result.data if isinstance(result.data, dict) else {}
            if {name for name, ok in found.items() if ok is True} >= set(self.hosts):
                return True
            cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt="*")
            return False

        wait_until(answered, timeout, f"every {self.env} lab host to answer by its pillar")

    def run(self, host: str, argv: Sequence[str], **kwargs: Any) -> CompletedProcess[str]:
        """Run `argv` on lab host `host` (in all its namespaces)."""
        pid = self.init_pid(host)
        return subprocess.run(
            ["nsenter", "-t", str(pid), "-a", *argv],
            capture_output=True,
            text=True,
            check=False,
            **kwargs,
        )

    def init_pid(self, host: str) -> int:
        """The host's first process (pid 1 in its own pid namespace), as this machine sees it."""
        for pid in _netns_pids(self.hosts[host].netns):
            if _innermost_pid(pid) == "1":
                return pid
        raise HarnessError(f"lab host {host} has no running process")

    def salt_cli(self) -> Any:
        return self.master.salt_cli()

    def salt_run_cli(self) -> Any:
        return self.master.salt_run_cli()

    def down(self) -> None:
        """Stop every daemon of the lab and remove its namespaces, bridge and files."""
        for context in reversed(self.started):
            # Teardown goes on whatever a daemon's stop raised: the namespaces die below.
            with contextlib.suppress(Exception):
                context.__exit__(None, None, None)
        self.started.clear()
        if self.moto is not None:
            self.moto.stop()
        self.network.destroy()
        shutil.rmtree(self.workdir / "hosts", ignore_errors=True)


def _innermost_pid(pid: int) -> str | None:
    """The process's pid in its own pid namespace, or None if it ended since it was listed
    (a host's short-lived processes come and go between `ip netns pids` and this read)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    nspid = next(line for line in status.splitlines() if line.startswith("NSpid:"))
    return nspid.split()[-1]


def _netns_pids(netns: str) -> list[int]:
    return [int(pid) for pid in _output(["ip", "netns", "pids", netns]).split()]


def _output(argv: Sequence[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout
