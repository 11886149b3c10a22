"""Packaging stays buildable without building it: the spec runs (against stand-ins for PyInstaller)
and collects what the app reads from disk, the desktop, AppStream, installer and bundle files
parse, every icon exists at its size, resources are found from source, frozen and wheel layouts,
and `signoff smoke` decides a ticket in-process. `bash packaging/build` does the real, slow build."""

from __future__ import annotations

import configparser
import importlib.util
import json
import plistlib
import shutil
import struct
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from app import __version__
from app.cli import main as cli
from app.core.demo import demo_store_path
from app.resources import resource_path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "signoff.spec"
DESKTOP = PACKAGING / "linux" / "org.signoff.Signoff.desktop"
METAINFO = PACKAGING / "linux" / "org.signoff.Signoff.metainfo.xml"
ICONS = ROOT / "resources" / "icons"
APP_ID = "org.signoff.Signoff"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


# --- the spec ----------------------------------------------------------------------------------


class _Target:
    """Stand-in for PyInstaller's build targets: keeps what the spec hands over."""

    made: list[_Target]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.name = kwargs.get("name")
        type(self).made.append(self)


# What a real Analysis might collect, to see the spec's trimming keep and drop the right things.
FAKE_BINARIES = [
    ("PySide6/Qt/lib/libQt6Core.so.6", "/src/libQt6Core.so.6", "BINARY"),
    ("PySide6/Qt/lib/libQt6Qml.so.6", "/src/libQt6Qml.so.6", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "/src/libqxcb.so", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqeglfs.so", "/src/libqeglfs.so", "BINARY"),
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/src/libqgtk3.so", "BINARY"),
    ("PySide6/Qt/plugins/imageformats/libqsvg.so", "/src/libqsvg.so", "BINARY"),
    ("PySide6/Qt/plugins/imageformats/libqpdf.so", "/src/libqpdf.so", "BINARY"),
    ("libcairo.so.2", "/src/libcairo.so.2", "BINARY"),  # only the GTK theme links it
    ("libglib-2.0.so.0", "/src/libglib-2.0.so.0", "BINARY"),  # the GTK theme and libqxcb link it
]
FAKE_DATAS = [
    ("PySide6/Qt/translations/qtbase_de.qm", "/src/qtbase_de.qm", "DATA"),
    ("libQt6Qml.so.6", "PySide6/Qt/lib/libQt6Qml.so.6", "SYMLINK"),
    ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
]
FAKE_LINKS = {
    "/src/libqgtk3.so": ["libcairo.so.2", "libglib-2.0.so.0", "libQt6Core.so.6"],
    "/src/libqxcb.so": ["libglib-2.0.so.0", "libQt6Core.so.6"],
}


@pytest.fixture
def spec_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run signoff.spec as PyInstaller would, with its build classes and hook helpers stood in."""
    made: list[_Target] = []
    names = ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")
    classes = {name: type(name, (_Target,), {"made": made}) for name in names}

    def analysis_init(self: _Target, *args: Any, **kwargs: Any) -> None:
        _Target.__init__(self, *args, **kwargs)
        self.binaries = list(FAKE_BINARIES)
        # Analysis turns the (source, folder) pairs into (destination, source, kind) entries.
        given = [(f"{folder}/{Path(src).name}", src, "DATA") for src, folder in kwargs["datas"]]
        self.datas = given + list(FAKE_DATAS)
        self.pure, self.scripts = [], []

    classes["Analysis"].__init__ = analysis_init
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [f"{package}.stub"]
    hooks.copy_metadata = lambda dist: [(f"/site/{dist}.dist-info", f"{dist}.dist-info")]
    bindepend = types.ModuleType("PyInstaller.depend.bindepend")
    bindepend.get_imports = lambda path, search_paths=None: [(n, None) for n in FAKE_LINKS.get(path, [])]
    for name in ("PyInstaller", "PyInstaller.utils", "PyInstaller.depend"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setitem(sys.modules, "PyInstaller.depend.bindepend", bindepend)
    monkeypatch.setattr(sys, "platform", "linux")
    namespace: dict[str, Any] = {"SPECPATH": str(PACKAGING), "__name__": "__main__", **classes}
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    namespace["made"] = {name: [t for t in made if type(t).__name__ == name] for name in names}
    return namespace


def test_the_spec_compiles() -> None:
    compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")


def test_the_spec_collects_what_the_app_reads_from_disk(spec_run: dict[str, Any]) -> None:
    assert spec_run["VERSION"] == __version__
    (analysis,) = spec_run["made"]["Analysis"]
    datas = {
        (Path(src).relative_to(ROOT).as_posix(), dest)
        for src, dest in analysis.kwargs["datas"]
        if ROOT in Path(src).parents
    }
    migrations = ROOT / "app" / "core" / "migrations"
    needed = [
        *migrations.glob("*/env.py"),
        *migrations.glob("*/script.py.mako"),
        *migrations.glob("*/versions/*.py"),
    ]
    needed += [*(ROOT / "app" / "core" / "spec").glob("*.json*"), ICONS / "signoff.svg"]
    assert len(needed) > 6
    for path in needed:
        relative = path.relative_to(ROOT)
        assert (relative.as_posix(), relative.parent.as_posix()) in datas, relative
    assert "keyring.dist-info" in {dest for _src, dest in analysis.kwargs["datas"]}, "entry points"
    hidden = set(analysis.kwargs["hiddenimports"])
    # What the migration scripts import (Alembic loads them by path, PyInstaller never sees them).
    assert {"alembic.op", "alembic.context", "sqlalchemy"} <= hidden
    assert {
        "keyring.backends.stub",
        "psycopg_binary.pq",
        "psycopg_binary._psycopg",
        "PySide6.QtSvg",
    } <= hidden
    assert {"PySide6.QtWebEngineCore", "PySide6.QtQuick", "PySide6.Qt3DCore", "PySide6.QtPdf"} <= set(
        analysis.kwargs["excludes"]
    )
    assert analysis.args[0] == [str(PACKAGING / "launcher.py")]


def test_the_spec_trims_unused_qt_parts_on_linux(spec_run: dict[str, Any]) -> None:
    (analysis,) = spec_run["made"]["Analysis"]
    kept = {dest for dest, _src, _kind in analysis.binaries + analysis.datas}
    assert {
        "PySide6/Qt/lib/libQt6Core.so.6",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "libglib-2.0.so.0",  # still linked by a kept plugin
        "libQt6Core.so.6",  # the symlink to a kept library
    } <= kept
    for gone in (
        "PySide6/Qt/lib/libQt6Qml.so.6",
        "libQt6Qml.so.6",  # its symlink must not dangle
        "PySide6/Qt/plugins/platforms/libqeglfs.so",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/Qt/plugins/imageformats/libqpdf.so",
        "PySide6/Qt/translations/qtbase_de.qm",
        "libcairo.so.2",  # only the dropped GTK theme needed it
    ):
        assert gone not in kept, gone


def test_the_spec_builds_one_onedir_program_on_linux(spec_run: dict[str, Any]) -> None:
    made = spec_run["made"]
    assert [exe.name for exe in made["EXE"]] == ["signoff"]
    assert all(exe.kwargs["exclude_binaries"] for exe in made["EXE"])  # onedir
    (collect,) = made["COLLECT"]
    assert collect.name == "signoff"
    assert made["BUNDLE"] == []


def test_the_spec_makes_a_macos_bundle_and_windows_version_info() -> None:
    text = SPEC.read_text(encoding="utf-8")
    for needle in (
        "bundle_identifier=APP_ID",
        '"NSHighResolutionCapable": True',
        '"LSMinimumSystemVersion"',
        '"CFBundleShortVersionString": VERSION',
        "windows_version_info() if IS_WIN",
        '"signoff.ico" if IS_WIN',
        'exe("Signoff", console=False)',
        'exe("signoff-cli", console=True)',
    ):
        assert needle in text, needle
    entitlements = plistlib.loads((PACKAGING / "macos" / "entitlements.plist").read_bytes())
    assert entitlements["com.apple.security.cs.allow-unsigned-executable-memory"] is True


def test_the_windows_installer_installs_the_bundle_the_spec_makes() -> None:
    iss = (PACKAGING / "windows" / "signoff.iss").read_text(encoding="utf-8")
    assert '#define AppExe "Signoff.exe"' in iss
    assert '#define Bundle "..\\dist\\signoff"' in iss
    assert "SetupIconFile=..\\..\\resources\\icons\\signoff.ico" in iss
    assert "[Icons]" in iss and "{autoprograms}" in iss
    assert "AppId={{" in iss  # a fixed id: upgrades replace, the uninstaller is registered


def test_build_script_is_executable_and_ci_runs_it_only_on_request() -> None:
    build = PACKAGING / "build"
    assert build.stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(build)], check=False).returncode == 0
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().endswith('if [ "${SIGNOFF_PACKAGING:-}" = 1 ]; then bash packaging/build; fi')
    assert "packaging/.venv-build/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


# --- Linux desktop metadata --------------------------------------------------------------------


def test_desktop_file_has_the_required_keys() -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(DESKTOP.read_text(encoding="utf-8"))
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Signoff"
    assert entry["Exec"].split()[0] == "signoff"
    assert entry["Icon"] == APP_ID
    assert "Office" in entry["Categories"].split(";")
    assert entry["Categories"].endswith(";")
    assert entry["Terminal"] == "false"
    assert entry.get("Comment")


def test_metainfo_parses_and_matches_the_desktop_file() -> None:
    component = ET.parse(METAINFO).getroot()
    assert component.tag == "component" and component.get("type") == "desktop-application"
    assert component.findtext("id") == APP_ID
    assert component.findtext("name") == "Signoff"
    assert component.findtext("summary")
    assert component.find("description/p") is not None
    assert component.findtext("metadata_license") == "CC0-1.0"
    launchable = component.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id"
    assert launchable.text == DESKTOP.name
    assert [c.text for c in component.findall("categories/category")] == ["Office"]
    assert component.find("content_rating").get("type") == "oars-1.1"
    assert [r.get("version") for r in component.findall("releases/release")] == [__version__]
    image = component.findtext("screenshots/screenshot/image")
    assert image.startswith("https://") and image.endswith("/docs/screenshots/main-window.png")
    assert (ROOT / "docs" / "screenshots" / "main-window.png").is_file()


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates() -> None:
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


# --- icons -------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_every_icon_size_exists() -> None:
    ET.parse(ICONS / "signoff.svg")
    for size in SIZES:
        path = ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert png_size(path.read_bytes()) == (size, size), path


def test_ico_and_icns_hold_the_png_sizes() -> None:
    ico = (ICONS / "signoff.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1) and count == 7
    sizes = []
    for index in range(count):
        width, _h, _c, _r, _p, _bpp, length, offset = struct.unpack(
            "<BBBBHHII", ico[6 + 16 * index : 22 + 16 * index]
        )
        assert png_size(ico[offset : offset + length])[0] == (width or 256)
        sizes.append(width or 256)
    assert sizes == [16, 24, 32, 48, 64, 128, 256]
    icns = (ICONS / "signoff.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    kinds, offset = {}, 8
    while offset < len(icns):
        kind, length = icns[offset : offset + 4], struct.unpack(">I", icns[offset + 4 : offset + 8])[0]
        kinds[kind] = png_size(icns[offset + 8 : offset + length])[0]
        offset += length
    assert kinds[b"ic10"] == 1024 and kinds[b"icp4"] == 16 and len(kinds) == 11


def _load_make_icons() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("make_icons", PACKAGING / "make_icons.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.gui
def test_committed_icons_match_the_svg(qapp, tmp_path: Path) -> None:
    """Rendering the SVG again gives (nearly) the committed PNGs: run make_icons.py after an edit."""
    from PySide6.QtGui import QImage

    assert _load_make_icons().main(tmp_path) == 0
    for size in (16, 32, 256):
        fresh = QImage(str(tmp_path / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"))
        committed = QImage(str(ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"))
        assert (fresh.width(), fresh.height()) == (committed.width(), committed.height()) == (size, size)
        different = sum(
            1
            for y in range(size)
            for x in range(size)
            if max(
                abs(a - b)
                for a, b in zip(
                    fresh.pixelColor(x, y).getRgb(), committed.pixelColor(x, y).getRgb(), strict=True
                )
            )
            > 16
        )
        assert different <= size * size // 50, (
            f"{size} px: {different} pixels differ; run packaging/make_icons.py"
        )


# --- finding resources -------------------------------------------------------------------------


def test_resource_path_finds_the_icon_from_source() -> None:
    assert resource_path("icons", "signoff.svg") == ICONS / "signoff.svg"
    assert resource_path("icons", "no-such-icon.svg") is None


def test_resource_path_prefers_the_frozen_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    icon = tmp_path / "resources" / "icons" / "signoff.svg"
    icon.parent.mkdir(parents=True)
    icon.write_text("<svg/>", encoding="utf-8")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("icons", "signoff.svg") == icon


def test_resource_path_finds_an_installed_wheels_share_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    icon = tmp_path / "share" / "signoff" / "icons" / "wheel-only.svg"
    icon.parent.mkdir(parents=True)
    icon.write_text("<svg/>", encoding="utf-8")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert resource_path("icons", "wheel-only.svg") == icon


def test_the_wheel_installs_the_icon_where_resource_path_looks() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data_files = config["tool"]["setuptools"]["data-files"]
    assert "resources/icons/signoff.svg" in data_files["share/signoff/icons"]


# --- the self-test ----------------------------------------------------------------------------


@pytest.mark.gui
def test_smoke_decides_one_ticket_in_process(qapp, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.ui.smoke import run_smoke

    assert run_smoke(home=str(home)) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("smoke: ok — approved "), line
    assert "icon ok" in line and "from source" in line and "keyring backends: " in line
    # The decision is real: it syncs to the demo store and exports as a signoff.decision/1 approval.
    assert cli(["sync", "--home", str(home)]) == 0
    store = f"sqlite:///{demo_store_path(home)}"
    capsys.readouterr()
    assert cli(["export", "decisions", "--store", store]) == 0
    records = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert [(r["schema"], r["action"]) for r in records] == [("signoff.decision/1", "approve")]


@pytest.mark.gui
def test_smoke_fails_clearly_when_nothing_happens_in_time(
    qapp, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.ui import smoke

    monkeypatch.setattr(smoke, "DEADLINE_MS", 1)
    assert smoke.run_smoke(home=str(home)) == 1
    assert capsys.readouterr().out.startswith("smoke: FAILED — no ticket opened within 0.001 s")


def test_smoke_is_a_documented_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli(["--help"])
    assert "smoke" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli(["smoke", "--help"])
    assert "packaging self-test" in capsys.readouterr().out
