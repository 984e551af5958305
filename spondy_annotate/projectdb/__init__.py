"""projectdb."""
