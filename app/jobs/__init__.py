"""Jobs: the pipeline run (`runner`), schedules (`scheduler`) and event triggers (`receiver`)."""
