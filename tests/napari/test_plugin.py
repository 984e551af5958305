"""The plugin as napari and the command line find it: manifest, discovery, sample data, `open`."""

from __future__ import annotations

from pathlib import Path

MANIFEST = Path(__file__).parents[2] / "plugins" / "spondy_napari" / "napari.yaml"


def test_manifest_validates():
    """Every contribution names a command, and every command's callable imports."""
    import npe2

    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "spondy-annotate"
    contributions = manifest.contributions
    reader = contributions.readers[0]
    assert reader.accepts_directories
    commands = {c.id: c for c in contributions.commands}
    used = {c.command for c in (*contributions.readers, *contributions.widgets)}
    used |= {s.command for s in contributions.sample_data}
    assert used == set(commands)
    for command in commands.values():
        module, _, attr = command.python_name.partition(":")
        assert callable(getattr(__import__(module, fromlist=[attr]), attr))
    widgets = {w.display_name for w in contributions.widgets}
    assert widgets == {"Reading room", "Grading", "Analysis"}


def test_plugin_is_discovered():
    import npe2

    pm = npe2.PluginManager.instance()
    pm.discover()
    assert "spondy-annotate" in pm._manifests


def test_sample_data(tmp_path, monkeypatch):
    import tempfile

    from spondy_napari._sample_data import make_sample_data

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    layers = make_sample_data()
    names = [kw["name"] for _, kw, _ in layers]
    assert names[0].startswith("Baseline ") and names[1].startswith("Follow-up ")
    assert all(kind == "image" for *_, kind in layers)
    assert make_sample_data()  # generated once, then reused
    assert len([p for p in tmp_path.glob("spondy-annotate-sample-*") if p.is_dir()]) == 1


def test_open_subcommand_is_the_plugins(tmp_path, capsys):
    """``spondy-annotate open`` comes from the plugin's entry point; the core never imports it."""
    from importlib.metadata import entry_points

    from spondy_annotate import cli

    (entry,) = [e for e in entry_points(group=cli.ENTRY_POINT_GROUP) if e.name == "open"]
    assert entry.value == "spondy_napari._cli:add_open_command"
    missing = tmp_path / "missing"
    assert cli.main(["open", str(missing)]) == 1
    assert capsys.readouterr().err == f"spondy-annotate: error: {missing}: no such folder\n"
