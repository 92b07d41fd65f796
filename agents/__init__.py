"""Everything that runs against the broker: the demo now, the Faust agents and views later."""
