"""The `abstream` command: the worker's composition root, the admin client, the demo."""
