"""The project database: where the file of an export lives (:mod:`.location`) and its schema
(:mod:`.schema`), shared by the DICOM index cache and the grading store."""
