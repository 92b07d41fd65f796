"""What runs on the Faust app: the join, the sink writers, the monitors and the config service."""
