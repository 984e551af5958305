"""Count the modules, import arrows, import cycles and core -> plugin imports of a source tree.

Usage: ``python scripts/import_graph.py`` in the environment of the checkout to count (grimp
comes with import-linter, in the ``test`` extra). A cycle is counted as a pair of modules that
import each other, directly or through others.
"""

from __future__ import annotations

import grimp


def main() -> None:
    graph = grimp.build_graph("spondy_annotate", "spondy_napari", cache_dir=None)
    for package in ("spondy_annotate", "spondy_napari"):
        modules = sorted(m for m in graph.modules if m.split(".")[0] == package)
        arrows = [(a, b) for a in modules for b in graph.find_modules_directly_imported_by(a)]
        inside = [(a, b) for a, b in arrows if b.split(".")[0] == package]
        cycles = {
            frozenset(pair)
            for pair in inside
            if graph.chain_exists(importer=pair[1], imported=pair[0])
        }
        upward = [
            (a, b)
            for a, b in arrows
            if package == "spondy_annotate" and b.startswith("spondy_napari")
        ]
        print(
            f"{package}: {len(modules)} modules, {len(inside)} import arrows, "
            f"{len(cycles)} pairs in import cycles, {len(upward)} imports of the plugin"
        )
        for pair in sorted(map(sorted, cycles)):
            print("  cycle:", " <-> ".join(pair))
        for a, b in upward:
            print("  core imports the plugin:", a, "->", b)


if __name__ == "__main__":
    main()
