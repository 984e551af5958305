"""The reading room without Qt: baseline and follow-up side by side in a napari viewer.

:mod:`.room` is the controller (:class:`~.room.ReadingRoom`); :mod:`.offsets`, :mod:`.loading`,
:mod:`.window_level`, :mod:`.slice_grid` are its parts; :mod:`.keys` and :mod:`.readout` depend
on the room and are attached by its dock (:mod:`spondy_napari._qt.reading_room_dock`).
"""
