"""What the application's parts share: settings, topics and (later) the Faust app."""
