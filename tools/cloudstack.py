"""The cloud-parity stack behind ``make run-cloud``: each function as Cloud Run runs it, with the
environment Terraform deploys, on the Firestore emulator and local fakes of Google's APIs.

Every function runs in its own process (functions-framework, started as the image's ``CMD``
starts it) on its own port, recommend in two instances, behind a stand-in for the load balancer
that routes by the URL map's path table (``testkit.fake_load_balancer``). Each process gets:

- ``TERRAFORM``: what services.tf gives the service, rendered from the one source
  (``recoengine.environment``, the same ``environment.yml`` Terraform reads) with ``VARIABLES``,
  plus ``SERVER_THREADS`` from capacity.yml and a random value for every secret name;
- ``IMAGE``: what the Dockerfile sets (``FUNCTION_*``, ``MODEL_URI`` of the baked demo model);
- ``LOCAL_OVERRIDES``, the only differences from the cloud, each with its reason: endpoints of
  the emulator and the fakes, credentials, the instance's disk and ports, what Cloud Run itself
  sets. ``tests/cloudparity`` reads each process's real environment and fails on anything else.

The fakes (``testkit``): Vertex AI's ``generateContent`` (the real ``google-genai`` client via
``LLM_BASE_URL``), the Cloud Run Admin API (REST, ``CANARY_RUN_ENDPOINT``), Cloud Monitoring
(gRPC over TLS, ``CANARY_MONITORING_ENDPOINT``) and Google sign-in (a service-account key whose
token endpoint is local; Firebase certs; ID tokens), which also plays Cloud Run's IAM check in
front of the canary: an ID token for the stack's URL is required (who may invoke is Terraform's
IAM bindings, checked by tests/infra). Not run here: the CloudEvent service canary-incident.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from recoengine.capacity import SERVER_THREADS, capacity
from recoengine.environment import FUNCTIONS, deployed
from testkit.fake_cloud_monitoring import FakeMonitoring
from testkit.fake_cloud_run import FakeRunAdmin
from testkit.fake_google_auth import FakeGoogleAuth, loopback_tls
from testkit.fake_load_balancer import LoadBalancer
from testkit.fake_vertex import FakeVertex, reading_model
from testkit.firestore_emulator import PROJECT, FirestoreEmulator, runnable_jar
from tools.localstack import bind_error, checkout_path, free_port, stop

ROOT = Path(__file__).resolve().parent.parent

# The Terraform variables the stack deploys with: variables.tf's defaults (a test holds them
# equal), in the emulator's project.
VARIABLES: dict[str, str] = {
    "project_id": PROJECT,
    "region": "europe-west1",
    "firestore_database": "(default)",
    "end_user_auth": "firebase",
    "model_uri": "",
    "gemini_model": "gemini-3.5-flash",
    "gemini_location": "global",
}

# Every way a process here differs from the cloud: the name, and why.
LOCAL_OVERRIDES: dict[str, str] = {
    "FIRESTORE_EMULATOR_HOST": "the Firestore emulator instead of Firestore",
    "LLM_BASE_URL": "the fake of Vertex AI instead of aiplatform.googleapis.com",
    "CANARY_RUN_ENDPOINT": "the fake Cloud Run Admin API instead of run.googleapis.com",
    "CANARY_MONITORING_ENDPOINT": "the fake Cloud Monitoring instead of monitoring.googleapis.com",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": "trust the fake Cloud Monitoring's TLS certificate",
    "AUTH_CERTS_URL": "the fake's Firebase certs instead of Google's securetoken certs",
    "GOOGLE_APPLICATION_CREDENTIALS": "a generated key (Cloud Run: the metadata server)",
    "VAR_DIR": "each instance's own disk (Cloud Run: each instance's in-memory /tmp)",
    "MODEL_URI": "the demo model on this disk (the image: /app/demo-model, baked at build)",
    "PORT": "each instance's own port (Cloud Run: 8080 in each container)",
    "K_SERVICE": "set by Cloud Run: the service",
    "K_REVISION": "set by Cloud Run: the revision",
    "K_CONFIGURATION": "set by Cloud Run: the configuration",
}
# What the process needs to exist at all (the image's base layer has these too).
BASE_ENV = ("PATH", "HOME", "LANG", "PYTHONPATH", "TMPDIR")


def revision(function: str) -> str:
    """The serving revision of ``function`` (Cloud Run's naming); every instance shares it."""
    return f"{function}-00001-stk"


def candidate(function: str) -> str:
    """A no-traffic revision the fake Admin API knows, for a canary to roll out."""
    return f"{function}-00002-new"


def terraform_env(function: str, variables: Mapping[str, str] = VARIABLES) -> dict[str, str]:
    """The plain environment services.tf gives ``function``'s service: the one source rendered
    with ``variables``, and SERVER_THREADS (server_env, from capacity.yml)."""
    env = dict(deployed(variables)[function].env)
    env[SERVER_THREADS] = str(capacity(function).threads)
    return env


def image_env(function: str) -> dict[str, str]:
    """What the Dockerfile sets in ``function``'s image (its ENV)."""
    return {
        "FUNCTION": function,
        "FUNCTION_TARGET": function,
        "FUNCTION_SOURCE": str(ROOT / "functions" / function / "main.py"),
        "FUNCTION_SIGNATURE_TYPE": "http",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "WORKERS": "1",
    }


@dataclass
class Instance:
    """One running instance of a function."""

    function: str
    port: int
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Fakes:
    auth: FakeGoogleAuth
    vertex: FakeVertex
    run_admin: FakeRunAdmin
    monitoring: FakeMonitoring


@dataclass
class CloudStack:
    url: str
    fakes: Fakes
    emulator_host: str
    variables: dict[str, str]
    secrets: dict[str, dict[str, str]]
    instances: list[Instance] = field(default_factory=list)

    def of(self, function: str) -> list[Instance]:
        return [i for i in self.instances if i.function == function]


def _instance_env(
    function: str,
    stack_overrides: Mapping[str, str],
    variables: Mapping[str, str],
    secret_values: Mapping[str, str],
    work: Path,
    port: int,
) -> dict[str, str]:
    """One instance's environment: the process basics, the image's, Terraform's and the
    secrets, then what Cloud Run sets and the stack's overrides, every one of them declared in
    ``LOCAL_OVERRIDES`` (an undeclared one is a programming error here, not a silent drift)."""
    var_dir = work / f"{function}-{port}"
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {k: os.environ[k] for k in BASE_ENV if k in os.environ}
    env["PYTHONPATH"] = checkout_path()
    env.update(image_env(function))
    env.update(terraform_env(function, variables))
    env.update(secret_values)
    cloud_run = {
        "PORT": str(port),
        "K_SERVICE": function,
        "K_REVISION": revision(function),
        "K_CONFIGURATION": function,
        "VAR_DIR": str(var_dir),
    }
    env.update(cloud_run)
    env.update(stack_overrides)
    unknown = (set(cloud_run) | set(stack_overrides)) - set(LOCAL_OVERRIDES)
    if unknown:
        raise ValueError(f"not a declared local override: {', '.join(sorted(unknown))}")
    if env.get("AUTH_MODE") != "firebase":
        env.pop("AUTH_CERTS_URL", None)
    return env


def _start(function: str, env: dict[str, str], log: IO[bytes] | None) -> subprocess.Popen[bytes]:
    """functions-framework as the image's CMD runs it (its ASGI server)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--asgi",
            f"--target={env['FUNCTION_TARGET']}",
            f"--source={env['FUNCTION_SOURCE']}",
            f"--signature-type={env['FUNCTION_SIGNATURE_TYPE']}",
            "--host=127.0.0.1",
            f"--port={env['PORT']}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )


def _wait_ready(instance: Instance, deadline: float) -> None:
    """Cloud Run's startup probe: ``GET /health`` answers 200 before traffic comes."""
    while True:
        if instance.proc.poll() is not None:
            tail = instance.log.read_text(errors="replace")[-2000:] if instance.log.exists() else ""
            raise RuntimeError(
                f"{instance.function} exited with {instance.proc.returncode}:\n{tail}"
            )
        try:
            with urllib.request.urlopen(f"{instance.url}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{instance.function} on {instance.port} did not become healthy")
        time.sleep(0.1)


@contextmanager
def running(
    model_uri: str,
    *,
    emulator_host: str | None = None,
    variables: Mapping[str, str] | None = None,
    instances: Mapping[str, int] | None = None,
    port: int = 0,
    console: bool = False,
    workdir: Path | None = None,
    timeout: float = 180.0,
) -> Iterator[CloudStack]:
    """The stack, stopped on exit. ``emulator_host``: a running Firestore emulator (else one is
    started); ``instances``: how many of each function (recommend 2, others 1); ``console``:
    the functions' logs go to this terminal instead of files in ``workdir`` (the key file,
    the certificate and each instance's disk go there too; a temporary one by default)."""
    chosen = {**VARIABLES, **(variables or {})}
    counts = {"recommend": 2, "chat": 1, "canary": 1, **(instances or {})}
    with ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cloudstack-")))
        work = workdir
        if emulator_host is None:
            jar = runnable_jar()
            if jar is None:
                raise RuntimeError("the cloud-parity stack needs the Firestore emulator")
            emulator = FirestoreEmulator(jar)
            emulator.start()
            cleanup.callback(emulator.stop)
            emulator_host = emulator.host
        auth = cleanup.enter_context(FakeGoogleAuth(chosen["project_id"]))
        vertex = cleanup.enter_context(FakeVertex())
        vertex.responder = reading_model
        run_admin = FakeRunAdmin().start()
        cleanup.callback(run_admin.stop)
        for name in ("recommend", "chat"):
            run_admin.add_service(
                chosen["project_id"], chosen["region"], name, revision(name), candidate(name)
            )
        key, cert = loopback_tls()
        roots = work / "monitoring-root.pem"
        roots.write_bytes(cert)
        monitoring = FakeMonitoring(tls=(key, cert)).start()
        cleanup.callback(monitoring.stop)
        credentials = auth.write_credentials(work / "service-account.json")
        overrides = {
            "FIRESTORE_EMULATOR_HOST": emulator_host,
            "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
            "MODEL_URI": model_uri,
        }
        per_function = {
            "recommend": {"AUTH_CERTS_URL": auth.certs_url},
            "chat": {"AUTH_CERTS_URL": auth.certs_url, "LLM_BASE_URL": vertex.url},
            "canary": {
                "CANARY_RUN_ENDPOINT": run_admin.endpoint,
                "CANARY_MONITORING_ENDPOINT": f"127.0.0.1:{monitoring.port}",
                "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(roots),
            },
        }
        secret_values = {
            fn: {name: secrets.token_urlsafe(48) for name in spec.secrets}
            for fn, spec in deployed(chosen).items()
        }
        stack = CloudStack(
            "", Fakes(auth, vertex, run_admin, monitoring), emulator_host, chosen, secret_values
        )
        for function in FUNCTIONS:
            for _ in range(counts[function]):
                fn_port = free_port()
                env = _instance_env(
                    function,
                    {**overrides, **per_function[function]},
                    chosen,
                    secret_values[function],
                    work,
                    fn_port,
                )
                log_path = work / f"{function}-{fn_port}.log"
                log = None if console else cleanup.enter_context(log_path.open("wb"))
                proc = _start(function, env, log)
                cleanup.callback(stop, proc)
                stack.instances.append(Instance(function, fn_port, proc, env, log_path))
        deadline = time.monotonic() + timeout
        for instance in stack.instances:
            _wait_ready(instance, deadline)
        # The canary is never public (ingress with IAM-only invokers, iam.tf): Cloud Run admits
        # only callers with an ID token for its URL, the function then reads who they are.
        balancer = LoadBalancer(
            {fn: [f"127.0.0.1:{i.port}" for i in stack.of(fn)] for fn in FUNCTIONS},
            port,
            guards={"canary": lambda headers: auth.check_invoker(headers, stack.url)},
        ).start()
        cleanup.callback(balancer.stop)
        stack.url = balancer.url
        yield stack


def _demo_model(var: Path) -> str:
    """The demo model the image bakes, trained once into var/ (as make run does)."""
    from recoengine import cli

    path = var / "cloudstack" / "demo-model"
    if not (path / "manifest.json").exists():
        cli.main(["demo-model", "--out", str(path)])
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args(argv)
    if bind_error("127.0.0.1", args.port) is not None:
        print(f"error: port {args.port} is in use; try PORT={free_port()} make run-cloud")
        return 2
    if runnable_jar() is None:
        print("error: the Firestore emulator is needed (google-cloud-cli-firestore-emulator, Java)")
        return 2
    var = ROOT / "var"
    model = _demo_model(var)
    # SIGTERM ends the stack like Ctrl-C: the with block stops every process and fake.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with running(model, port=args.port, console=True) as stack:
        print(f"cloud-parity stack listening on {stack.url}", flush=True)
        for instance in stack.instances:
            print(
                f"  {instance.function:<9} {instance.url}  revision {revision(instance.function)}"
            )
        print(f"  Firestore emulator {stack.emulator_host}")
        tokens = {  # valid for an hour
            "alice.token": stack.fakes.auth.firebase_token("alice"),
            "operator.token": stack.fakes.auth.google_id_token("oncall@example.com", stack.url),
        }
        for name, token in tokens.items():
            (var / "cloudstack" / name).write_text(token, encoding="utf-8")
        print(
            "Sign-in is on, as in the cloud: alice's Firebase ID token is in "
            "var/cloudstack/alice.token, an operator's Google ID token for the canary API in "
            "var/cloudstack/operator.token, e.g.\n"
            f"  curl -s {stack.url}/api/v2/recommendations -H 'Content-Type: application/json' "
            '-H "Authorization: Bearer $(cat var/cloudstack/alice.token)" '
            """-d '{"user_id": "alice"}'""",
            flush=True,
        )
        try:
            while True:  # short sleeps: Ctrl-C is handled between them
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
