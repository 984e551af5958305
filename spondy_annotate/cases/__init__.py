"""Cases: each patient's baseline and follow-up study (``pairing``), and opening an export
(``open``: index through the header cache, pair the cases, locate the project database)."""
