"""Grading: rubrics (:mod:`.rubric`, read by :mod:`.rubric_toml`), case pseudonyms, the grading
store, a reader's grading session (:mod:`.session`) and the de-identified export."""
