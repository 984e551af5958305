"""DICOM: indexing an export from its headers and loading series into volumes.

``records`` (the typed records), ``headers`` (one file's header) with the private fast scanner
``_fastscan``, ``sequence`` and ``rules`` (naming sequences; the matching config), ``stacks``
(frames into regular stacks), ``index`` and ``index_cache`` (the series table of a folder),
``pixels`` and ``volume`` (a series' voxels and geometry).
"""
