"""``kubepulse textfile``: an XML store turned into node_exporter textfile metrics."""
