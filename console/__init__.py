"""The review console: HTML pages over the same objects the JSON API returns, at /ui/."""
