"""How a volume is put on screen, without Qt: display frame, layer data, the volume cache.

Shared by the napari reader (:mod:`spondy_napari._reader`) and the reading room
(:mod:`spondy_napari.reading_room`).
"""
