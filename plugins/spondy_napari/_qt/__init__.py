"""Every widget of the plugin, and the only modules that import Qt.

The docks own their controllers (napari-animation's split): :mod:`.reading_room_dock` (with
:mod:`.worklist` and :mod:`.help_overlay`) drives a
:class:`~spondy_napari.reading_room.room.ReadingRoom`, :mod:`.grading_panel` (with
:mod:`.field_rows`) a :class:`~spondy_napari.grading.controller.GradingController`, and
:mod:`.analysis_dock` calls the core's analysis pipeline; :mod:`.blinding` holds the rule that
lab values wait until grading has ended.
"""
