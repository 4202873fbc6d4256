"""/calls, /call, /record, and the one place that places a call."""
