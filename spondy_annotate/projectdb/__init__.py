"""The project database: where the file of an export lives (:mod:`.location`), its schema
(:mod:`.schema`), shared by the DICOM index cache and the grading store, and the grading
database by URL: an SQLite file or a shared PostgreSQL server (:mod:`.url`, :mod:`.database`,
:mod:`.postgres`)."""
