"""The package as a user installs it: a wheel built from the repository, installed into a fresh virtual environment.

The wheel is built without network (``--no-build-isolation``: setuptools comes from the test extra) and installed with
``--no-deps``; the new environment borrows the dependencies from this checkout's ``.venv`` through a ``.pth`` line,
which adds that folder to ``sys.path`` without running its ``.pth`` files, so the editable install of this checkout is
invisible there and every ``pipeline`` module is imported from the wheel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from test_kibana import KibanaStandIn, load_objects

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with regwire installed from a freshly built wheel; returns its ``bin`` folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    # built from a copy of what a source distribution holds, so no build/ left in the checkout can leak into it
    source = tmp / "source"
    shutil.copytree(REPO / "pipeline", source / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    build = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                 "-w", tmp / "dist", source, cwd=tmp)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    (wheel,) = (tmp / "dist").glob("regwire-*.whl")
    venv = tmp / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    install = _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel,
                   cwd=tmp)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-4000:]
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip())
    (site / "regwire-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def test_pip_check_is_clean() -> None:
    result = _run(sys.executable, "-m", "pip", "check", cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_imports_from_the_wheel(wheel_env: Path, tmp_path: Path) -> None:
    code = """
import importlib, json, pkgutil, pipeline
# every module but __main__ (importing it runs the command)
names = [m.name for m in pkgutil.walk_packages(pipeline.__path__, "pipeline.") if not m.name.endswith(".__main__")]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"file": pipeline.__file__, "modules": len(names), "failed": failed}))
"""
    result = _run(wheel_env / "python", "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["file"].startswith(str(wheel_env.parent)), report["file"]  # the wheel's copy, not the checkout
    assert report["modules"] >= 40
    assert report["failed"] == {}


def test_installed_command_prints_its_version(wheel_env: Path, tmp_path: Path) -> None:
    import pipeline

    result = _run(wheel_env / "regwire", "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"regwire {pipeline.__version__}"


def test_installed_package_data_is_complete(wheel_env: Path, tmp_path: Path) -> None:
    """Everything read at run time from the package: taxonomy, topic model, sources, demo site, Kibana objects."""
    code = """
import json
from importlib import resources
root = resources.files("pipeline")
wanted = ["sources/catalog.yaml", "tagging/taxonomy.yaml", "tagging/topic_model.json", "demo/sources.yaml",
          "demo/site/news/kazakhstan-crypto-cash-conversion.html", "demo/site/feeds/rss.xml",
          "web/templates/search.html", "web/templates/article.html", "web/templates/docs.html",
          "web/static/style.css", "web/static/search.js", "web/static/docs.js"]
print(json.dumps({"missing": [w for w in wanted if not root.joinpath(w).is_file()],
                  "kibana": sorted(p.name for p in root.joinpath("kibana").iterdir() if p.name.endswith(".ndjson"))}))
"""
    result = _run(wheel_env / "python", "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["missing"] == []
    assert report["kibana"] == sorted(p.name for p in (REPO / "pipeline" / "kibana").glob("*.ndjson"))


def test_search_page_from_the_wheel(wheel_env: Path, tmp_path: Path) -> None:
    """The installed search app renders its pages and serves its own files and Swagger UI's (templates and static
    files are package data)."""
    code = f"""
import json, pipeline.web
from fastapi.testclient import TestClient
from pipeline.store import EmbeddedBackend
from pipeline.web import create_app
client = TestClient(create_app(lambda: EmbeddedBackend({str(tmp_path / "w.db")!r})))
paths = ["/", "/api/docs", "/static/style.css", "/static/search.js", "/static/swagger-ui-bundle.js"]
print(json.dumps({{"where": pipeline.web.__file__, "status": [client.get(p).status_code for p in paths]}}))
"""
    result = _run(wheel_env / "python", "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert not report["where"].startswith(str(REPO / "pipeline")) and report["status"] == [200] * 5


def test_kibana_import_from_the_wheel(wheel_env: Path, tmp_path: Path) -> None:
    """`regwire kibana import` of an installed wheel, against the loopback stand-in for Kibana (not Kibana)."""
    with KibanaStandIn() as kibana:
        result = _run(wheel_env / "regwire", "kibana", "import", "--url", kibana.url, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert json.loads(result.stdout)["successCount"] == len(load_objects()) > 0
    (request,) = kibana.requests
    (ndjson,) = request["files"].values()
    assert len(ndjson.decode().splitlines()) == len(load_objects())
